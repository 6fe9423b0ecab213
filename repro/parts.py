"""Seed chunks of an experiment: each reduced into a part file, the parts merged into the experiment's reference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from grokcore.reference_codec import encode, key_name
from grokcore.reference_store import part_path, part_paths, read_recorded, read_reference, write_reference
from repro.config import load_experiment
from repro.figures.registry import Context
from repro.grid import science_config
from repro.reference import METRICS, reference_attrs

# The derived functions of the metrics alone: a part does not keep them, the merged pass recomputes them from the
# merged curves (a seed mean, or the transition epochs of one, cannot be merged from per-chunk values).
RECOMPUTED = frozenset({"final_metrics", "seed_mean_curve", "regimes", "transition_epochs", "test_time", "plateaus",
                        "convergence_times"})


class Part(NamedTuple):
    """One seed chunk's part: its file, its metrics (alpha, seed, epoch) and its recorded θ-values {key: value}."""

    path: Path
    metrics: xr.Dataset
    recorded: dict

    @property
    def seeds(self) -> list[int]:
        return [int(seed) for seed in self.metrics["seed"].values]


def write_part(ctx: Context, experiment: str, reference_dir: str | None = None) -> Path:
    """Write the part of `experiment`'s seed-chunk store in `ctx` after a figure pass on it: its per-epoch metrics,
    checkpoint epochs and attributes, and the derived values of the pass that need θ, the Fisher diagonals or the
    data (those not RECOMPUTED)."""
    ds = ctx.results(experiment)
    metrics = ds[list(METRICS)].assign_coords(checkpoint=ds["checkpoint"]).compute()
    kept = {key: value for key, value in ctx.derived(experiment).items() if key[0] not in RECOMPUTED}
    path = part_path(experiment, ds["seed"].values, ctx.scale, reference_dir)
    attrs = {**ds.attrs, **reference_attrs(ds), "kind": "grokcore-reference-part"}
    return write_reference(metrics.assign_attrs(attrs), path, kept)


def read_parts(experiment: str, scale: str, reference_dir: str | None = None) -> list[Part]:
    """Every part of `experiment` at `scale`, by first seed; ValueError if there is none."""
    paths = part_paths(experiment, scale, reference_dir)
    if not paths:
        folder = part_path(experiment, [0], scale, reference_dir).parent
        raise ValueError(f"no parts of {experiment} at scale {scale!r} in {folder}/: write them with "
                         f"`repro reference --scale {scale} --part {experiment}=STORE`")
    parts = [Part(path, read_reference(path), read_recorded(path)) for path in paths]
    return sorted(parts, key=lambda part: min(part.seeds))


def missing_seeds(parts: list[Part], experiment: str, scale: str) -> list[int]:
    """The seeds of the packaged `experiment` at `scale` that none of `parts` holds."""
    held = {seed for part in parts for seed in part.seeds}
    return [seed for seed in load_experiment(experiment, scale).seeds if seed not in held]


def check_parts(parts: list[Part], experiment: str, scale: str) -> None:
    """ValueError (one line) unless every part was trained with the packaged config of `experiment` at `scale`
    but for its seeds, on the same α, and no two parts hold a seed."""
    expected = science_config(load_experiment(experiment, scale))
    holder = {}
    for part in parts:
        config = part.metrics.attrs["config"]
        differ = [f"{key} {config.get(key)!r} ≠ {expected.get(key)!r}" for key in sorted(set(config) | set(expected))
                  if key != "seeds" and config.get(key) != expected.get(key)]
        if differ:
            raise ValueError(f"{part.path.name} was trained with another config than {experiment} at scale {scale}: "
                             + "; ".join(differ))
        if not part.metrics["alpha"].equals(parts[0].metrics["alpha"]):  # an α whose every seed diverged is dropped
            raise ValueError(f"{part.path.name} holds α {part.metrics['alpha'].values.tolist()}, "
                             f"{parts[0].path.name} {parts[0].metrics['alpha'].values.tolist()}")
        for seed in part.seeds:
            if seed in holder:
                raise ValueError(f"{part.path.name} and {holder[seed].name} both hold seed {seed}: delete one")
            holder[seed] = part.path
    foreign = sorted(set(holder) - set(expected["seeds"]))
    if foreign:
        raise ValueError(f"seeds {seed_ranges(foreign)} of the parts are none of {experiment}'s at scale {scale}")


