"""Tests of repro.figures.claims_compression: the compressibility trade-offs, verdicts both ways."""

from __future__ import annotations

import numpy as np
import synthetic as syn
import xarray as xr

from grokcore.models import n_params
from repro.figures import claims_compression

ISING, MODADD, WD, BS200 = syn.ISING, syn.MODADD, "modadd-wd", "modadd-bs200"


def pruned(experiment, c, per_alpha=syn.MOD_REGIMES, against=None, seeds=syn.SEEDS):
    """A mod-add grid whose final models have compressibility c (per α or α × seed), and optionally final
    metrics `against` ({name: values})."""
    def build(ctx):
        syn.modadd(ctx, experiment, per_alpha, seeds=seeds)
        syn.final_pruning(ctx, experiment, syn.MOD_ALPHAS, c, seeds)
        syn.final_metrics(ctx, experiment, **{k: syn.per_run(syn.MOD_ALPHAS, v, seeds)
                                              for k, v in (against or {}).items()})
    return build


MANY = tuple(range(30))  # 5 α × 30 seeds: enough runs for the absence test to decide


NOISE = np.random.default_rng(0).normal(size=(3, 5, 30))  # independent noise per measure


def absent(experiment, against, related: bool, seeds=MANY):
    """c and a final metric over 5 α × `seeds` runs, independent or strongly related."""
    c = 3 + NOISE[0, :, : len(seeds)]
    metric = (c if related else 3 + NOISE[1, :, : len(seeds)]) / 10
    regimes = ("steady",) * 5 if experiment != ISING else None

    def build(ctx):
        if experiment == ISING:
            syn.regimes(ctx, ISING, "ising", syn.MOD_ALPHAS, ("steady",) * 5, seeds=seeds)
            syn.final_pruning(ctx, ISING, syn.MOD_ALPHAS, c, seeds)
            syn.final_metrics(ctx, ISING, **{against: syn.per_run(syn.MOD_ALPHAS, metric, seeds)})
        else:
            pruned(experiment, c, regimes, {against: metric}, seeds)(ctx)
    return build


def wd_pruned(wd_c, main_c=(2.0, 2.0, 2.0, 2.0, 5.0)):
    def build(ctx):
        pruned(WD, wd_c)(ctx)
        pruned(MODADD, main_c)(ctx)
    return build


def ipr_collapse(wd, main):
    def build(ctx):
        wd_pruned((25.0, 2.0, 2.0, 2.0, 2.0))(ctx)
        for experiment, value in ((WD, wd), (MODADD, main)):  # α 0.1 the most compressible, the others apart
            ipr = syn.per_run(syn.MOD_ALPHAS, [value, 0.3, 0.3, 0.3, 0.3], syn.SEEDS)
            syn.put(ctx, ("compression_measures", experiment), xr.Dataset({"ipr_output": ipr}))
    return build


def gini(vacuous: bool):
    """Final mod-add models with normal weights and a Fisher diagonal that is heavy-tailed, or 75% exact zeros
    and flat otherwise (its Gini over all entries is high only because of the zeros)."""
    def build(ctx):
        rng = np.random.default_rng(0)
        shape = (1, 2, 1, n_params("modadd"))
        fim = (rng.random(shape) < 0.25) * rng.uniform(1.0, 1.1, shape) if vacuous else rng.lognormal(0, 3, shape)
        dims = ("alpha", "seed", "checkpoint", "param")
        syn.store(ctx, MODADD, "modadd", (10.0,), (0, 1), checkpoints=[100],
                  theta=(dims, rng.normal(size=shape)), fim_diag=(dims, fim))
    return build


