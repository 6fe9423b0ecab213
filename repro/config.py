"""Experiment definitions: TOML files in repro/experiments/ validated into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from importlib import resources

from grokcore.models import check_task

SCALES = ("full", "quick", "tiny")
FISHER_VARIANTS = ("regression", "classif_logits")


@dataclass(frozen=True)
class DataSpec:
    """Where the training data of a run comes from and how it is split (spec §2)."""

    # Ising Monte Carlo (spec §2.3); GUESS values of the paper are marked in the TOML files.
    temperatures: tuple[float, float, int] = (1.0, 3.5, 50)  # linspace(start, stop, num)
    n_per_temperature: int = 1000
    n_updates: int = 100_000
    mc_seed: int = 0
    n_train: int = 300
    n_test: int = 1000
    stratified: bool = False
    # Modular addition (spec §2.5-2.6).
    split_sizes: str = "paper"  # "paper" 8938/3831 or "torch" 8939/3830


@dataclass(frozen=True)
class FisherSpec:
    """Which Fisher diagonal is computed at every checkpoint, on which samples (spec §2.7, §4.7)."""

    enabled: bool = True
    variant: str = "regression"
    split: str = "test"
    n_samples: int | None = None  # None: the whole split


@dataclass(frozen=True)
class Experiment:
    """One paper experiment at one scale: an α × seed grid with its training, checkpoint and Fisher settings."""

    name: str
    scale: str
    task: str
    description: str
    figures: tuple[str, ...]
    weight_multipliers: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int | None
    shuffle: bool
    eval_every: int
    checkpoint_segments: tuple[tuple[int, int, int], ...]  # (start, stop, step) ranges of epochs
    group_size: int  # α values trained together as one ensemble by one task
    seed_group_size: int  # seeds trained together by one task: its ensemble spans their α groups
    device: str
    data: DataSpec
    fisher: FisherSpec

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        """Sorted epochs at which θ (and the Fisher diagonal) are stored: always 0 and the final epoch."""
        epochs = {0, self.epochs}
        for start, stop, step in self.checkpoint_segments:
            epochs.update(range(start, min(stop, self.epochs), step))
        return tuple(sorted(epochs))

    def alpha_groups(self) -> list[tuple[int, ...]]:
        """Indices into weight_multipliers of the α values trained together by one task."""
        return _groups(len(self.weight_multipliers), self.group_size)

    def seed_groups(self) -> list[tuple[int, ...]]:
        """Indices into seeds of the seeds whose α groups one task trains as one ensemble."""
        return _groups(len(self.seeds), self.seed_group_size)

    def to_dict(self) -> dict:
        """Plain-JSON form of the whole config (stored in the results' attributes)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, config: dict) -> Experiment:
        """Inverse of `to_dict` (a store's `config` attribute omits how the grid was laid out on machines: it
        gives device 'cpu' and one seed per task)."""
        fields = {**config, "device": config.get("device", "cpu"), "seed_group_size": config.get("seed_group_size", 1)}
        fields.update(
            data=DataSpec(**_tuples(config["data"])),
            fisher=FisherSpec(**config["fisher"]),
            figures=tuple(config["figures"]),
            weight_multipliers=tuple(config["weight_multipliers"]),
            seeds=tuple(config["seeds"]),
            checkpoint_segments=tuple(tuple(seg) for seg in config["checkpoint_segments"]),
        )
        return cls(**fields)


def experiment_names() -> list[str]:
    """Names of the experiments defined in repro/experiments/."""
    files = resources.files("repro").joinpath("experiments").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def load_experiment(name: str, scale: str = "quick") -> Experiment:
    """Read repro/experiments/<name>.toml, apply the table [scale.<scale>] on top, and validate."""
    if name not in experiment_names():
        raise ValueError(f"unknown experiment {name!r}: expected one of {', '.join(experiment_names())}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
    return experiment_from_dict(packaged_tables(name, scale), name=name, scale=scale)


def packaged_tables(name: str, scale: str) -> dict:
    """The merged TOML tables of a packaged experiment at one scale (before validation)."""
    raw = tomllib.loads(resources.files("repro").joinpath("experiments", f"{name}.toml").read_text())
    return merge_scale(raw, scale, source=name)


def merge_scale(raw: dict, scale: str | None, source: str) -> dict:
    """`raw` with its table [scale.<scale>] applied on top and the [scale] tables removed (scale None: the
    top-level tables as they are)."""
    raw = dict(raw)
    scales = raw.pop("scale", {})
    if not isinstance(scales, dict) or not all(isinstance(t, dict) for t in scales.values()):
        raise ValueError(f"{source}: [scale] must hold tables such as [scale.quick]")
    if scale is None:
        return raw
    if scale not in scales:
        raise ValueError(f"{source} has no [scale.{scale}] table"
                         + (f" (it has {', '.join(scales)})" if scales else " (it defines no scales: drop --scale)"))
    return _merge(raw, scales[scale])


def experiment_from_dict(raw: dict, name: str, scale: str) -> Experiment:
    """Build and validate an Experiment from the merged TOML tables; a bad key or value raises ValueError
    naming it (e.g. `train.epochs must be an integer, got 'ten'`)."""
    try:
        exp = _build(raw, name, scale)
    except ValueError as err:
        raise ValueError(f"experiment {name!r} ({scale}): {err}") from None
    validate(exp)
    return exp


# Schema of the top level and the [train] table: key -> (type, required). Types: int, float, bool, str,
# "floats" / "ints" / "strs" (lists), "segments" (list of [start, stop, step]), "int?" (int or None).
_TOP = {"task": ("str", True), "description": ("str", False), "figures": ("strs", False),
        "weight_multipliers": ("floats", True), "seeds": ("ints", True), "checkpoints": ("segments", False),
        "group_size": ("int", False), "seed_group_size": ("int", False), "device": ("str", False)}
_TRAIN = {"epochs": ("int", True), "lr": ("float", True), "weight_decay": ("float", True),
          "batch_size": ("int?", False), "shuffle": ("bool", False), "eval_every": ("int", False)}


def _build(raw: dict, name: str, scale: str) -> Experiment:
    tables = {"train": _TRAIN, "data": _spec_schema(DataSpec), "fisher": _spec_schema(FisherSpec)}
    top = _read_table({k: v for k, v in raw.items() if k not in tables}, _TOP, "")
    for key, value in raw.items():
        if key in tables and not isinstance(value, dict):
            raise ValueError(f"{key} must be a table [{key}], got {value!r}")
    train, data, fisher = (_read_table(raw.get(key, {}), schema, f"{key}.") for key, schema in tables.items())
    if "train" not in raw:
        raise ValueError("missing table [train]")
    return Experiment(
        name=name, scale=scale, task=top["task"], description=top.get("description", ""),
        figures=top.get("figures", ()), weight_multipliers=top["weight_multipliers"], seeds=top["seeds"],
        epochs=train["epochs"], lr=train["lr"], weight_decay=train["weight_decay"],
        batch_size=train.get("batch_size"), shuffle=train.get("shuffle", False),
        eval_every=train.get("eval_every", 1), checkpoint_segments=top.get("checkpoints", ()),
        group_size=top.get("group_size", len(top["weight_multipliers"])),
        seed_group_size=top.get("seed_group_size", 1), device=top.get("device", "cpu"),
        data=DataSpec(**data), fisher=FisherSpec(**fisher),
    )


def _spec_schema(spec) -> dict:
    kinds = {"int": "int", "float": "float", "bool": "bool", "str": "str", "int | None": "int?",
             "tuple[float, float, int]": "numbers"}
    return {f.name: (kinds[f.type], False) for f in dataclasses.fields(spec)}


def _read_table(table: dict, schema: dict, prefix: str) -> dict:
    """The values of `table`, each checked against `schema`; unknown and missing keys are named."""
    for key in table:
        if key not in schema:
            raise ValueError(f"unknown key {prefix}{key} (expected one of {', '.join(schema)})")
    missing = [key for key, (_, required) in schema.items() if required and key not in table]
    if missing:
        raise ValueError(f"missing key {prefix}{missing[0]}")
    return {key: _typed(value, schema[key][0], prefix + key) for key, value in table.items()}


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "floats": "a list of numbers", "numbers": "a list of numbers", "ints": "a list of integers",
               "strs": "a list of strings",
               "segments": "a list of [start, stop, step] integer triples"}


def _typed(value, kind: str, key: str):
    if kind.endswith("?"):  # optional: None (from Python; TOML has no null) means "not set"
        if value is None:
            return None
        kind = kind[:-1]
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    checks = {"int": is_int, "float": lambda v: is_int(v) or isinstance(v, float),
              "bool": lambda v: isinstance(v, bool), "str": lambda v: isinstance(v, str)}
    if kind in checks:
        ok = checks[kind](value)
    else:
        element = {"floats": checks["float"], "numbers": checks["float"], "ints": is_int, "strs": checks["str"],
                   "segments": lambda v: isinstance(v, list) and len(v) == 3 and all(map(is_int, v))}[kind]
        ok = isinstance(value, list | tuple) and all(map(element, value))
    if not ok:
        raise ValueError(f"{key} must be {_KIND_WORDS[kind]}, got {value!r}")
    if kind == "float":
        return float(value)
    if kind == "floats":
        return tuple(float(v) for v in value)
    if kind == "segments":
        return tuple(tuple(v) for v in value)
    return tuple(value) if kind in ("ints", "strs", "numbers") else value


def validate(exp: Experiment) -> None:
    """Raise ValueError naming the first bad value of `exp`."""
    check_task(exp.task)
    checks = [
        (len(exp.weight_multipliers) > 0 and all(a > 0 for a in exp.weight_multipliers),
         f"weight multipliers must be > 0, got {exp.weight_multipliers}"),
        (len(set(exp.weight_multipliers)) == len(exp.weight_multipliers),
         f"weight multipliers must be distinct, got {exp.weight_multipliers}"),
        (len(exp.seeds) > 0 and len(set(exp.seeds)) == len(exp.seeds) and min(exp.seeds) >= 0,
         f"seeds must be distinct non-negative integers, got {exp.seeds}"),
        (exp.epochs > 0, f"epochs must be > 0, got {exp.epochs}"),
        (exp.lr > 0, f"learning rate must be > 0, got {exp.lr}"),
        (exp.weight_decay >= 0, f"weight decay must be >= 0, got {exp.weight_decay}"),
        (exp.batch_size is None or exp.batch_size > 0, f"batch size must be > 0, got {exp.batch_size}"),
        (exp.eval_every > 0, f"eval_every must be > 0, got {exp.eval_every}"),
        (exp.group_size > 0, f"group_size must be > 0, got {exp.group_size}"),
        (exp.seed_group_size > 0, f"seed_group_size must be > 0, got {exp.seed_group_size}"),
        (all(step > 0 and stop > start >= 0 for start, stop, step in exp.checkpoint_segments),
         f"checkpoint segments must be [start, stop, step] with 0 <= start < stop and step > 0, "
         f"got {exp.checkpoint_segments}"),
        (exp.device in ("cpu", "cuda"), f"device must be 'cpu' or 'cuda', got {exp.device!r}"),
        (exp.fisher.variant in FISHER_VARIANTS,
         f"Fisher variant must be one of {FISHER_VARIANTS}, got {exp.fisher.variant!r}"),
        (exp.fisher.split in ("train", "test"), f"Fisher split must be 'train' or 'test', got {exp.fisher.split!r}"),
        (exp.data.split_sizes in ("paper", "torch"),
         f"split_sizes must be 'paper' or 'torch', got {exp.data.split_sizes!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"experiment {exp.name!r} ({exp.scale}): {message}")


def _groups(n: int, size: int) -> list[tuple[int, ...]]:
    """Indices 0..n-1 in consecutive groups of `size` (the last one shorter)."""
    return [tuple(range(i, min(i + size, n))) for i in range(0, n, size)]


def _merge(base: dict, override: dict) -> dict:
    """Recursive dict merge: tables merge, other values of `override` win."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


def _tuples(table: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
