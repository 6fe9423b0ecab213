"""How the recorded values of an experiment's parts merge into those of its whole grid: one rule per derived
function, for grids split by seed and for grids split by α (repro.parts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from grokcore.reference_codec import encode
from repro.figures import compression, features, runs, trajectories

# Each rule takes the values of one key in the parts holding it, in the order of their first seed (or α), and
# the seeds (or α) of each of those parts.


def along(dim: str) -> Callable[[list, list], xr.Dataset | xr.DataArray]:
    """The rule concatenating xarray values along `dim` ("seed" or "alpha"), sorted by it."""
    def merge(values: list, held: list) -> xr.Dataset | xr.DataArray:
        return xr.concat(values, dim).sortby(dim)

    merge.__name__ = f"along_{dim}"
    return merge


along_seed, along_alpha = along("seed"), along("alpha")


def run_weighted(dim: str) -> Callable[[list, list], xr.Dataset]:
    """`along(dim)`, with each float attribute (a mean over the part's runs, e.g. gini_coefficients' zero_share)
    the mean over all runs: weighted by each part's runs (alpha × seed)."""
    def merge(values: list[xr.Dataset], held: list) -> xr.Dataset:
        runs_held = np.array([value.sizes["alpha"] * value.sizes["seed"] for value in values])
        means = {name: float(np.average([value.attrs[name] for value in values], weights=runs_held))
                 for name, attr in values[0].attrs.items() if isinstance(attr, float)}
        return along(dim)(values, held).assign_attrs(means)

    return merge


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


def only(values: list, held: list) -> Any:
    """The value of a key naming a seed (unembedding_spectrum) or, split by α, an α: its one part's."""
    return values[0]


def same(values: list, held: list) -> Any:
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
    def merge(values, held):
        raise ValueError(f"cannot merge the parts: {why}; split the grid by α instead (`repro run --alphas`)")
    return merge


class Rule(NamedTuple):
    merge: Callable[[list, list], Any]
    in_every_part: bool = True  # False: each key names a seed (an α), and only the part holding it records it


# Split by seed: one rule per derived function that reads θ, the Fisher diagonals or the data
# (repro/figures/compression.py, features.py, trajectories.py); those of the metrics alone are RECOMPUTED from
# the merged per-epoch metrics (a seed mean, or the transition epochs of one, cannot be merged from per-chunk
# values).
RECOMPUTED = frozenset({"final_metrics", "seed_mean_curve", "regimes", "transition_epochs", "test_time", "plateaus",
                        "convergence_times"})
SEED_RULES = {
    "magnitude_pruning": Rule(along_seed), "fisher_pruning": Rule(along_seed), "llc": Rule(along_seed),
    "compression_measures": Rule(along_seed), "gini_coefficients": Rule(run_weighted("seed")),
    "step_measures": Rule(along_seed), "ipr_dynamics": Rule(along_seed), "feature_dynamics": Rule(along_seed),
    "neuron_iprs": Rule(pooled), "ipr_variants": Rule(per_seed_lists), "final_correlations": Rule(seed_union),
    "unembedding_spectrum": Rule(only, in_every_part=False), "energy_scatter": Rule(only, in_every_part=False),
    "temperature_snapshots": Rule(same), "domain_walls": Rule(same), "wall_snapshots": Rule(same),
    "dynamics_compressibility": Rule(unmergeable("the checkpoints of dynamics_compressibility are chosen from "
                                                 "every seed's curves")),
    "fisher_spectra": Rule(unmergeable("fisher_spectra is a seed mean of sorted spectra")),
}


def of_one_alpha(function: Callable) -> Callable:
    """A function of α values (ctx, experiment, alphas, *extra) called as one of a single α."""
    return lambda ctx, experiment, alpha, *extra: function(ctx, experiment, [alpha], *extra)


# Split by α, every derived function of one α, each keyed (name, experiment, α, *extra) and called as
# function(ctx, experiment, α, *extra): a part computes each for every α it holds (`parts.of_every_alpha`), since
# the whole grid's archetypes are not known before the parts are merged; each merges by `only`.
PER_ALPHA = {
    "feature_dynamics": of_one_alpha(features.feature_dynamics), "ipr_dynamics": of_one_alpha(features.ipr_dynamics),
    "dynamics_compressibility": of_one_alpha(compression.dynamics_compressibility),
    "step_measures": of_one_alpha(trajectories.step_measures),
    "fisher_spectra": of_one_alpha(trajectories.fisher_spectra),
    "final_correlations": features.final_correlations, "energy_scatter": features.energy_scatter,
    "unembedding_spectrum": features.unembedding_spectrum, "neuron_iprs": features.neuron_iprs,
    "ipr_variants": features.ipr_variants, "transition_epochs": runs.transition_epochs, "test_time": runs.test_time,
    "plateaus": runs.plateaus,
    "seed_mean_curve": lambda ctx, experiment, alpha, name: runs.seed_mean_curve(ctx, experiment, name, alpha),
}
# Split by α, the functions of every α: their values, (alpha, seed, …), are concatenated along alpha.
ALPHA_RULES = {
    **{name: Rule(only, in_every_part=False) for name in PER_ALPHA},
    **{name: Rule(along_alpha) for name in ("magnitude_pruning", "fisher_pruning", "llc", "compression_measures",
                                            "final_metrics", "regimes", "convergence_times")},
    "gini_coefficients": Rule(run_weighted("alpha")),
    "temperature_snapshots": Rule(same), "domain_walls": Rule(same), "wall_snapshots": Rule(same),
}

