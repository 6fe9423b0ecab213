"""Tests of repro.figures.claims and the main text's claims: the report from the tiny stores, its verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from grokcore.measures import fourier
from grokcore.models import n_params
from repro.figures import claims, claims_development, runs

REQUIRED = ["onset-ising", "onset-modadd", "modadd-all-100", "ising-fc-energy-grok", "ising-fc-energy-learn",
            "ising-fc-absmag-grok", "ising-fc-absmag-learn", "ipr-grok", "ipr-learn", "tradeoff-modadd",
            "tradeoff-ising-absent", "tradeoff-bs200-absent", "tradeoff-test-loss-absent", "compress-25x-wd",
            "compress-5x-main", "transient-learn", "transient-grok", "plateau-ising-flat",
            "plateau-modadd-rises", "ising-cosine-peak", "ising-origin-grok", "fisher-roots-ising",
            "fisher-roots-modadd"]


@pytest.fixture(scope="module")
def report(tiny_context, tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    md, js = claims.write_report(tiny_context, str(out))
    return md.read_text(), json.loads(js.read_text())


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """Cells of each claim row of the Markdown table, keyed by the claim; escaped pipes kept as text."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| claim "):
            cells = [c.strip().replace("\\|", "|") for c in line.replace("\\|", "\0").strip("|").split("|")]
            cells = [c.replace("\0", "|") for c in cells]
            rows[cells[0]] = cells
    return rows


def test_every_registered_claim_has_a_verdict_tolerance_and_paper_value(report):
    _, data = report
    assert [c["key"] for c in data["claims"]] == list(claims.CLAIMS)
    assert set(REQUIRED) <= set(claims.CLAIMS)
    for row in data["claims"]:
        assert row["verdict"] in claims.VERDICTS
        assert row["tolerance"] and row["paper"] and row["ours"] and row["scale"] == "tiny"
    assert sum(data["counts"].values()) == len(claims.CLAIMS)


def test_markdown_and_json_agree(report):
    markdown, data = report
    rows = _table_rows(markdown)
    assert list(rows) == [c["key"] for c in data["claims"]]
    for row in data["claims"]:
        key, section, statement, paper, ours, tolerance, verdict = rows[row["key"]]
        assert (section, statement, paper, ours, tolerance, verdict) == (
            row["section"], row["statement"], row["paper"], row["ours"], row["tolerance"], row["verdict"])


def test_claims_of_unrun_experiments_are_not_run_at_this_scale(ising_only_context):
    keys = ["onset-ising", "onset-modadd", "compress-5x-main"]
    by_key = {r.key: r for r in claims.evaluate_claims(ising_only_context, keys)}
    assert by_key["onset-ising"].verdict in claims.VERDICTS[:3]  # tiny Ising runs may not learn at all
    for key, experiment in (("onset-modadd", "modadd-main"), ("compress-5x-main", "modadd-wd")):
        assert by_key[key].verdict == "not run at this scale"
        assert f"repro run {experiment} --scale tiny" in by_key[key].detail


def test_outcome_without_a_judgement_is_not_testable(tiny_context):
    key = "test-untestable"
    claims.claim(key, "§0", "a claim the grid cannot test", paper="x", tolerance="y", experiments=())(
        lambda ctx: claims.Outcome(None, "too few points"))
    try:
        (result,) = claims.evaluate_claims(tiny_context, [key])
        assert result.verdict == "not testable at this scale" and result.ours == "too few points"
    finally:
        del claims.CLAIMS[key]


def test_duplicate_and_unknown_claims_are_refused(tiny_context):
    with pytest.raises(ValueError, match="registered twice"):
        claims.claim("onset-ising", "§3", "", paper="", tolerance="", experiments=())(lambda ctx: None)
    with pytest.raises(ValueError, match="no-such-claim"):
        claims.evaluate_claims(tiny_context, ["no-such-claim"])


