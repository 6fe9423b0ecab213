"""Synthetic figure Contexts for the claims tests: stores and derived data built in the test, no training.

A claim reads a store through `Context.results` and derived data through `Context.cached`, so a test puts
small xarray Datasets in both (`put`, under the key of the function that would compute them) and the claim
runs unchanged. Each builder takes per-α lists
(one value per α, or per α × seed) and fills in the rest, so that a test case states only what it varies.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import xarray as xr

from grokcore.measures import curves
from repro.figures import claims, pipeline, runs
from repro.figures.registry import Context

SEEDS = (0, 1, 2)
ISING, MODADD = "ising-main", "modadd-main"
FRACTIONS = np.linspace(0.0, 1.0, 2001)  # fine enough that a step curve's trapezoid c is within 1%


assert pipeline.claims is claims  # importing the pipeline registers every claim


def put(ctx: Context, key: tuple, value) -> None:
    """Make `value` the derived quantity `key` of ctx (Context.cached), replacing any computed one."""
    ctx.forget(key)
    ctx.cached(key, lambda: value)


def put_per_alpha(ctx: Context, key: tuple[str, str], value, *extra) -> None:
    """Make each α of `value` (…, alpha, …) the derived quantity (*key, α, *extra) of a function cached per α
    (Context.per_alpha)."""
    for alpha in value["alpha"].values:
        put(ctx, (*key, float(alpha), *extra), value.sel(alpha=[alpha]))


def claims_of(module) -> list[str]:
    """The keys of the claims registered by `module` (a repro.figures.claims_* module)."""
    return [key for key, spec in claims.CLAIMS.items() if inspect.getmodule(spec.evaluate) is module]


def claim_tests(module, cases: dict, untestable: dict | None = None):
    """The verdict tests of a claims module, to assign to test_ names in its test module: every claim both ways
    on `cases` ({key: (agreeing build, differing build)}), every claim of `module` with its cases, and each of
    `untestable` ({key: build}) judged "not testable at this scale" (without a number that is not one)."""

    @pytest.mark.parametrize(("key", "case", "expected"), both_ways(cases))
    def both_ways_test(key, case, expected, tmp_path):
        result = verdict(key, cases[key][case], tmp_path)
        assert result.verdict == expected, (result.verdict, result.ours, result.detail)

    def every_claim_has_both_cases():
        assert sorted(claims_of(module)) == sorted(cases)

    @pytest.mark.parametrize("key", list(untestable or {}))
    def untestable_test(key, tmp_path):
        result = verdict(key, untestable[key], tmp_path)
        assert result.verdict == "not testable at this scale", (result.verdict, result.ours, result.detail)
        assert "e+15" not in result.ours and "inf" not in result.ours

    return both_ways_test, every_claim_has_both_cases, untestable_test


def verdict(key: str, build, tmp_path):
    """The ClaimResult of claim `key` on a fresh synthetic Context filled in by build(ctx)."""
    ctx = context(tmp_path)
    build(ctx)
    (result,) = claims.evaluate_claims(ctx, [key])
    return result


def both_ways(cases: dict) -> list[tuple[str, int, str]]:
    """(key, case index, expected verdict) for a table {key: (agreeing build, differing build)}."""
    return [(key, i, verdict) for key in cases for i, verdict in enumerate(("agrees", "differs"))]


def context(tmp_path) -> Context:
    """An empty quick-scale Context whose stores and derived data the builders below fill in."""
    return Context(scale="quick", results_dir=str(tmp_path / "results"), data_dir=str(tmp_path / "data"))


def per_run(alphas, values, seeds=SEEDS) -> xr.DataArray:
    """(alpha, seed) DataArray: values per α (a scalar each, repeated over seeds) or per α × seed."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = np.repeat(values[:, None], len(seeds), axis=1)
    return xr.DataArray(values, dims=("alpha", "seed"), coords={"alpha": list(map(float, alphas)),
                                                                 "seed": list(seeds)})


