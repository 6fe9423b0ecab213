"""Derived compression data: magnitude and Fisher pruning, compressibility c (Eq. 5), the LLC (§4.15).

Magnitude pruning under every scheme (§4.5, App. F.2), Fisher pruning (App. F.1), c of final models and along
trajectories, and the measures Figs 15-19 set against c. No drawing here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from grokcore.measures import geometry, lazy, pruning
from grokcore.measures.llc import local_learning_coefficients
from repro.figures.registry import Context
from repro.figures.runs import (
    DEVICE,
    LinearFit,
    final_metrics,
    learned,
    linear_fit,
    seed_test_set,
    thin_checkpoints,
)

# Checkpoints per α along a trajectory at which pruning curves (Figs 6-7) are evaluated: a pruning curve costs
# ~20-100 test-set evaluations, so the trajectory is thinned (denser early). Compressibility is only evaluated
# once a run has learned (c of a model at chance level is meaningless).
COMPRESSIBILITY_CHECKPOINTS = 30
# SGLD of the local learning coefficient: devinterp's 10,000 steps at full scale, fewer where time is short. Its
# defaults ε = 1e-3, γ = 1 let the mod-add chains leave the basin (chain loss → ln 113, so λ̂ ≈ nβ·ln 113 for
# every run); with ε = 1e-5, γ = 1000 the chain loss stays near L_n(w*) and levels off within ~100 steps.
LLC_STEPS = {"full": 10_000, "quick": 500, "tiny": 8}
LLC_EPSILON, LLC_GAMMA = 1e-5, 1000.0


def pruning_fractions(scale: str, trajectory: bool = False) -> np.ndarray:
    """Pruned fractions p (grid,): 101 points for a final model (spec §4.5), 21 along a trajectory; 11 and 6
    at the tiny smoke-test scale, where only the plumbing is checked."""
    n = (6 if trajectory else 11) if scale == "tiny" else 21 if trajectory else 101
    return np.linspace(0.0, 1.0, n)


def scheme_fractions(scale: str) -> np.ndarray:
    """Pruned fractions of the App. F curves: Fig. 5's grid, every other point at the tiny smoke-test scale."""
    fractions = pruning_fractions(scale)
    return fractions[::2] if scale == "tiny" else fractions


def magnitude_pruning(ctx: Context, experiment: str, scheme: str = "per_layer", layer: str | None = None
                      ) -> xr.Dataset:
    """Magnitude-pruning test acc/loss of every final model under `scheme` (§4.5): (alpha, seed, fraction).

    scheme "per_layer" is the main text's (Fig. 5) on `pruning_fractions`; "global", "global_normalised" and
    "layer" (with `layer`, a weight tensor) are App. F.2's on `scheme_fractions`. Each seed is evaluated on its
    own test set.
    """

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta"]].isel(checkpoint=[-1])
        fractions = pruning_fractions(ctx.scale) if scheme == "per_layer" else scheme_fractions(ctx.scale)
        cells = ((final.sel(seed=[seed]).compute(), *seed_test_set(ctx, experiment, int(seed)), fractions, scheme,
                  layer) for seed in ds["seed"].values)
        # float32 (accuracies are multiples of 1/n_test; c moves by ~1e-7) halves what a reference ships
        return xr.concat(ctx.map(pruning_curves, cells), "seed").isel(checkpoint=0, drop=True).astype(np.float32)

    return ctx.cached(("magnitude_pruning", experiment, scheme, layer), compute)


def pruning_curves(runs: xr.Dataset, x, y, fractions: np.ndarray, scheme: str, layer: str | None) -> xr.Dataset:
    """One task of `magnitude_pruning`: the acc/loss curves (alpha, seed, checkpoint, fraction) of the loaded θ of
    `runs` (alpha, seed, checkpoint, param) on the test set (x, y)."""
    return lazy.pruning_curves(runs, x, y, fractions, scheme, layer, device=DEVICE).compute()


def trajectory_compressibility(runs: xr.Dataset, x, y, fractions: np.ndarray) -> xr.DataArray:
    """One task of `dynamics_compressibility`: c (Eq. 5) of the loaded θ of `runs` (alpha, seed, checkpoint, param)
    on the test set (x, y), (alpha, seed, checkpoint)."""
    return lazy.compressibility(runs, x, y, fractions, device=DEVICE).compute()


def curve_compressibility(curves: xr.Dataset) -> xr.DataArray:
    """Compressibility c (Eq. 5) of every pruning curve of `curves` (..., fraction or point)."""
    acc = curves["acc"]
    c = pruning.compressibility(acc["fraction"].values, acc.values)
    dims = acc.dims[:-1]
    return xr.DataArray(c, dims=dims, coords={d: acc[d] for d in dims}, name="compressibility")