def test_summary_is_mean_and_sample_std_of_finite_values():
    assert claims.summary([1.0, 3.0, np.nan, np.inf]) == (2.0, pytest.approx(np.sqrt(2)), 2)
    assert claims.summary([5.0]) == (5.0, 0.0, 1)
    assert np.isnan(claims.summary([np.nan])[0])


ACC_EPOCHS = np.arange(1, 101, dtype=float)
TRAIN = np.where(ACC_EPOCHS >= 10, 1.0, 0.5)  # t_train = 10
TEST = np.where(ACC_EPOCHS >= 60, 0.95, 0.1)  # the test accuracy jumps at epoch 60
EPOCHS = np.arange(0, 101, 5, dtype=float)


@pytest.mark.parametrize("measure, expected", [
    (np.where(EPOCHS >= 60, 1.0, 0.0), 0.0),  # develops only at the jump: flat plateau
    (np.clip((EPOCHS - 10) / 50, 0, 1), 45 / 50),  # rises linearly through the plateau [10, 60)
    (-np.clip((EPOCHS - 10) / 50, 0, 1), -45 / 50),
])
def test_plateau_progress(measure, expected):
    assert claims_development.plateau_progress(EPOCHS, measure, ACC_EPOCHS, TRAIN, TEST) == pytest.approx(expected)


def test_plateau_progress_is_nan_without_a_plateau():
    test = np.where(ACC_EPOCHS >= 10, 0.95, 0.1)  # the test accuracy jumps together with the train accuracy
    assert np.isnan(claims_development.plateau_progress(EPOCHS, EPOCHS, ACC_EPOCHS, TRAIN, test))


# ------------------------------------------------------------------ every claim both ways, on synthetic data

ISING, MODADD, WD, BS200, DYN = syn.ISING, syn.MODADD, "modadd-wd", "modadd-bs200", "modadd-dynamics"
MOD_ALPHAS, ISING_ALPHAS, MOD_REGIMES = syn.MOD_ALPHAS, syn.ISING_ALPHAS, syn.MOD_REGIMES
modadd, ising, correlations = syn.modadd, syn.ising, syn.correlations
def onset(experiment, per_alpha):
    def build(ctx):
        (modadd if experiment == MODADD else ising)(ctx, per_alpha=per_alpha, alphas=(0.1, 0.3, 1.0, 3.0))
    return build


def final(experiment, **values):
    """Override final metrics after `modadd`/`ising`: values per α (or α × seed)."""
    def build(ctx):
        (ising if experiment == ISING else modadd)(ctx)
        alphas = ISING_ALPHAS if experiment == ISING else MOD_ALPHAS
        syn.final_metrics(ctx, experiment, **{k: syn.per_run(alphas, v) for k, v in values.items()})
    return build


def ipr(grok, learn, experiment=MODADD):
    """Every IPR variant of the mod-add archetypes at the given seed-mean values."""
    def build(ctx):
        modadd(ctx, experiment)
        for alpha, value in ((10.0, grok), (0.1, learn)):
            syn.put(ctx, ("ipr_variants", experiment, alpha), {
                (b, n): [value] * len(syn.SEEDS) for b in fourier.BASES for n in fourier.NEURON_SETS})
    return build


def pruned(experiment, c, per_alpha=MOD_REGIMES, against=None, seeds=syn.SEEDS):
    """A mod-add grid whose final models have compressibility c (per α or α × seed), and optionally final
    metrics `against` ({name: values})."""
    def build(ctx):
        modadd(ctx, experiment, per_alpha, seeds=seeds)
        syn.final_pruning(ctx, experiment, MOD_ALPHAS, c, seeds)
        syn.final_metrics(ctx, experiment, **{k: syn.per_run(MOD_ALPHAS, v, seeds)
                                              for k, v in (against or {}).items()})
    return build


MANY = tuple(range(30))  # 5 α × 30 seeds: enough runs for the absence test to decide
NOISE = np.random.default_rng(0).normal(size=(2, 5, 30))


