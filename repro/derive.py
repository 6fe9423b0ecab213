"""A researcher's own experiments: a TOML file of the packaged schema, or a packaged experiment with overrides."""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path

from repro.config import Experiment, experiment_from_dict, experiment_names, merge_scale, packaged_tables

# Override keys are paths into the TOML tables (`train.epochs`); the command line's named options map onto them.
OPTION_KEYS = {"alphas": "weight_multipliers", "seeds": "seeds", "epochs": "train.epochs", "lr": "train.lr",
               "weight_decay": "train.weight_decay", "batch_size": "train.batch_size",
               "eval_every": "train.eval_every", "group_size": "group_size"}
# Short forms of keys in derived store names.
_SHORT = {"weight_multipliers": "alphas", "train.epochs": "epochs", "train.weight_decay": "wd",
          "train.batch_size": "batch", "train.eval_every": "eval", "checkpoint_every": "every",
          "train.lr": "lr", "group_size": "group"}
_MAX_NAME = 80


class OverrideError(ValueError):
    """A malformed override on the command line."""


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3,5' -> [0, 3, 5]; '0-2,7' -> [0, 1, 2, 7]."""
    seeds = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            low, high = int(first), int(last if dash else first)
            if high < low:
                raise ValueError
            seeds += range(low, high + 1)
    except ValueError:
        raise OverrideError(f"--seeds expects integers and ranges such as 0-2 or 0,3,5, got {text!r}") from None
    return seeds


def parse_set(text: str) -> tuple[str, object]:
    """'train.lr=1e-3' -> ('train.lr', 0.001): the value in TOML syntax, or a bare word as a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise OverrideError(f"--set expects KEY=VALUE such as train.lr=1e-3, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        if value.strip().replace("_", "").replace("-", "").isalnum():
            return key, value.strip()
        raise OverrideError(f"--set {key}: {value!r} is not a TOML value (quote strings, e.g. '\"x\"')") from None


def source_tables(source: str, scale: str | None) -> tuple[dict, str, str, str]:
    """(merged TOML tables, name, scale, provenance) of a packaged experiment name or a TOML file path.

    A packaged experiment defaults to scale quick; a file's own top level is scale "custom", and --scale
    applies one of its [scale.*] tables on top.
    """
    if source in experiment_names():
        scale = scale or "quick"
        return packaged_tables(source, scale), source, scale, f"packaged experiment {source}"
    path = Path(source)
    if path.suffix != ".toml":
        raise ValueError(f"unknown experiment {source!r}: expected one of {', '.join(experiment_names())} "
                         "or the path of a .toml file")
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"experiment file {source} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{source} is not valid TOML: {err}") from None
    merged = merge_scale(raw, scale, source=source)
    return merged, path.stem, scale or "custom", str(path.resolve())


def apply_overrides(raw: dict, overrides: dict) -> dict:
    """`raw` tables with each override (key path -> value) set; `checkpoint_every` k becomes checkpoints
    [[0, epochs, k]]. A new epoch count stretches the checkpoint segments that ran to the old end, and drops
    those that start after the new end."""
    raw = copy.deepcopy(raw)
    old_epochs = raw.get("train", {}).get("epochs")
    for key, value in overrides.items():
        if key == "checkpoint_every":
            continue
        *tables, leaf = key.split(".")
        target = raw
        for table in tables:
            target = target.setdefault(table, {})
            if not isinstance(target, dict):
                raise OverrideError(f"override {key}: {table} is not a table")
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    epochs = raw.get("train", {}).get("epochs")
    if "checkpoint_every" in overrides:
        raw["checkpoints"] = [[0, epochs, overrides["checkpoint_every"]]]
    elif "checkpoints" not in overrides and epochs != old_epochs and all(
            isinstance(e, int) for e in (epochs, old_epochs)):
        raw["checkpoints"] = [[start, epochs if stop >= old_epochs else stop, step]
                              for start, stop, step in raw.get("checkpoints", []) if start < epochs]
    return raw


def resolve(source: str, scale: str | None = None, overrides: dict | None = None) -> tuple[Experiment, dict]:
    """The experiment `source` (packaged name or TOML path) at `scale` with `overrides` applied, and its
    derivation record {"source", "scale", "overrides"} (stored in the results store's attributes)."""
    raw, name, scale, provenance = source_tables(source, scale)
    overrides = dict(overrides or {})
    exp = experiment_from_dict(apply_overrides(raw, overrides), name=name, scale=scale)
    return exp, {"source": provenance, "scale": scale, "overrides": overrides}


def store_name(exp: Experiment, derivation: dict) -> str:
    """File stem of an experiment's default store: <name>-<scale>, plus the overrides, e.g.
    modadd-main-full-alphas0.1_0.3_10-seeds0-2-epochs2000 (a hash of them when that gets long)."""
    stem = exp.name if exp.scale == "custom" else f"{exp.name}-{exp.scale}"
    overrides = derivation["overrides"]
    if not overrides:
        return stem
    order = [*OPTION_KEYS.values(), "checkpoint_every"]
    keys = sorted(overrides, key=lambda k: (order.index(k) if k in order else len(order), k))
    parts = [f"{_SHORT.get(key, key.replace('.', '-'))}{_compact(key, overrides[key])}" for key in keys]
    name = "-".join([stem, *parts])
    if len(name) > _MAX_NAME or not all(c.isalnum() or c in "-_.+" for c in name):
        digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
        name = f"{stem}-custom-{digest}"
    return name


def _compact(key: str, value) -> str:
    if key == "seeds" and len(value) > 1 and value == list(range(value[0], value[-1] + 1)):
        return f"{value[0]}-{value[-1]}"
    if isinstance(value, list):
        return "_".join(_compact("", v) for v in value)
    if value is None:
        return "full"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower()
