"""Derived trajectory geometry: Fisher step magnitudes and cosines (Eq. 8-9), Fisher spectra, gradient roots.

Of the grokking and the learning α: the step measures of App. G, the final Fisher spectra of App. F and the
roots of the step-magnitude gradient of App. G.3. No drawing here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from grokcore.measures import geometry, lazy
from repro.figures.registry import Context

# The paper's x-ranges of the trajectory measures (spec §4.8-4.9): Ising to epoch 50,000, mod-add to 200.
TRAJECTORY_LIMIT = {"ising": 50_000, "modadd": 200}


def step_measures(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.Dataset:
    """Trajectory measures of every run of `alphas` (Eq. 8-9, App. G) with both metrics and all three subspaces:
    (alpha, seed, checkpoint, metric, subspace), over the paper's plotted window (TRAJECTORY_LIMIT); the
    stiff/sloppy split uses each run's Fisher at its last checkpoint (§4.11), wherever the window ends. Cached
    per α."""

    def compute(alpha):
        ds = ctx.results(experiment)
        epochs = ds["checkpoint"].values
        inside = int(np.searchsorted(epochs, TRAJECTORY_LIMIT[ds.attrs["task"]], side="right"))
        # one checkpoint past the window, so that the window's last step is defined
        runs = ds[["theta", "fim_diag"]].sel(alpha=[alpha])
        sub = runs.isel(checkpoint=slice(0, min(inside + 1, len(epochs))))
        final = runs["fim_diag"].isel(checkpoint=-1, drop=True)
        measures = lazy.step_measures(sub.assign_attrs(ds.attrs), final=final).compute()
        return measures.isel(checkpoint=slice(0, inside)) if inside > 2 else measures

    return ctx.per_alpha(("step_measures", experiment), alphas, compute)


def seed_mean(ctx: Context, experiment: str, measure: str, alpha: float, metric: str = "fisher",
              subspace: str = "all") -> xr.DataArray:
    """The seed mean of step measure `measure` ("magnitude", "cosine", "origin_cosine", "norm") of α under
    `metric` on `subspace`, (checkpoint,)."""
    values = step_measures(ctx, experiment, [alpha])[measure].sel(alpha=alpha, metric=metric, subspace=subspace)
    return values.mean("seed")


def magnitude_gradient(ctx: Context, experiment: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(e_k, g_k): the discrete gradient of the seed-mean Fisher step magnitude |s_k|_F of α (Fig. 33), g_k at
    e_k, over the checkpoints where the magnitude is defined."""
    magnitude = seed_mean(ctx, experiment, "magnitude", alpha).dropna("checkpoint")
    x = magnitude["checkpoint"].values.astype(float)
    return x[:-1], geometry.discrete_gradient(magnitude.values, x)


def fisher_roots(ctx: Context, experiment: str, alpha: float) -> np.ndarray:
    """Brackets (root, 2) in epochs of the sign changes of `magnitude_gradient` of α (Fig. 33, §4.8)."""
    x, gradient = magnitude_gradient(ctx, experiment, alpha)
    return geometry.sign_change_brackets(gradient, x)


def fisher_spectra(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.DataArray:
    """Seed-mean ascending final Fisher diagonal of each of `alphas` (Fig. 20): (alpha, rank); cached per α."""

    def compute(alpha):
        ds = ctx.results(experiment)
        return lazy.fisher_spectrum(ds[["fim_diag"]].sel(alpha=[alpha])).compute()

    return ctx.per_alpha(("fisher_spectra", experiment), alphas, compute)