def store(ctx: Context, experiment: str, task: str, alphas, seeds=SEEDS, epochs: int = 100, checkpoints=None,
          **curves_) -> xr.Dataset:
    """Put a results store of `experiment` in ctx: each of train/test acc/loss given as an array broadcastable
    to (alpha, seed, epoch), the others flat (accuracy 1, loss 0.1); any other variable as (dims, values)."""
    shape = (len(alphas), len(seeds), epochs)
    defaults = {"train_acc": 1.0, "test_acc": 1.0, "train_loss": 0.1, "test_loss": 0.1}
    data = {name: (("alpha", "seed", "epoch"), np.broadcast_to(np.asarray(curves_.pop(name, value), float), shape))
            for name, value in defaults.items()}
    data.update(curves_)
    checkpoints = np.arange(epochs) if checkpoints is None else checkpoints
    ds = xr.Dataset(data, coords={"alpha": list(map(float, alphas)), "seed": list(seeds),
                                  "epoch": np.arange(1, epochs + 1), "checkpoint": checkpoints})
    ds.attrs["task"] = task
    put(ctx, ("results", experiment), ds)
    return ds


def regimes(ctx: Context, experiment: str, task: str, alphas, per_alpha, seeds=SEEDS, final_acc=None,
            eval_every: int = 1, **curves_) -> None:
    """A store plus its Def. 1-2 table: per_alpha the regime of every seed of each α ("grok", "steady",
    "did-not-learn"), or a list per seed. final_acc (alpha[, seed]) defaults to 1 (chance for did-not-learn)."""
    table = np.array([[r] * len(seeds) if isinstance(r, str) else list(r) for r in per_alpha])
    chance = runs.CHANCE[task]
    if final_acc is None:
        final_acc = np.where(table == "did-not-learn", chance, 1.0)
    acc = per_run(alphas, final_acc, seeds)
    store(ctx, experiment, task, alphas, seeds, **curves_)
    t_train = per_run(alphas, np.full(table.shape, 10.0), seeds)
    delta = per_run(alphas, np.where(table == "grok", 100.0, 1.0), seeds)
    regime = curves.classify_regime(delta.values, runs.GROK_THRESHOLD, t_train.values, acc.values, chance)
    assert (regime == table).all(), (regime, table)
    put(ctx, ("regimes", experiment), xr.Dataset(
        {"t_train": t_train, "t_test": t_train + delta, "delta": delta, "regime": (("alpha", "seed"), regime)},
        attrs={"eval_every": eval_every}))
    final = {"test_acc": acc, "train_acc": acc, "train_loss": per_run(alphas, np.full(table.shape, 0.1), seeds),
             "test_loss": per_run(alphas, np.full(table.shape, 0.1), seeds)}
    ctx.cached(("final_metrics", experiment), lambda: xr.Dataset(final))


def final_metrics(ctx: Context, experiment: str, **metrics) -> None:
    """Override final metrics (each (alpha, seed) DataArray) of an experiment already given `regimes`."""
    put(ctx, ("final_metrics", experiment), runs.final_metrics(ctx, experiment).assign(metrics))