def absent(experiment, against, related: bool, seeds=MANY):
    """c and a final metric over 5 α × `seeds` runs, independent or strongly related."""
    c = 3 + NOISE[0, :, : len(seeds)]
    metric = (c if related else 3 + NOISE[1, :, : len(seeds)]) / 10
    regimes = ("steady",) * 5 if experiment != ISING else None

    def build(ctx):
        if experiment == ISING:
            syn.regimes(ctx, ISING, "ising", MOD_ALPHAS, ("steady",) * 5, seeds=seeds)
            syn.final_pruning(ctx, ISING, MOD_ALPHAS, c, seeds)
            syn.final_metrics(ctx, ISING, **{against: syn.per_run(MOD_ALPHAS, metric, seeds)})
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
        for experiment, value in ((WD, wd), (MODADD, main)):
            syn.put(ctx, ("ipr_variants", experiment, 0.1), {
                (b, n): [value] * len(syn.SEEDS) for b in fourier.BASES for n in fourier.NEURON_SETS})
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


def dynamics(experiment, grok, learn, key=None):
    """A grid with the archetypes and a per-checkpoint measure of grokking and learning α (cached under key,
    default the compressibility along the trajectory)."""
    task = "ising" if experiment == ISING else "modadd"

    def build(ctx):
        alphas = (0.1, 10.0)
        epochs = len(grok)
        acc = np.where(np.arange(epochs) >= 20, 1.0, 0.5 if task == "ising" else 0.01)
        syn.regimes(ctx, experiment, task, alphas, ("steady", "grok"), epochs=epochs, test_acc=acc)
        syn.put(ctx, key or ("dynamics_compressibility", experiment, (10.0, 0.1)), syn.series(
            (10.0, 0.1), [grok, learn]))
    return build


def trajectory(ising_curves, modadd_curves=None, test_jump=20):
    """Trajectory measures {name: (grok, learn)} over 100 checkpoints of Ising and mod-add-dynamics; the
    grokking α's test accuracy jumps at `test_jump`."""
    flat = np.linspace(1, 0.1, 100)
    defaults = {"magnitude": (flat, flat), "cosine": (flat / 2, flat / 2), "origin_cosine": (flat * 0, flat * 0)}

    def build(ctx):
        for experiment, task, given in ((ISING, "ising", ising_curves), (DYN, "modadd", modadd_curves or {})):
            acc = np.where(np.arange(100) >= test_jump, 1.0, 0.6 if task == "ising" else 0.2)
            syn.regimes(ctx, experiment, task, (0.1, 10.0), ("steady", "grok"), test_acc=acc)
            measures = {**defaults, **given}
            syn.put(ctx, ("step_measures", experiment), syn.steps({k: syn.series((10.0, 0.1), v)
                                                                   for k, v in measures.items()}))
    return build


def plateau(experiment, measure):
    """Train accuracy saturates at epoch 10, test accuracy jumps at 60; `measure` over checkpoints 0, 5, …, 100
    of the grokking α (the learning α flat)."""
    task = "ising" if experiment == ISING else "modadd"

    def build(ctx):
        epochs = np.arange(101)
        train = np.where(epochs + 1 >= 10, 1.0, 0.5)
        test = np.where(epochs + 1 >= 60, 0.95, 0.1 if task == "modadd" else 0.6)
        syn.regimes(ctx, experiment, task, (0.1, 10.0), ("steady", "grok"), epochs=101, train_acc=train,
                    test_acc=test, final_acc=(1.0, 0.95))
        series = syn.series((10.0, 0.1), [measure, np.zeros(21)], epochs=np.arange(0, 101, 5))
        if experiment == ISING:
            rho = series.expand_dims(layer=["conv1", "conv2", "fc1"], feature=["energy", "magnetization",
                                                                                "abs_magnetization"], axis=(-2, -1))
            syn.put(ctx, ("feature_dynamics", ISING, (10.0, 0.1)), xr.Dataset({"weighted_correlation": rho}))
        else:
            syn.put(ctx, ("ipr_dynamics", DYN, (10.0, 0.1), "output"), series)
    return build


