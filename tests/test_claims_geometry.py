"""Tests of repro.figures.claims_geometry: the Fisher geometry of the trajectories, verdicts both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from repro.figures import claims_geometry

ISING, DYN = syn.ISING, "modadd-dynamics"
UP, DOWN = np.linspace(0.0, 1.0, 100), np.linspace(1.0, 0.0, 100)
ISING_EPOCHS, MODADD_EPOCHS = np.arange(0, 10_001, 100), np.arange(0, 101)


@pytest.mark.parametrize("values, last, expected", [
    ([4.0, 3.0, 2.0, 1.0], False, 4.0), ([4.0, 3.0, 2.0, 1.0], True, 1.0),
    ([5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0], True, 5.0), ([2.0], True, 2.0),
])
def test_quarter_means(values, last, expected):
    assert claims_geometry.quarter_mean(np.array(values), last) == expected
    assert math.isnan(claims_geometry.quarter_mean(np.array([]), last))


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
            syn.put_per_alpha(ctx, ("step_measures", experiment), syn.steps({k: syn.series((10.0, 0.1), v)
                                                                             for k, v in measures.items()}))
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
        syn.put_per_alpha(ctx, ("step_measures", experiment), syn.steps({k: syn.series((10.0, 0.1), v, epochs=epochs)
                                                                         for k, v in curves_.items()}))
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
            measures = xr.Dataset({"magnitude": magnitude.expand_dims(seed=[0])})
            syn.put_per_alpha(ctx, ("step_measures", experiment), measures)
    return build


def in_both(alpha, metric, subspace, values):
    return {(e, alpha, metric, subspace): values for e in (ISING, DYN)}


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "ising-cosine-peak": (trajectory({"cosine": (syn.PEAK * 0.95, syn.PEAK / 2)}), trajectory({"cosine": (syn.PEAK / 2,
                                                                                                  syn.PEAK / 2)})),
    "ising-cosine-peak-higher": (trajectory({"cosine": (syn.PEAK, syn.PEAK / 2)}), trajectory({"cosine": (syn.PEAK / 2,
                                                                                                   syn.PEAK)})),
    "cosine-peak-later-ising": (trajectory({"cosine": (syn.PEAK, DOWN)}), trajectory({"cosine": (DOWN, syn.PEAK)})),
    "cosine-peak-later-modadd": (trajectory({}, {"cosine": (syn.PEAK, DOWN)}), trajectory({}, {"cosine": (DOWN,
                                                                                                     syn.PEAK)})),
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
    "fisher-separates-regimes": (steps({(ISING, 10.0, "fisher", "all"): 10 * FALLING}),
                                 steps({(ISING, 10.0, "euclid", "all"): 10 * FALLING})),
    "step-magnitude-decreases": (steps(), steps({(DYN, 0.1, "fisher", "all"): FALLING[::-1]})),
    "grok-steps-start-larger": (steps(in_both(10.0, "fisher", "all", np.r_[5.0, FALLING[1:]])), steps()),
    "stiff-steps-above-sloppy": (steps({**in_both(10.0, "fisher", "stiff", 2 * FALLING),
                                        **in_both(0.1, "fisher", "stiff", 2 * FALLING)}),
                                 steps(in_both(10.0, "fisher", "stiff", 2 * FALLING))),
    "grok-stiff-sloppy-cross": (steps(in_both(10.0, "fisher", "stiff", np.full(100, 0.6))), steps()),
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, _ = syn.claim_tests(claims_geometry, CASES)
