"""Tests of the appendices' claims (repro.figures.claims_*): registered and evaluated on the tiny stores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from repro.figures import claims, claims_fisher, claims_geometry, pipeline, stats


def _appendix_keys() -> list[str]:
    """The appendix's claims (the main text's are tested in test_claims), in registration order."""
    assert pipeline.claims is claims  # importing the pipeline registers every claim
    return [key for key in claims.CLAIMS if key in CASES]


def test_appendix_claims_are_registered_once_with_their_section():
    keys = _appendix_keys()
    assert len(keys) == len(set(keys)) >= 20
    for key in keys:
        spec = claims.CLAIMS[key]
        assert spec.section.startswith("App"), key
        assert spec.paper and spec.tolerance and spec.experiments


def test_every_appendix_claim_gets_a_verdict_on_the_tiny_grid(tiny_context):
    results = claims.evaluate_claims(tiny_context, _appendix_keys())
    assert [r.key for r in results] == _appendix_keys()
    for r in results:
        assert r.verdict in claims.VERDICTS[:3], (r.key, r.verdict, r.detail)
        assert r.ours


@pytest.mark.parametrize("spectrum, size, position", [
    (np.r_[np.full(6, 1e-6), np.full(4, 1e-2)], 4.0, 0.5),
    (np.r_[0.0, 0.0, 1e-3, 1e-2, 1e-1, 1.0], 1.0, 2 / 6),  # zeros are not a gap
    (np.logspace(-4, 0, 5), 1.0, 0.0),
])
def test_spectrum_gap_finds_the_largest_jump_in_decades(spectrum, size, position):
    found = claims_fisher.spectrum_gap(spectrum)
    assert found == pytest.approx((size, position))


def test_spectrum_gap_is_undefined_without_two_positive_values():
    assert all(math.isnan(v) for v in claims_fisher.spectrum_gap(np.array([0.0, 0.0, 1.0])))


def test_spectrum_gap_spans_a_share_of_the_ranks_and_ignores_the_far_tail():
    # 1000 values: a rise of 3 decades spread over 5 ranks is one gap at 1% of the ranks
    spectrum = np.r_[np.full(500, 1e-3), np.logspace(-3, 0, 7)[1:-1], np.full(495, 1.0)]
    size, position = claims_fisher.spectrum_gap(spectrum)
    assert size == pytest.approx(3.0) and 0.49 <= position <= 0.5
    tail = np.r_[1e-30, 1e-20, spectrum[2:]]  # far below 1e-6 of the largest: not a gap
    assert claims_fisher.spectrum_gap(tail)[0] == pytest.approx(3.0)


@pytest.mark.parametrize("x, y, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, np.nan, 4, np.inf], [1, 2, 3, 4, 5], 1.0),  # non-finite pairs are left out
])
def test_spearman_over_finite_pairs(x, y, expected):
    rho, n = stats.spearman(x, y)
    assert rho == pytest.approx(expected)
    assert n == np.sum(np.isfinite(x) & np.isfinite(y))


def test_spearman_is_undefined_below_three_points_or_without_spread():
    assert math.isnan(stats.spearman([1, 2], [1, 2])[0])
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3])[0])


@pytest.mark.parametrize("values, last, expected", [
    ([4.0, 3.0, 2.0, 1.0], False, 4.0), ([4.0, 3.0, 2.0, 1.0], True, 1.0),
    ([5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0], True, 5.0), ([2.0], True, 2.0),
])
def test_quarter_means(values, last, expected):
    assert claims_geometry.quarter_mean(np.array(values), last) == expected
    assert math.isnan(claims_geometry.quarter_mean(np.array([]), last))


def test_ratio_never_raises():
    assert claims.ratio(1.0, 0.0) == math.inf
    assert math.isnan(claims.ratio(math.nan, 0.0))


# ------------------------------------------------------------------ every claim both ways, on synthetic data

ISING, MODADD, WD, BS200, DYN = syn.ISING, syn.MODADD, "modadd-wd", "modadd-bs200", "modadd-dynamics"
MANY = tuple(range(30))  # 5 α × 30 seeds: enough runs for the absence test to decide
NOISE = np.random.default_rng(0).normal(size=(3, 5, 30))


def seed_fails(failing: bool):
    grok = ("grok", "grok", "steady") if failing else "grok"
    return lambda ctx: syn.ising(ctx, ("steady", "steady", grok, grok))


def variability(grok_acc, learn_acc):
    def build(ctx):
        syn.ising(ctx)
        acc = [learn_acc, [1.0] * 3, [1.0] * 3, grok_acc]
        syn.final_metrics(ctx, ISING, test_acc=syn.per_run(syn.ISING_ALPHAS, acc))
    return build


def training_time(experiment, learn_settles, grok_settles):
    """Train losses that settle (drop to their final value) at the given epochs; other α settle at 50."""
    alphas = syn.ISING_ALPHAS if experiment == ISING else syn.MOD_ALPHAS
    settle = np.full(len(alphas), 50)
    settle[0], settle[-1] = learn_settles, grok_settles
    loss = np.where(np.arange(100) >= settle[:, None], 0.1, 1.0)[:, None, :]

    def build(ctx):
        (syn.ising if experiment == ISING else syn.modadd)(ctx, train_loss=loss)
    return build


def domain_walls(walls: int):
    """100 ordered 4×4 snapshots of which `walls` have |m| < 0.5, and 50 disordered ones."""
    def build(ctx):
        from grokcore.data.ising_io import ising_store_path
        from repro.grid import ising_params

        path = ising_store_path(ising_params(ctx.experiment(ISING)), ctx.data_dir)
        path.mkdir(parents=True)
        magnetization = np.r_[np.full(walls, 4.0), np.full(100 - walls, 16.0), np.zeros(50)]
        syn.put(ctx, ("ising_source", str(path)), xr.Dataset(
            {"magnetization": ("sample", magnetization), "phase": ("sample", np.r_[np.ones(100), np.zeros(50)]),
             "spins": (("sample", "y", "x"), np.ones((150, 4, 4)))}))
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


def spectra(gap: bool):
    spectrum = np.r_[np.full(500, 1e-4), np.ones(500)] if gap else np.logspace(-4, 0, 1000)

    def build(ctx):
        for experiment in (ISING, DYN):
            syn.put(ctx, ("fisher_spectra", experiment), xr.DataArray(
                np.stack([spectrum, spectrum]), dims=("alpha", "rank"), coords={"alpha": [10.0, 0.1]}))
    return build


def fisher_vs_magnitude(experiment, fisher_c, magnitude_c):
    def build(ctx):
        (syn.ising if experiment == ISING else syn.modadd)(ctx)
        alphas = syn.ISING_ALPHAS if experiment == ISING else syn.MOD_ALPHAS
        syn.fisher_pruning(ctx, experiment, alphas, [fisher_c] * len(alphas))
        syn.final_pruning(ctx, experiment, alphas, [magnitude_c] * len(alphas))
        syn.final_pruning(ctx, experiment, alphas, [magnitude_c] * len(alphas),
                          key=("magnitude_pruning", experiment, "global", None))
    return build


def grok_advantage(ising_ratio):
    def build(ctx):
        syn.ising(ctx)
        syn.modadd(ctx)
        syn.fisher_pruning(ctx, ISING, syn.ISING_ALPHAS, [2.0, 2.0, 2.0, 2.0 * ising_ratio])
        syn.fisher_pruning(ctx, MODADD, syn.MOD_ALPHAS, [2.0] * 5)
    return build


def global_artefact(global_c, fc1_c):
    def build(ctx):
        syn.ising(ctx)
        alphas = syn.ISING_ALPHAS
        for scheme, layer, c in (("per_layer", None, 3.0), ("global", None, global_c), ("layer", "fc1.weight", fc1_c),
                                 ("layer", "conv1.weight", 3.0)):
            syn.final_pruning(ctx, ISING, alphas, [c] * len(alphas), key=("magnitude_pruning", ISING, scheme, layer))
    return build


FALLING = np.linspace(1.1, 0.1, 100)


def steps(changes: dict | None = None):
    """Seed-mean step magnitudes over 100 checkpoints, every curve FALLING unless `changes` maps
    (experiment, α, metric, subspace) to another series."""
    def build(ctx):
        for experiment, task in ((ISING, "ising"), (DYN, "modadd")):
            syn.regimes(ctx, experiment, task, (0.1, 10.0), ("steady", "grok"))
            magnitude = xr.DataArray(np.broadcast_to(FALLING[None, :, None, None], (2, 100, 2, 3)).copy(),
                                     dims=("alpha", "checkpoint", "metric", "subspace"),
                                     coords={"alpha": [10.0, 0.1], "checkpoint": np.arange(100),
                                             "metric": ["fisher", "euclid"], "subspace": ["all", "stiff", "sloppy"]})
            for (e, alpha, metric, subspace), values in (changes or {}).items():
                if e == experiment:
                    magnitude.loc[{"alpha": alpha, "metric": metric, "subspace": subspace}] = values
            syn.put(ctx, ("step_measures", experiment), xr.Dataset({"magnitude": magnitude.expand_dims(seed=[0])}))
    return build


def in_both(alpha, metric, subspace, values):
    return {(e, alpha, metric, subspace): values for e in (ISING, DYN)}


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "ising-seed-fails-to-grok": (seed_fails(True), seed_fails(False)),
    "ising-variability-grows-with-alpha": (variability([1.0, 0.9, 0.95], [1.0] * 3),
                                           variability([1.0] * 3, [1.0, 0.97, 0.99])),
    "ising-training-time-grows": (training_time(ISING, 80, 20), training_time(ISING, 20, 80)),
    "modadd-training-time-grows": (training_time(MODADD, 80, 20), training_time(MODADD, 20, 80)),
    "ising-domain-walls": (domain_walls(10), domain_walls(0)),
    "ising-energy-deepens": (syn.correlations(*[{"conv1": (0.3, 0.1, 0.2), "conv2": (0.6, 0.1, 0.2)}] * 2),
                             syn.correlations()),
    "ising-grok-noisier": (syn.correlations(grok=[{"fc1": (0.5, 0.1, 0.9)}, {}, {}]), syn.correlations()),
    "llc-unrelated-to-c": (measures(MODADD), measures(MODADD, {"llc": 1})),
    "weight-gini-tracks-c": (measures(MODADD, {"weight_gini": 1}), measures(MODADD, {"weight_gini": -1})),
    "ipr-compressive-lower": (measures(MODADD, {"ipr_input": -1, "ipr_output": -1}),
                              measures(MODADD, {"ipr_input": -1})),
    "ipr-bs200-grok-learn-equal": (measures(BS200), measures(BS200, ipr_input=[0.2, 0.2, 0.2, 0.2, 0.4])),
    "wd-losses-anticorrelate-c": (measures(WD, {"train_loss": -1, "test_loss": -1}),
                                  measures(WD, {"train_loss": -1, "test_loss": 1})),
    "fisher-spectrum-gaps": (spectra(gap=True), spectra(gap=False)),
    "fisher-prune-worse-ising": (fisher_vs_magnitude(ISING, 2.0, 5.0), fisher_vs_magnitude(ISING, 5.0, 2.0)),
    "fisher-prune-worse-modadd": (fisher_vs_magnitude(MODADD, 2.0, 5.0), fisher_vs_magnitude(MODADD, 5.0, 2.0)),
    "fisher-prune-no-grok-advantage": (grok_advantage(1.05), grok_advantage(2.0)),
    "ising-global-pruning-artefact": (global_artefact(5.0, 5.0), global_artefact(2.0, 5.0)),
    "fisher-separates-regimes": (steps({(ISING, 10.0, "fisher", "all"): 10 * FALLING}),
                                 steps({(ISING, 10.0, "euclid", "all"): 10 * FALLING})),
    "step-magnitude-decreases": (steps(), steps({(DYN, 0.1, "fisher", "all"): FALLING[::-1]})),
    "grok-steps-start-larger": (steps(in_both(10.0, "fisher", "all", np.r_[5.0, FALLING[1:]])), steps()),
    "stiff-steps-above-sloppy": (steps({**in_both(10.0, "fisher", "stiff", 2 * FALLING),
                                        **in_both(0.1, "fisher", "stiff", 2 * FALLING)}),
                                 steps(in_both(10.0, "fisher", "stiff", 2 * FALLING))),
    "grok-stiff-sloppy-cross": (steps(in_both(10.0, "fisher", "stiff", np.full(100, 0.6))), steps()),
}


@pytest.mark.parametrize(("key", "case", "expected"), syn.both_ways(CASES))
def test_claim_verdict_both_ways(key, case, expected, tmp_path):
    result = syn.verdict(key, CASES[key][case], tmp_path)
    assert result.verdict == expected, (result.verdict, result.ours, result.detail)