def merged_values(experiment: str, scale: str, reference_dir: str | None = None) -> dict[tuple, Any]:
    """What a figure pass over `experiment`'s merged parts starts from (`Context.preload`): ("results", experiment)
    the metrics of every seed (alpha, seed, epoch; the packaged config in its attributes) and every recorded
    θ-value merged by its RULES. ValueError if the parts disagree or a seed is missing."""
    parts = read_parts(experiment, scale, reference_dir)
    check_parts(parts, experiment, scale)
    missing = missing_seeds(parts, experiment, scale)
    if missing:
        held = ", ".join(part.path.name for part in parts)
        raise ValueError(f"{experiment}: seeds {seed_ranges(missing)} are in none of its parts ({held}): train them "
                         f"with `repro run {experiment} --scale {scale} --seeds {seed_ranges(missing)} --store STORE`"
                         f" and write their part with `repro reference --scale {scale} --part {experiment}=STORE`")
    exp = load_experiment(experiment, scale)
    revisions = sorted({part.metrics.attrs["store_git_revision"] for part in parts})
    # the first chunk store's attributes (data hash, torch, …), but those of the whole grid where they differ
    attrs = {**parts[0].metrics.attrs, "experiment": experiment, "scale": scale, "task": exp.task,
             "config": science_config(exp), "git_revision": ", ".join(revisions)}
    attrs.pop("derivation", None)  # the --seeds of the first chunk
    metrics = xr.concat([part.metrics for part in parts], "seed").sortby("seed")
    metrics.attrs = attrs
    return {("results", experiment): metrics, **merge_recorded(parts)}


def merge_recorded(parts: list[Part]) -> dict[tuple, Any]:
    """The parts' recorded values, each key merged by the RULES of its function."""
    merged = {}
    for key in dict.fromkeys(key for part in parts for key in part.recorded):
        if key[0] not in RULES:
            raise ValueError(f"{key_name(key)}: no merge rule for {key[0]} in repro.parts.RULES")
        rule = RULES[key[0]]
        holders = [part for part in parts if key in part.recorded]
        expected = len(parts) if rule.in_every_part else 1
        if len(holders) != expected:
            raise ValueError(f"{key_name(key)} is recorded by {', '.join(p.path.name for p in holders)} of the "
                             f"parts {', '.join(p.path.name for p in parts)}: "
                             + ("each must record it" if rule.in_every_part else "one seed, one part"))
        merged[key] = rule.merge([part.recorded[key] for part in holders], [part.seeds for part in holders])
    return merged


# ------------------------------------------------------------------------------------------------ merge rules
# Each takes the values of one key in the parts holding it, in the order of their first seed, and the seeds of
# each of those parts.


def along_seed(values: list, seeds: list[list[int]]) -> xr.Dataset | xr.DataArray:
    """xarray values (…, seed, …) concatenated along seed, sorted by seed."""
    return xr.concat(values, "seed").sortby("seed")


def run_weighted(values: list[xr.Dataset], seeds: list[list[int]]) -> xr.Dataset:
    """`along_seed`, with each float attribute (a mean over the part's runs, e.g. gini_coefficients' zero_share)
    the mean over all runs: weighted by each part's runs (alpha × seed)."""
    runs = np.array([value.sizes["alpha"] * value.sizes["seed"] for value in values])
    means = {name: float(np.average([value.attrs[name] for value in values], weights=runs))
             for name, attr in values[0].attrs.items() if isinstance(attr, float)}
    return along_seed(values, seeds).assign_attrs(means)


