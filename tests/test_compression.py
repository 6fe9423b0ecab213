"""Tests of repro.figures.compression: pruning curves, compressibility and the LLC on the tiny stores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grokcore.measures import pruning
from repro.figures import compression, runs


def test_final_pruning_uses_each_seeds_own_test_set(tiny_context):
    curves = compression.magnitude_pruning(tiny_context, "modadd-main")
    alpha, seed = runs.alpha_values(tiny_context.results("modadd-main"))[0], 1
    x, y = runs.seed_test_set(tiny_context, "modadd-main", seed)
    theta = runs.final_theta(tiny_context, "modadd-main", alpha, seed)
    direct = pruning.pruning_curve("modadd", theta, x, y, compression.pruning_fractions("tiny"))
    np.testing.assert_allclose(curves["acc"].sel(alpha=alpha, seed=seed).values, direct.acc)
    c = compression.final_compressibility(tiny_context, "modadd-main").sel(alpha=alpha, seed=seed)
    np.testing.assert_allclose(float(c), pruning.compressibility(direct.fraction, direct.acc))


def test_pruning_fractions_run_from_zero_to_one():
    for scale, trajectory, size in (("full", False, 101), ("quick", True, 21), ("tiny", False, 11),
                                    ("tiny", True, 6)):
        grid = compression.pruning_fractions(scale, trajectory)
        assert len(grid) == size and grid[0] == 0 and grid[-1] == 1


def test_dynamics_compressibility_is_nan_before_a_run_has_learned(tiny_context):
    arch = runs.archetypes(tiny_context, "modadd-dynamics")
    c = compression.dynamics_compressibility(tiny_context, "modadd-dynamics", (arch.grok, arch.learn))
    done = runs.learned(tiny_context.results("modadd-dynamics"))
    done = done.sel(checkpoint=c["checkpoint"], alpha=c["alpha"])
    assert c.dims == ("alpha", "seed", "checkpoint")
    assert np.isnan(c.values[~done.transpose(*c.dims).values]).all()
    assert np.isfinite(c.values[done.transpose(*c.dims).values]).all() or not done.any()


@pytest.mark.parametrize("experiment", ["ising-main", "modadd-main"])
def test_unpruned_scheme_curves_start_at_the_final_test_accuracy(tiny_context, experiment):
    final = runs.final_metrics(tiny_context, experiment)
    for scheme in ("global", "global_normalised"):
        curves = compression.magnitude_pruning(tiny_context, experiment, scheme)
        np.testing.assert_allclose(curves["acc"].isel(fraction=0).transpose("alpha", "seed"),
                                   final["test_acc"].transpose("alpha", "seed"), atol=1e-6)
        np.testing.assert_allclose(curves["loss"].isel(fraction=0).transpose("alpha", "seed"),
                                   final["test_loss"].transpose("alpha", "seed"), rtol=1e-4)


@pytest.mark.parametrize("experiment, classes", [("ising-main", 2), ("modadd-main", 113)])
def test_fisher_pruning_of_every_parameter_leaves_the_zero_network(tiny_context, experiment, classes):
    curves = compression.fisher_pruning(tiny_context, experiment)
    assert curves["fraction"].values[0] == 0 and curves["fraction"].values[-1] == 1
    np.testing.assert_allclose(curves["loss"].isel(point=-1), math.log(classes), rtol=1e-6)
    for seed in tiny_context.results(experiment)["seed"].values:
        _, y = runs.seed_test_set(tiny_context, experiment, int(seed))
        # all logits 0: argmax picks class 0
        np.testing.assert_allclose(curves["acc"].sel(seed=seed).isel(point=-1), float((y == 0).double().mean()))


def test_per_tensor_fisher_pruning_zeroes_only_that_tensor(tiny_context):
    experiment, tensor = "ising-main", "fc1.bias"
    curves = compression.fisher_pruning(tiny_context, experiment, tensor)
    ds = tiny_context.results(experiment)
    alpha, seed = runs.alpha_values(ds)[0], int(ds["seed"].values[0])
    theta = runs.final_theta(tiny_context, experiment, alpha, seed).copy()
    theta[np.asarray(tiny_context.results(experiment)["param_tensor"].values) == tensor] = 0
    loss, acc = pruning.evaluate_thetas("ising", theta[None], *runs.seed_test_set(tiny_context, experiment, seed))
    np.testing.assert_allclose(curves["loss"].sel(alpha=alpha, seed=seed).isel(point=-1), loss[0], rtol=1e-5)
    np.testing.assert_allclose(curves["acc"].sel(alpha=alpha, seed=seed).isel(point=-1), acc[0])


def test_llc_is_finite_for_every_run_and_reproducible(tiny_context):
    values = compression.llc(tiny_context, "modadd-bs200")
    assert values.dims == ("alpha", "seed") and np.isfinite(values).all()
    tiny_context.forget(("llc", "modadd-bs200"))
    np.testing.assert_array_equal(compression.llc(tiny_context, "modadd-bs200"), values)