def final_compressibility(ctx: Context, experiment: str) -> xr.DataArray:
    """Compressibility c (Eq. 5) of every final model under per-layer magnitude pruning, (alpha, seed)."""
    return curve_compressibility(magnitude_pruning(ctx, experiment))


def compressibility_fit(ctx: Context, experiment: str, against: str = "train_loss",
                        alphas: Sequence[float] | None = None) -> LinearFit:
    """Linear fit of c against a final metric over every seed of `alphas` (default: all) (Fig 5c-d, App D)."""
    c = final_compressibility(ctx, experiment)
    metric = final_metrics(ctx, experiment)[against]
    if alphas is not None:
        c, metric = c.sel(alpha=list(alphas)), metric.sel(alpha=list(alphas))
    return linear_fit(metric.values, c.values)


def dynamics_compressibility(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.DataArray:
    """Compressibility c(θ_k) (Eq. 5) along the trajectories of α: (alpha, seed, checkpoint); cached per α.

    Per α, ~COMPRESSIBILITY_CHECKPOINTS checkpoints from the first at which one of its runs has `learned`;
    NaN where a run has not learned yet (and at the other α's checkpoints).
    """

    def compute(alpha):
        ds = ctx.results(experiment)
        epochs, seeds = ds["checkpoint"].values, ds["seed"].values
        shown = learned_checkpoints(ds, [alpha])
        fractions = pruning_fractions(ctx.scale, trajectory=True)
        cells = ((ds[["theta"]].sel(alpha=[alpha], seed=[seed]).isel(checkpoint=keep).compute(),
                  *seed_test_set(ctx, experiment, int(seed)), fractions)
                 for (_, seed), (_, keep) in shown.items() if keep.size)
        computed = iter(ctx.map(trajectory_compressibility, cells))
        unlearned = xr.DataArray(np.empty(0), dims="checkpoint", coords={"checkpoint": epochs[:0]})
        runs = []
        for seed in seeds:
            index, keep = shown[alpha, seed]
            c = next(computed).isel(alpha=0, seed=0, drop=True) if keep.size else unlearned
            runs.append(c.reindex(checkpoint=epochs[index]))
        c = xr.concat(runs, xr.DataArray(seeds, dims="seed"))
        return c.expand_dims(alpha=[alpha]).rename("compressibility")  # an unlearned run's c has no name

    return ctx.per_alpha(("dynamics_compressibility", experiment), alphas, compute)


def learned_checkpoints(ds: xr.Dataset, alphas: Sequence[float]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """{(alpha, seed): (index, keep)}: the indices of α's ~COMPRESSIBILITY_CHECKPOINTS checkpoints from the first
    at which one of its runs has `learned`, and those of them at which run (α, seed) has."""
    done = learned(ds.sel(alpha=list(alphas)))
    epochs = ds["checkpoint"].values
    shown = {}
    for alpha in alphas:
        ok = done.sel(alpha=alpha).values
        first = int(np.argmax(ok.any(axis=0))) if ok.any() else len(epochs) - 1
        index = first + thin_checkpoints(epochs[first:], COMPRESSIBILITY_CHECKPOINTS)
        for j, seed in enumerate(ds["seed"].values):
            shown[alpha, seed] = index, index[ok[j, index]]
    return shown


def fisher_pruning(ctx: Context, experiment: str, tensor: str | None = None) -> xr.Dataset:
    """Fisher-pruning test acc/loss (App. F.1) of every final model: (alpha, seed, point), coordinate fraction.

    Parameters (all of them, or those of `tensor`) are zeroed cumulatively by ascending final Fisher diagonal,
    computed once on the unpruned model, at as many evenly spaced counts as `scheme_fractions` has points.
    """

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta", "fim_diag"]].isel(checkpoint=-1)
        n_points = scheme_fractions(ctx.scale).size
        cells = ((final.sel(seed=seed).compute(), *seed_test_set(ctx, experiment, int(seed)), n_points, tensor)
                 for seed in ds["seed"].values)
        acc, loss, fraction = zip(*ctx.map(fisher_pruning_curves, cells), strict=True)
        dims = ("seed", "alpha", "point")
        coords = {"seed": ds["seed"].values, "alpha": ds["alpha"].values, "fraction": ("point", fraction[0])}
        curves = {"acc": (dims, np.array(acc, dtype=np.float32)), "loss": (dims, np.array(loss, dtype=np.float32))}
        return xr.Dataset(curves, coords=coords).transpose("alpha", "seed", "point")

    return ctx.cached(("fisher_pruning", experiment, tensor), compute)


def fisher_pruning_curves(runs: xr.Dataset, x, y, n_points: int, tensor: str | None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One task of `fisher_pruning`: acc and loss (alpha, point) of the loaded final θ of `runs` (alpha, param)
    pruned by their Fisher diagonals fim_diag (alpha, param) on the test set (x, y), and the fractions (point,)."""
    curves = [pruning.fisher_pruning_curve(runs.attrs["task"], theta, fim, x, y, n_points, tensor, device=DEVICE)
              for theta, fim in zip(runs["theta"].values, runs["fim_diag"].values, strict=True)]
    return np.array([c.acc for c in curves]), np.array([c.loss for c in curves]), curves[0].fraction


def fisher_compressibility(ctx: Context, experiment: str) -> xr.DataArray:
    """c (Eq. 5) of the whole-model Fisher-pruning curve of every final model, (alpha, seed); x = fraction of
    all parameters, to compare with the magnitude-pruning c (fraction of the weights)."""
    return curve_compressibility(fisher_pruning(ctx, experiment))


def llc(ctx: Context, experiment: str) -> xr.DataArray:
    """Local learning coefficient λ̂ (§4.15) of every final model on its seed's training set, (alpha, seed);
    LLC_STEPS[scale] SGLD steps with step ε = LLC_EPSILON and localisation γ = LLC_GAMMA (devinterp's batch 512
    and β = 1/log n), the chain seeded by the run's seed."""

    def compute():
        ds = ctx.results(experiment)
        cells = ((ds.attrs["task"], ds["theta"].sel(seed=seed).isel(checkpoint=-1).values,
                  ctx.task_data(experiment, int(seed)).x_train, ctx.task_data(experiment, int(seed)).y_train,
                  LLC_STEPS[ctx.scale], int(seed)) for seed in ds["seed"].values)
        values = np.array(ctx.map(llc_chains, cells)).T
        return xr.DataArray(values, dims=("alpha", "seed"), coords={"alpha": ds["alpha"], "seed": ds["seed"]})

    return ctx.cached(("llc", experiment), compute)


def llc_chains(task: str, thetas: np.ndarray, x, y, n_steps: int, seed: int) -> list[float]:
    """One task of `llc`: λ̂ of the models θ (model, param) on the training set (x, y), their SGLD chains run as one
    stacked ensemble from a generator seeded by `seed`."""
    return [estimate.llc for estimate in local_learning_coefficients(
        task, thetas, x.to(DEVICE), y.to(DEVICE), n_steps=n_steps, epsilon=LLC_EPSILON, gamma=LLC_GAMMA,
        generator=torch.Generator().manual_seed(seed), device=DEVICE)]


def compression_measures(ctx: Context, experiment: str) -> xr.Dataset:
    """Everything Figs 15-19 set against compressibility but the LLC (see `llc`), per (alpha, seed) of the final
    models (mod-add)."""

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta", "fim_diag"]].isel(checkpoint=-1).assign_attrs(ds.attrs)
        gini = lazy.gini_coefficients(final)
        derived = xr.Dataset({"ipr_input": lazy.mean_fourier_ipr(final, side="input"),
                              "ipr_output": lazy.mean_fourier_ipr(final, side="output"),
                              "weight_gini": gini["weight_gini"], "fisher_gini": gini["fisher_gini"]}).compute()
        metrics = final_metrics(ctx, experiment)
        return derived.drop_vars("checkpoint", errors="ignore").assign(
            train_loss=metrics["train_loss"], test_loss=metrics["test_loss"],
            compressibility=final_compressibility(ctx, experiment))

    return ctx.cached(("compression_measures", experiment), compute)


def gini_coefficients(ctx: Context, experiment: str) -> xr.Dataset:
    """Gini coefficients (§4.14) of every final model, (alpha, seed): of the weight magnitudes, of the Fisher
    diagonal and of its non-zero entries; attribute zero_share: the share of exactly zero Fisher entries."""

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta", "fim_diag"]].isel(checkpoint=-1).assign_attrs(ds.attrs)
        gini = lazy.gini_coefficients(final).compute().transpose("alpha", "seed")
        fim = final["fim_diag"].transpose("alpha", "seed", "param").values
        nonzero = (("alpha", "seed"), [[nonzero_gini(run) for run in row] for row in fim])
        return gini[["weight_gini", "fisher_gini"]].assign(nonzero_fisher_gini=nonzero).assign_attrs(
            zero_share=float(np.mean(fim == 0)))

    return ctx.cached(("gini_coefficients", experiment), compute)


def nonzero_gini(values) -> float:
    """Gini (§4.14) of the non-zero entries of a non-negative vector (n,); NaN with fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[values != 0]
    return float(geometry.gini(values)) if values.size > 1 else np.nan