def in_seed_order(items: list, seeds: list[list[int]]) -> list:
    """Per-seed items of the parts (one list per part, its seeds' in their order) as one list in seed order."""
    order = np.argsort(np.concatenate(seeds), kind="stable")
    flat = [item for part in items for item in part]
    return [flat[i] for i in order]


def per_seed_lists(values: list[dict], seeds: list[list[int]]) -> dict:
    """{name: [per seed]} dicts (ipr_variants) with each list concatenated in seed order."""
    return {name: in_seed_order([value[name] for value in values], seeds) for name in values[0]}


def pooled(values: list[xr.Dataset], seeds: list[list[int]]) -> xr.Dataset:
    """Datasets of 1-D variables pooling every seed's entries, equally many per seed (neuron_iprs: 512 neurons per
    final model), pooled over all seeds in seed order."""
    def pool(name):
        pieces = [np.split(value[name].values, len(part)) for value, part in zip(values, seeds, strict=True)]
        return values[0][name].dims, np.concatenate(in_seed_order(pieces, seeds))

    return xr.Dataset({name: pool(name) for name in values[0].data_vars}, attrs=values[0].attrs)


def seed_union(values: list[dict], seeds: list[list[int]]) -> dict:
    """{seed: …} dicts (final_correlations) united, by seed."""
    return dict(sorted(item for value in values for item in value.items()))


def only(values: list, seeds: list[list[int]]) -> Any:
    """The value of a key naming one seed (unembedding_spectrum, energy_scatter): its one part's."""
    return values[0]


def same(values: list, seeds: list[list[int]]) -> Any:
    """A value of the data alone (Ising snapshots), the same in every part."""
    first, first_arrays = described(values[0])
    for value in values[1:]:
        tree, arrays = described(value)
        if tree != first or any(not np.array_equal(array, first_arrays[name], equal_nan=array.dtype.kind == "f")
                                for name, array in arrays.items()):
            raise ValueError("a value of the data alone differs between the parts: were they trained on the same "
                             "data?")
    return values[0]


def described(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """The reference codec's description of `value` and its arrays: two values are equal iff these are."""
    arrays: dict[str, np.ndarray] = {}
    return encode(value, arrays), arrays


def unmergeable(why: str) -> Callable[[list, list], Any]:
    """The rule of a value no merge can give: it raises, saying `why`."""
    def merge(values, seeds):
        raise ValueError(f"cannot merge the parts: {why}; train the experiment in one store")
    return merge


class Rule(NamedTuple):
    merge: Callable[[list, list[list[int]]], Any]
    in_every_part: bool = True  # False: each key names a seed, and only the part holding it records it


# One rule per derived function that reads θ, the Fisher diagonals or the data (repro/figures/compression.py,
# features.py, trajectories.py); those of the metrics alone are RECOMPUTED.
RULES = {
    "magnitude_pruning": Rule(along_seed), "fisher_pruning": Rule(along_seed), "llc": Rule(along_seed),
    "compression_measures": Rule(along_seed), "gini_coefficients": Rule(run_weighted),
    "step_measures": Rule(along_seed), "ipr_dynamics": Rule(along_seed), "feature_dynamics": Rule(along_seed),
    "neuron_iprs": Rule(pooled), "ipr_variants": Rule(per_seed_lists), "final_correlations": Rule(seed_union),
    "unembedding_spectrum": Rule(only, in_every_part=False), "energy_scatter": Rule(only, in_every_part=False),
    "temperature_snapshots": Rule(same), "domain_walls": Rule(same), "wall_snapshots": Rule(same),
    "dynamics_compressibility": Rule(unmergeable("the checkpoints of dynamics_compressibility are chosen from "
                                                 "every seed's curves")),
    "fisher_spectra": Rule(unmergeable("fisher_spectra is a seed mean of sorted spectra")),
}


def seed_ranges(seeds) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the syntax of --seeds)."""
    runs = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][1] + 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)
