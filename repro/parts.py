"""Chunks of an experiment's grid: each reduced into a part file, the parts merged into the experiment's reference.

A grid too long for one session is trained in chunks, each a store of `repro run` with --seeds (some seeds, every
α) or --alphas (some α, every seed). A seed chunk's part keeps its per-epoch metrics and the values its figures
computed from θ; the merged pass recomputes what is a function of the metrics alone (a seed mean cannot be merged
from per-chunk means). An α chunk's part keeps what its figures computed, the metrics only at the checkpoints,
and every value of one α for each of its α (`of_every_alpha`): then nothing is recomputed, and the merged pass
reads the parts as a pass over a reference does. Seed-spanning values (Ising's archetypes, trajectory checkpoints
chosen from every seed, seed means of spectra) merge exactly only when split by α.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import xarray as xr

from grokcore.reference_codec import key_name
from grokcore.reference_store import part_path, part_paths, read_recorded, read_reference, write_reference
from repro.config import load_experiment
from repro.figures.registry import Context
from repro.grid import science_config
from repro.part_rules import ALPHA_RULES, PER_ALPHA, RECOMPUTED, SEED_RULES
from repro.reference import METRICS, reduce_experiment, reference_attrs

SPLITS = {"seed": "seeds", "alpha": "weight_multipliers"}  # the dimensions a grid is split along, their config keys
OPTIONS = {"seed": "--seeds", "alpha": "--alphas"}  # the `repro run` option that trains a chunk of each
# The config keys a chunk's store may differ in from the whole grid's: what it holds, and for an α chunk how many α
# are trained together (by default all of them; the ensemble trains each α as alone, to float round-off).
FREE = {"seed": {"seeds"}, "alpha": {"weight_multipliers", "group_size"}}


class Part(NamedTuple):
    """One chunk's part: its file, its metrics (alpha, seed, epoch) and its recorded values {key: value}."""

    path: Path
    metrics: xr.Dataset
    recorded: dict

    @property
    def split(self) -> str:
        """"seed" or "alpha": the dimension its grid is split along."""
        return self.metrics.attrs.get("split", "seed")  # parts written before α chunks: seeds

    @property
    def held(self) -> list:
        """The seeds (or α) it holds."""
        return self.metrics[self.split].values.tolist()


def split_of(config: dict, experiment: str, scale: str) -> str:
    """"seed" or "alpha": which of the packaged grid of `experiment` at `scale` a chunk store of `config` is part
    of; ValueError (one line) if it holds every seed and α, or only some of both."""
    packaged = science_config(load_experiment(experiment, scale))
    partial = [dim for dim, name in SPLITS.items() if sorted(config[name]) != sorted(packaged[name])]
    if len(partial) != 1:
        raise ValueError(f"a part holds some seeds and every α, or some α and every seed, of {experiment} at scale "
                         f"{scale}; this store holds seeds {config['seeds']} and α {config['weight_multipliers']}, "
                         f"of seeds {packaged['seeds']} and α {packaged['weight_multipliers']}")
    return partial[0]


def chunk_name(split: str, held) -> str:
    """"seeds-0-4" or "alphas-0.1_0.3": the chunk in its part's file name."""
    if split == "seed":
        return f"seeds-{min(held)}-{max(held)}"
    return "alphas-" + "_".join(f"{alpha:g}" for alpha in sorted(held))