def measures(experiment, related: dict | None = None, seeds=MANY, **given):
    """Compression measures of every final model: compressibility c = 3 + noise, the others independent
    noise unless `related` names them (their sign: +1 rises with c, −1 falls) or `given` sets them per α."""
    c = 3 + NOISE[0]

    def build(ctx):
        syn.modadd(ctx, experiment, ("steady",) * 5 if experiment != BS200 else syn.MOD_REGIMES, seeds=seeds)
        names = ("ipr_input", "ipr_output", "weight_gini", "fisher_gini", "train_loss", "test_loss")
        values = {name: 1 + 0.1 * NOISE[1 + i % 2] for i, name in enumerate(names)}
        values.update({name: 3 + sign * c for name, sign in (related or {}).items()})
        values.update(given)
        values["compressibility"] = c
        syn.put(ctx, ("compression_measures", experiment), xr.Dataset(
            {k: syn.per_run(syn.MOD_ALPHAS, v, seeds) for k, v in values.items()}))
        syn.put(ctx, ("llc", experiment), syn.per_run(syn.MOD_ALPHAS, values.pop("llc", 1 + NOISE[2]), seeds))
    return build


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "tradeoff-modadd": (pruned(MODADD, [2, 3, 4, 9, 9], against={"train_loss": [0.1, 0.2, 0.3, 0.1, 0.1]}),
                        pruned(MODADD, [4, 3, 2, 9, 9], against={"train_loss": [0.1, 0.2, 0.3, 0.1, 0.1]})),
    "tradeoff-ising-absent": (absent(ISING, "train_loss", False), absent(ISING, "train_loss", True)),
    "tradeoff-bs200-absent": (absent(BS200, "train_loss", False), absent(BS200, "train_loss", True)),
    "tradeoff-test-loss-absent": (absent(MODADD, "test_loss", False), absent(MODADD, "test_loss", True)),
    "compress-falls-with-alpha": (pruned(MODADD, [5, 4, 3, 2, 2]), pruned(MODADD, [3, 4, 5, 2, 2])),
    "compress-flat-grok": (pruned(MODADD, [5, 4, 3, 2, 2]), pruned(MODADD, [5, 4, 3, 2, 4])),
    "compress-25x-wd": (wd_pruned((25.0, 3, 2, 2, 2)), wd_pruned((10.0, 3, 2, 2, 2))),
    "compress-5x-main": (wd_pruned((25.0, 3, 2, 2, 2)), wd_pruned((25.0, 3, 2, 2, 2), (20.0, 2, 2, 2, 2))),
    "prune-95-wd": (wd_pruned((20.0, 3, 2, 2, 2)), wd_pruned((5.0, 3, 2, 2, 2))),
    "ipr-collapse-wd": (ipr_collapse(0.05, 0.5), ipr_collapse(0.4, 0.5)),
    "gini-fisher-above-weights": (gini(vacuous=False), gini(vacuous=True)),
    "llc-unrelated-to-c": (measures(MODADD), measures(MODADD, {"llc": 1})),
    "weight-gini-tracks-c": (measures(MODADD, {"weight_gini": 1}), measures(MODADD, {"weight_gini": -1})),
    "ipr-compressive-lower": (measures(MODADD, {"ipr_input": -1, "ipr_output": -1}),
                              measures(MODADD, {"ipr_input": -1})),
    "ipr-bs200-grok-learn-equal": (measures(BS200), measures(BS200, ipr_input=[0.2, 0.2, 0.2, 0.2, 0.4])),
    "wd-losses-anticorrelate-c": (measures(WD, {"train_loss": -1, "test_loss": -1}),
                                  measures(WD, {"train_loss": -1, "test_loss": 1})),
}

UNTESTABLE = {  # key: a case the data cannot decide, which must say so rather than agree or differ
    "tradeoff-ising-absent": absent(ISING, "train_loss", False, seeds=(0, 1)),  # 10 runs: the CI is too wide
    "compress-25x-wd": wd_pruned((np.inf, np.inf, np.inf, np.inf, np.inf)),  # no pruning curve ever drops
    "prune-95-wd": wd_pruned((np.nan, np.nan, np.nan, np.nan, np.nan)),  # A(0) = 0: c undefined
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, test_undecidable_claims_are_not_testable = (
    syn.claim_tests(claims_compression, CASES, UNTESTABLE))
