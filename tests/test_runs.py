"""Tests of repro.figures.runs: regimes, archetypes, checkpoints and fits of the runs."""

from __future__ import annotations

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from repro.figures import runs


def test_archetypes_of_a_two_alpha_modadd_grid_are_its_ends(tiny_context):
    arch = runs.archetypes(tiny_context, "modadd-dynamics")
    alphas = runs.alpha_values(tiny_context.results("modadd-dynamics"))
    assert (arch.grok, arch.learn) == (max(alphas), min(alphas))


def test_ising_learning_alpha_is_below_the_grokking_alpha(tiny_context):
    arch = runs.archetypes(tiny_context, "ising-main")
    assert arch.grok == max(runs.alpha_values(tiny_context.results("ising-main"))) and arch.learn < arch.grok


def test_linear_fit_recovers_an_exact_line_and_needs_three_points():
    fit = runs.linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(1) and fit.r2 == pytest.approx(1)
    assert fit.n == 4
    assert np.isnan(runs.linear_fit([0, 1, np.nan], [1, 2, 3]).r2)
    assert runs.linear_fit([1, 2, 3], [1, 3, 2]).r2 == pytest.approx(0.25)


@pytest.mark.parametrize("n", [5, 40])
def test_thin_checkpoints_keeps_ends_and_at_most_about_n(n):
    epochs = np.concatenate([np.arange(500), np.arange(500, 1001, 10)])
    index = runs.thin_checkpoints(epochs, n)
    assert index[0] == 0 and index[-1] == len(epochs) - 1
    assert np.all(np.diff(index) > 0) and len(index) <= n + 2
    np.testing.assert_array_equal(runs.thin_checkpoints(epochs[:4], n), np.arange(4))


def test_learned_is_the_last_evaluated_test_accuracy_halfway_above_chance():
    acc = np.full((1, 1, 10), np.nan)
    acc[0, 0, 1::2] = [0.5, 0.6, 0.8, 0.9, 1.0]  # evaluated after epochs 2, 4, 6, 8, 10; chance 0.5 (Ising)
    coords = {"alpha": [1.0], "seed": [0], "epoch": np.arange(10), "checkpoint": [0, 3, 6, 7, 10]}
    ds = xr.Dataset({"test_acc": (("alpha", "seed", "epoch"), acc)}, coords=coords, attrs={"task": "ising"})
    # level 0.75: reached by the evaluation after epoch 6, which also holds at checkpoint 7
    np.testing.assert_array_equal(runs.learned(ds).values[0, 0], [False, False, True, True, True])


@pytest.mark.parametrize(("per_alpha", "grok", "learn"), [
    (("steady", "steady", "grok", "grok"), 3.0, 0.1),
    (("did-not-learn", "steady", "grok", "did-not-learn"), 1.0, 0.3),  # neither archetype may be unlearned
    (("did-not-learn", "did-not-learn", "did-not-learn", "did-not-learn"), 3.0, 0.1),  # nothing learned
    (("steady", "did-not-learn", "did-not-learn", "did-not-learn"), 3.0, 0.1),  # grok ≠ learn
])
def test_ising_archetypes_skip_runs_that_did_not_learn(per_alpha, grok, learn, tmp_path):
    ctx = syn.context(tmp_path)
    syn.ising(ctx, per_alpha)
    assert runs.archetypes(ctx, "ising-main")[:2] == (grok, learn)
    assert runs.majority_regime(ctx, "ising-main") == dict(zip(syn.ISING_ALPHAS, per_alpha, strict=True))


def test_archetypes_name_their_alpha_by_regime_in_column_order():
    arch = runs.Archetypes(10.0, 0.1, "why")
    assert (arch.alpha("grok"), arch.alpha("learn")) == (10.0, 0.1)
    assert arch.columns() == (("grok", "grokking", 10.0), ("learn", "learning", 0.1))


def test_the_plateau_runs_from_t_train_to_the_test_accuracy_jump():
    epochs = np.arange(1, 101, dtype=float)
    train, test = np.where(epochs >= 10, 1.0, 0.5), np.where(epochs >= 60, 0.95, 0.1)
    assert runs.plateau(epochs, train, test) == (10.0, 60.0)
    t_train, t_jump = runs.plateau(epochs, train, np.full(100, np.nan))  # the test set never evaluated
    assert t_train == 10.0 and np.isnan(t_jump)


def test_a_drawn_curve_is_log_thinned_but_keeps_both_ends(tmp_path):
    ctx = syn.context(tmp_path)
    epochs = 3 * runs.CURVE_POINTS
    syn.store(ctx, "ising-main", "ising", (1.0,), epochs=epochs, test_acc=np.linspace(0, 1, epochs))
    x, y = runs.seed_mean_curve(ctx, "ising-main", "test_acc", 1.0)
    assert len(x) <= runs.CURVE_POINTS and (x[0], x[-1]) == (1, epochs) and y.dtype == np.float32
    assert np.all(np.diff(x) > 0) and np.diff(x)[-1] > np.diff(x)[0]  # denser early: the axes are logarithmic