def write_part(ctx: Context, experiment: str, reference_dir: str | None = None) -> Path:
    """Write the part of `experiment`'s chunk store in `ctx` after a figure pass on it (see the module docstring)."""
    ds = ctx.results(experiment)
    split = split_of(ds.attrs["config"], experiment, ctx.scale)
    if split == "seed":
        metrics = ds[list(METRICS)].assign_coords(checkpoint=ds["checkpoint"]).compute()
        kept = {key: value for key, value in ctx.derived(experiment).items() if key[0] not in RECOMPUTED}
    else:
        reduce_experiment(ctx, experiment)  # the merged pass reduces from recorded values alone
        of_every_alpha(ctx, experiment)
        epochs = [epoch for epoch in ds["checkpoint"].values if epoch in ds["epoch"].values]
        metrics = ds[list(METRICS)].sel(epoch=epochs).assign_coords(checkpoint=ds["checkpoint"]).compute()
        kept = ctx.derived(experiment)
    path = part_path(experiment, chunk_name(split, ds[split].values.tolist()), ctx.scale, reference_dir)
    attrs = {**ds.attrs, **reference_attrs(ds), "kind": "grokcore-reference-part", "split": split}
    return write_reference(metrics.assign_attrs(attrs), path, kept)


def of_every_alpha(ctx: Context, experiment: str) -> None:
    """Compute every PER_ALPHA function that the figure pass on `ctx` computed for some α (its own archetypes) for
    every α of `experiment`, with the same other arguments."""
    alphas = ctx.results(experiment)["alpha"].values.tolist()
    for key in list(ctx.derived(experiment)):
        if key[0] in PER_ALPHA:
            for alpha in alphas:
                PER_ALPHA[key[0]](ctx, experiment, float(alpha), *key[3:])


def read_parts(experiment: str, scale: str, reference_dir: str | None = None) -> list[Part]:
    """Every part of `experiment` at `scale`, by first seed (α); ValueError if there is none or they are split
    along different dimensions."""
    paths = part_paths(experiment, scale, reference_dir)
    if not paths:
        folder = part_path(experiment, "x", scale, reference_dir).parent
        raise ValueError(f"no parts of {experiment} at scale {scale!r} in {folder}/: write them with "
                         f"`repro reference --scale {scale} --part {experiment}=STORE`")
    parts = [Part(path, read_reference(path), read_recorded(path)) for path in paths]
    if len({part.split for part in parts}) > 1:
        raise ValueError(f"the parts of {experiment} at scale {scale} split its grid both by seed and by α "
                         f"({', '.join(part.path.name for part in parts)}): keep the parts of one split")
    return sorted(parts, key=lambda part: min(part.held))


def missing(parts: list[Part], experiment: str, scale: str) -> list:
    """The seeds (or α) of the packaged `experiment` at `scale` that none of `parts` holds."""
    held = {value for part in parts for value in part.held}
    packaged = science_config(load_experiment(experiment, scale))[SPLITS[parts[0].split]]
    return [value for value in packaged if value not in held]


def check_parts(parts: list[Part], experiment: str, scale: str) -> None:
    """ValueError (one line) unless every part was trained with the packaged config of `experiment` at `scale`
    but for the seeds (α) it holds, on the same α (seeds), and no two parts hold a seed (α)."""
    split = parts[0].split
    other = "alpha" if split == "seed" else "seed"
    expected = science_config(load_experiment(experiment, scale))
    holder = {}
    for part in parts:
        config = part.metrics.attrs["config"]
        differ = [f"{key} {config.get(key)!r} ≠ {expected.get(key)!r}" for key in sorted(set(config) | set(expected))
                  if key not in FREE[split] and config.get(key) != expected.get(key)]
        if differ:
            raise ValueError(f"{part.path.name} was trained with another config than {experiment} at scale {scale}: "
                             + "; ".join(differ))
        if not part.metrics[other].equals(parts[0].metrics[other]):  # an α whose every seed diverged is dropped
            raise ValueError(f"{part.path.name} holds {other} {part.metrics[other].values.tolist()}, "
                             f"{parts[0].path.name} {parts[0].metrics[other].values.tolist()}")
        for value in part.held:
            if value in holder:
                raise ValueError(f"{part.path.name} and {holder[value].name} both hold {split} {value:g}: delete one")
            holder[value] = part.path