def roots(experiment, epochs, low, high):
    """Step magnitudes of the grokking α with a minimum at `low` and a maximum at `high` (None: monotone)."""
    if low is None:
        magnitude = np.linspace(2, 1, epochs.size)
    else:
        magnitude = np.interp(epochs, [epochs[0], low, high, epochs[-1]], [2.0, 0.5, 1.5, 1.0])
    curves_ = {"magnitude": (magnitude, np.linspace(2, 1, epochs.size))}

    def build(ctx):
        trajectory({}, {})(ctx)
        syn.put(ctx, ("step_measures", experiment), syn.steps({k: syn.series((10.0, 0.1), v, epochs=epochs)
                                                               for k, v in curves_.items()}))
    return build


UP, DOWN = np.linspace(0.0, 1.0, 100), np.linspace(1.0, 0.0, 100)
PEAK = np.r_[np.linspace(0.2, 1.0, 30), np.linspace(1.0, 0.8, 70)]  # peaks at checkpoint 29, ends 20% lower
ISING_EPOCHS, MODADD_EPOCHS = np.arange(0, 10_001, 100), np.arange(0, 101)

CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "onset-ising": (onset(ISING, ("did-not-learn", "steady", "grok", "grok")), onset(ISING, ("grok", "steady",
                                                                                                "grok", "grok"))),
    "onset-modadd": (onset(MODADD, ("steady", "steady", "grok", "grok")), onset(MODADD, ("steady",) * 4)),
    "modadd-all-100": (final(MODADD), final(MODADD, test_acc=[[1, 1, 1]] * 4 + [[1, 1, 0.98]])),
    "modadd-loss-spread": (final(MODADD), final(MODADD, train_loss=[[0.1, 0.1, 0.12]] + [[0.1] * 3] * 4)),
    "ising-acc-spread": (final(ISING), final(ISING, train_acc=[[1, 1, 0.9]] + [[1] * 3] * 3)),
    "ising-loss-spread": (final(ISING, test_loss=[[0.1, 0.1, 0.2]] * 4), final(ISING)),
    "ising-fc-energy-grok": (correlations(), correlations(grok={"fc1": (0.7, 0.1, 0.9)})),
    "ising-fc-energy-learn": (correlations(), correlations(learn={"fc1": (0.9, 0.1, 0.9)})),
    "ising-fc-absmag-grok": (correlations(), correlations(grok={"fc1": (0.99, 0.1, 0.5)})),
    "ising-fc-absmag-learn": (correlations(), correlations(learn={"fc1": (0.99, 0.1, 0.75)})),
    "ising-energy-majority": (correlations(), correlations(learn=[{}, {"conv2": (0.5, 0.1, 0.9)}, {}])),
    "ipr-grok": (ipr(0.43, 0.5), ipr(0.3, 0.5)),
    "ipr-learn": (ipr(0.4, 0.53), ipr(0.4, 0.45)),
    "ipr-order": (ipr(0.4, 0.5), ipr(0.5, 0.4)),
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
    "transient-learn": (dynamics(DYN, PEAK, 1.5 - UP / 2), dynamics(DYN, PEAK, UP)),
    "transient-grok": (dynamics(DYN, 1.67 - UP * 0.67, UP), dynamics(DYN, UP, UP)),
    "plateau-ising-flat": (plateau(ISING, np.where(np.arange(0, 101, 5) >= 60, 1.0, 0.0)),
                           plateau(ISING, np.clip((np.arange(0, 101, 5) - 10) / 50, 0, 1))),
    "plateau-modadd-rises": (plateau(DYN, np.clip((np.arange(0, 101, 5) - 10) / 50, 0, 1)),
                             plateau(DYN, np.where(np.arange(0, 101, 5) >= 60, 1.0, 0.0))),
    "ising-compress-peak": (dynamics(ISING, PEAK, PEAK), dynamics(ISING, PEAK[::-1], PEAK)),
    "ising-cosine-peak": (trajectory({"cosine": (PEAK * 0.95, PEAK / 2)}), trajectory({"cosine": (PEAK / 2,
                                                                                                  PEAK / 2)})),
    "ising-cosine-peak-higher": (trajectory({"cosine": (PEAK, PEAK / 2)}), trajectory({"cosine": (PEAK / 2,
                                                                                                   PEAK)})),
    "cosine-peak-later-ising": (trajectory({"cosine": (PEAK, DOWN)}), trajectory({"cosine": (DOWN, PEAK)})),
    "cosine-peak-later-modadd": (trajectory({}, {"cosine": (PEAK, DOWN)}), trajectory({}, {"cosine": (DOWN,
                                                                                                     PEAK)})),
    "ising-origin-grok": (trajectory({"origin_cosine": (DOWN, DOWN * 0)}),
                          trajectory({"origin_cosine": (UP, UP * 0)})),
    "ising-origin-learn": (trajectory({"origin_cosine": (DOWN, np.where(np.arange(100) < 20, -0.5, 0.5))}),
                           trajectory({"origin_cosine": (DOWN, DOWN)})),  # negative only before grokking's t_test
    "origin-late-zero": (trajectory({"origin_cosine": (DOWN**4, DOWN**4)}), trajectory({}, {"origin_cosine": (DOWN,
                                                                                                         UP)})),
    "origin-modadd-lower": (trajectory({"origin_cosine": (DOWN, DOWN)}, {"origin_cosine": (DOWN / 2, DOWN)}),
                            trajectory({"origin_cosine": (DOWN / 2, DOWN)}, {"origin_cosine": (DOWN, DOWN)})),
    "fisher-roots-ising": (roots(ISING, ISING_EPOCHS, 2300, 6300), roots(ISING, ISING_EPOCHS, 4300, 8300)),
    "fisher-roots-modadd": (roots(DYN, MODADD_EPOCHS, 20, 47), roots(DYN, MODADD_EPOCHS, None, None)),
}