def step_curve(c) -> np.ndarray:
    """Pruning accuracy (..., fraction) that stays at 1 and then drops to 0 at p* = 1 − 1/c, so that Eq. 5 gives
    c (inf: never drops, NaN: A(0) = 0)."""
    c = np.asarray(c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(np.isinf(c), 2.0, 1 - 1 / c)
    acc = (FRACTIONS <= cut[..., None]).astype(float)
    return np.where(np.isnan(c)[..., None], 0.0, acc)


def final_pruning(ctx: Context, experiment: str, alphas, c, seeds=SEEDS, key=None) -> None:
    """Per-layer (or `key`'s) magnitude-pruning curves whose compressibility is c (alpha[, seed])."""
    c = per_run(alphas, c, seeds)
    acc = xr.DataArray(step_curve(c.values), dims=("alpha", "seed", "fraction"),
                       coords={**c.coords, "fraction": FRACTIONS})
    put(ctx, key or ("magnitude_pruning", experiment, "per_layer", None), xr.Dataset({"acc": acc, "loss": 1 - acc}))


def fisher_pruning(ctx: Context, experiment: str, alphas, c, seeds=SEEDS) -> None:
    """Fisher-pruning curves (alpha, seed, point) with coordinate fraction whose compressibility is c."""
    c = per_run(alphas, c, seeds)
    acc = xr.DataArray(step_curve(c.values), dims=("alpha", "seed", "point"),
                       coords={**c.coords, "fraction": ("point", FRACTIONS)})
    put(ctx, ("fisher_pruning", experiment, None), xr.Dataset({"acc": acc, "loss": 1 - acc}))


def series(alphas, values, seeds=SEEDS, epochs=None) -> xr.DataArray:
    """(alpha, seed, checkpoint) DataArray: values per α, each a sequence over checkpoints (same for every
    seed) or an array (seed, checkpoint)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = np.repeat(values[:, None, :], len(seeds), axis=1)
    epochs = np.arange(values.shape[-1]) if epochs is None else epochs
    return xr.DataArray(values, dims=("alpha", "seed", "checkpoint"),
                        coords={"alpha": list(map(float, alphas)), "seed": list(seeds), "checkpoint": epochs})


def steps(measures: dict) -> xr.Dataset:
    """Step measures (trajectories.step_measures) from Fisher measures {name: (alpha, seed, checkpoint)}."""
    return xr.Dataset(measures).expand_dims(metric=["fisher"], subspace=["all"])


# ------------------------------------------------------------------------ grids with their archetypes

MOD_ALPHAS, ISING_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0), (0.1, 0.3, 1.0, 3.0)
MOD_REGIMES = ("steady", "steady", "steady", "grok", "grok")


def modadd(ctx, experiment=MODADD, per_alpha=MOD_REGIMES, alphas=MOD_ALPHAS, **kw):
    """A mod-add grid (archetypes 10 and 0.1) with the given Def. 1-2 regimes."""
    regimes(ctx, experiment, "modadd", alphas, per_alpha, **kw)


def ising(ctx, per_alpha=("steady", "steady", "grok", "grok"), alphas=ISING_ALPHAS, **kw):
    """An Ising grid: grokking α 3, learning α 0.1 (the smallest steady one)."""
    regimes(ctx, ISING, "ising", alphas, per_alpha, **kw)


def correlations(grok=None, learn=None):
    """Ising FC/conv correlations of the grokking and learning α: each {layer: (|ρ(E)|, |ρ(M)|, |ρ(|M|)|)} per
    seed (a list) or for every seed (one dict); 10 neurons, equal Eq. 6 weights."""
    base = {layer: (0.99, 0.1, 0.9) for layer in ("conv1", "conv2", "fc1")}

    def layers(spec):
        return {layer: (np.tile(values, (10, 1)), np.full(10, 0.1)) for layer, values in {**base, **spec}.items()}

    def build(ctx):
        ising(ctx)
        for alpha, spec in ((3.0, grok or {}), (0.1, learn or {})):
            per_seed = spec if isinstance(spec, list) else [spec] * len(SEEDS)
            by_seed = {s: layers(p) for s, p in zip(SEEDS, per_seed, strict=True)}
            put(ctx, ("final_correlations", ISING, alpha), by_seed)
    return build


def final(experiment, **values):
    """A builder: `modadd` or `ising`, then final metrics overridden by values per α (or α × seed)."""
    def build(ctx):
        (ising if experiment == ISING else modadd)(ctx)
        alphas = ISING_ALPHAS if experiment == ISING else MOD_ALPHAS
        final_metrics(ctx, experiment, **{k: per_run(alphas, v) for k, v in values.items()})
    return build


PEAK = np.r_[np.linspace(0.2, 1.0, 30), np.linspace(1.0, 0.8, 70)]  # peaks at checkpoint 29, ends 20% lower