class Merged(NamedTuple):
    """What a figure pass over an experiment's merged parts starts from (`Context.preload`), the functions it may
    compute from the merged metrics (`Context.metrics_only`) and how many seeds (α) the parts held."""

    values: dict[tuple, Any]
    recomputed: frozenset[str]
    summary: str
    left_out: tuple[str, ...]  # names of the values only some parts recorded (`merge_recorded`)


def merged_values(experiment: str, scale: str, reference_dir: str | None = None) -> Merged:
    """("results", experiment) the metrics of every run (alpha, seed, epoch; the packaged config in its
    attributes) and every recorded value merged by its rule. ValueError if the parts disagree or a seed (α) is
    missing."""
    parts = read_parts(experiment, scale, reference_dir)
    check_parts(parts, experiment, scale)
    split = parts[0].split
    absent = missing(parts, experiment, scale)
    if absent:
        held, chunk = ", ".join(part.path.name for part in parts), values_text(split, absent)
        raise ValueError(f"{experiment}: {SPLITS[split].replace('_', ' ')} {chunk} are in none of its parts ({held}): "
                         f"train them with `repro run {experiment} --scale {scale} {OPTIONS[split]} {chunk} --store "
                         f"STORE` and write their part with `repro reference --scale {scale} --part "
                         f"{experiment}=STORE`")
    exp = load_experiment(experiment, scale)
    revisions = sorted({part.metrics.attrs["store_git_revision"] for part in parts})
    # the first chunk store's attributes (data hash, torch, …), but those of the whole grid where they differ
    attrs = {**parts[0].metrics.attrs, "experiment": experiment, "scale": scale, "task": exp.task,
             "config": science_config(exp), "git_revision": ", ".join(revisions)}
    for name in ("derivation", "split"):  # the --seeds of the first chunk
        attrs.pop(name, None)
    metrics = xr.concat([part.metrics for part in parts], split).sortby(split)
    metrics.attrs = attrs
    merged, left_out = merge_recorded(parts)
    recomputed = RECOMPUTED if split == "seed" else frozenset()
    return Merged({("results", experiment): metrics, **merged}, recomputed,
                  f"{metrics.sizes[split]} {SPLITS[split].replace('_', ' ')}", left_out)


def merge_recorded(parts: list[Part]) -> tuple[dict[tuple, Any], tuple[str, ...]]:
    """The parts' recorded values, each key merged by the rule of its function (SEED_RULES or ALPHA_RULES), and
    the names of the keys left out: those that only some parts recorded though every part should have (a value
    at an α a chunk chose from its own seeds, or one its code revision read), which a pass reading them stops on
    (`NotPreloaded`)."""
    rules, table = (SEED_RULES, "SEED_RULES") if parts[0].split == "seed" else (ALPHA_RULES, "ALPHA_RULES")
    merged, left_out = {}, []
    for key in dict.fromkeys(key for part in parts for key in part.recorded):
        if key[0] not in rules:
            raise ValueError(f"{key_name(key)}: no merge rule for {key[0]} in repro.part_rules.{table}")
        rule = rules[key[0]]
        holders = [part for part in parts if key in part.recorded]
        if rule.in_every_part and len(holders) < len(parts):
            left_out.append(f"{key_name(key)} (only in {', '.join(p.path.name for p in holders)})")
            continue
        if not rule.in_every_part and len(holders) > 1:
            raise ValueError(f"{key_name(key)} is recorded by {', '.join(p.path.name for p in holders)}: "
                             "one seed, one part")
        merged[key] = rule.merge([part.recorded[key] for part in holders], [part.held for part in holders])
    return merged, tuple(left_out)


def values_text(split: str, values) -> str:
    """Seeds or α as `repro run` reads them (--seeds 0-2,5; --alphas 0.1,0.3)."""
    return seed_ranges(values) if split == "seed" else ",".join(f"{alpha:g}" for alpha in values)


def seed_ranges(seeds) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the syntax of --seeds)."""
    runs = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][1] + 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)
