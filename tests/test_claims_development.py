"""Tests of repro.figures.claims_development: transient c and the plateau, verdicts both ways."""

from __future__ import annotations

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from repro.figures import claims_development, runs

ISING, DYN = syn.ISING, "modadd-dynamics"
UP = np.linspace(0.0, 1.0, 100)
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
    progress = claims_development.plateau_progress(EPOCHS, measure, *runs.plateau(ACC_EPOCHS, TRAIN, TEST))
    assert progress == pytest.approx(expected)


def test_plateau_progress_is_nan_without_a_plateau():
    test = np.where(ACC_EPOCHS >= 10, 0.95, 0.1)  # the test accuracy jumps together with the train accuracy
    assert np.isnan(claims_development.plateau_progress(EPOCHS, EPOCHS, *runs.plateau(ACC_EPOCHS, TRAIN, test)))


def dynamics(experiment, grok, learn):
    """A grid with the archetypes and the compressibility along the trajectory of the grokking and learning α."""
    task = "ising" if experiment == ISING else "modadd"

    def build(ctx):
        alphas = (0.1, 10.0)
        epochs = len(grok)
        acc = np.where(np.arange(epochs) >= 20, 1.0, 0.5 if task == "ising" else 0.01)
        syn.regimes(ctx, experiment, task, alphas, ("steady", "grok"), epochs=epochs, test_acc=acc)
        syn.put_per_alpha(ctx, ("dynamics_compressibility", experiment), syn.series((10.0, 0.1), [grok, learn]))
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
            syn.put_per_alpha(ctx, ("feature_dynamics", ISING), xr.Dataset({"weighted_correlation": rho}))
        else:
            syn.put_per_alpha(ctx, ("ipr_dynamics", DYN), series, "output")
    return build


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "transient-learn": (dynamics(DYN, syn.PEAK, 1.5 - UP / 2), dynamics(DYN, syn.PEAK, UP)),
    "transient-grok": (dynamics(DYN, 1.67 - UP * 0.67, UP), dynamics(DYN, UP, UP)),
    "plateau-ising-flat": (plateau(ISING, np.where(np.arange(0, 101, 5) >= 60, 1.0, 0.0)),
                           plateau(ISING, np.clip((np.arange(0, 101, 5) - 10) / 50, 0, 1))),
    "plateau-modadd-rises": (plateau(DYN, np.clip((np.arange(0, 101, 5) - 10) / 50, 0, 1)),
                             plateau(DYN, np.where(np.arange(0, 101, 5) >= 60, 1.0, 0.0))),
    "ising-compress-peak": (dynamics(ISING, syn.PEAK, syn.PEAK), dynamics(ISING, syn.PEAK[::-1], syn.PEAK)),
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, _ = syn.claim_tests(claims_development, CASES)