@pytest.mark.parametrize(("key", "case", "expected"), syn.both_ways(CASES))
def test_claim_verdict_both_ways(key, case, expected, tmp_path):
    result = syn.verdict(key, CASES[key][case], tmp_path)
    assert result.verdict == expected, (result.verdict, result.ours, result.detail)


UNTESTABLE = {  # key: a case the data cannot decide, which must say so rather than agree or differ
    "onset-ising": onset(ISING, ("did-not-learn",) * 3 + ("grok",)),
    "tradeoff-ising-absent": absent(ISING, "train_loss", False, seeds=(0, 1)),  # 10 runs: the CI is too wide
    "compress-25x-wd": wd_pruned((np.inf, np.inf, np.inf, np.inf, np.inf)),  # no pruning curve ever drops
    "prune-95-wd": wd_pruned((np.nan, np.nan, np.nan, np.nan, np.nan)),  # A(0) = 0: c undefined
    "ipr-learn": ipr(0.4, np.nan),
}


@pytest.mark.parametrize("key", UNTESTABLE)
def test_claim_is_not_testable_where_its_data_cannot_decide(key, tmp_path):
    result = syn.verdict(key, UNTESTABLE[key], tmp_path)
    assert result.verdict == "not testable at this scale", (result.verdict, result.ours, result.detail)
    assert "e+15" not in result.ours and "inf" not in result.ours


def test_a_claim_that_raises_is_reported_and_the_others_still_judged(tmp_path):
    ctx = syn.context(tmp_path)
    final(MODADD)(ctx)
    syn.put(ctx, ("final_metrics", MODADD), runs.final_metrics(ctx, MODADD).drop_vars("train_loss"))
    results = {r.key: r for r in claims.evaluate_claims(ctx, ["modadd-loss-spread", "modadd-all-100"])}
    assert results["modadd-loss-spread"].verdict == "could not be evaluated"
    assert "train_loss" in results["modadd-loss-spread"].detail
    assert results["modadd-all-100"].verdict == "agrees"


def test_every_claim_has_both_cases():
    import test_appendix_claims  # the appendix claims' cases

    assert sorted(claims.CLAIMS) == sorted({*CASES, *test_appendix_claims.CASES})
