"""The measures applied to a results store (xr.Dataset of the design note) chunk by chunk, never loading it whole.

Every function takes the Dataset as opened lazily (dask-backed) and returns labelled DataArrays/Datasets that
are still lazy: call `.compute()` (or `.mean("seed")` first, etc.). Core dimensions (param, epoch, fraction)
must each be one chunk per block, as in the store's chunking (all params in a chunk).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from grokcore.measures import curves, fourier, geometry, pruning

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
SUBSPACES = ("all", "stiff", "sloppy")
METRICS_GEOMETRY = ("fisher", "euclid")
MEASURES = ("magnitude", "cosine", "origin_cosine", "norm")


def _apply(fn, *arrays, core: str = "param", **kwargs) -> xr.DataArray:
    """fn(*blocks (..., core), **kwargs) -> (...,) over dask chunks; None arrays are passed to fn as None."""
    present = [a for a in arrays if a is not None]

    def on_blocks(*blocks):
        given = iter(blocks)
        return fn(*(None if a is None else next(given) for a in arrays), **kwargs)

    return xr.apply_ufunc(
        on_blocks, *present, input_core_dims=[[core]] * len(present), dask="parallelized",
        output_dtypes=[float], join="inner", dask_gufunc_kwargs={"allow_rechunk": True},
    )


def grokking_times(ds: xr.Dataset, within: float = 0.05, mode: str = "relative",
                   strict: bool = False) -> xr.Dataset:
    """t_train, t_test and Δt_grok (Def. 1, Eq. 3) per (alpha, seed), in epochs; see curves.grokking_time."""
    epochs = ds["epoch"].values
    names = curves.GrokkingTimes._fields
    outputs = xr.apply_ufunc(
        lambda train, test: tuple(curves.grokking_time(train, test, within, mode, epochs, strict)),
        ds["train_acc"], ds["test_acc"], input_core_dims=[["epoch"], ["epoch"]],
        output_core_dims=[[]] * len(names), dask="parallelized", output_dtypes=[float] * len(names),
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    return xr.Dataset(dict(zip(names, outputs, strict=True)))


def final_metrics(ds: xr.Dataset) -> xr.Dataset:
    """Last evaluated (non-NaN) value of each training metric per (alpha, seed)."""
    return xr.Dataset({name: _apply(curves.final_value, ds[name], core="epoch") for name in METRICS})


def _check_task(ds: xr.Dataset, task: str) -> None:
    if ds.attrs.get("task") != task:
        raise ValueError(f"store task {ds.attrs.get('task')!r} is not {task!r}")


def mean_fourier_ipr(ds: xr.Dataset, side: str = "output", r: float = 2) -> xr.DataArray:
    """Layer-mean Fourier IPR (Eq. 7) of θ per (alpha, seed, checkpoint); mod-add stores only."""
    _check_task(ds, "modadd")
    return _apply(fourier.mean_ipr, ds["theta"], side=side, r=r).rename("mean_ipr")


def pruning_curves(ds: xr.Dataset, x, y, fractions=pruning.DEFAULT_FRACTIONS, scheme: str = "per_layer",
                   layer: str | None = None, include_biases: bool = False, device: str = "cpu") -> xr.Dataset:
    """Magnitude-pruning test accuracy and loss (§4.5) of θ per (alpha, seed, checkpoint, fraction).

    x, y: the test set; the other options as in pruning.pruning_curve. Unwritten (NaN) θ give NaN curves.
    """
    task = ds.attrs["task"]
    fractions = np.asarray(fractions, dtype=float)

    def one(theta):
        if np.isnan(theta).any():
            return np.full(fractions.size, np.nan), np.full(fractions.size, np.nan)
        curve = pruning.pruning_curve(task, theta, x, y, fractions, scheme, layer, include_biases, device=device)
        return curve.acc, curve.loss

    acc, loss = xr.apply_ufunc(
        one, ds["theta"], input_core_dims=[["param"]], output_core_dims=[["fraction"], ["fraction"]],
        vectorize=True, dask="parallelized", output_dtypes=[float, float],
        dask_gufunc_kwargs={"output_sizes": {"fraction": fractions.size}},
    )
    return xr.Dataset({"acc": acc, "loss": loss}).assign_coords(fraction=fractions)


def compressibility(ds: xr.Dataset, x, y, fractions=pruning.DEFAULT_FRACTIONS, scheme: str = "per_layer",
                    variant: str = "normalised", chance: float | None = None, device: str = "cpu") -> xr.DataArray:
    """Compressibility c (Eq. 5) of θ per (alpha, seed, checkpoint) from its magnitude-pruning curve on (x, y)."""
    acc = pruning_curves(ds, x, y, fractions, scheme, device=device)["acc"]
    p = acc["fraction"].values
    return _apply(lambda a: pruning.compressibility(p, a, variant, chance), acc, core="fraction").rename(
        "compressibility"
    )


def _step_block(theta, before, after, fim, final, threshold):
    """All trajectory measures of a block of checkpoints -> (..., measure, metric, subspace)."""
    theta, before, after = (np.asarray(a, dtype=float) for a in (theta, before, after))
    step_in, step_out = theta - before, after - theta  # s_{k−1} and s_k, both labelled e_k
    stiff = geometry.stiff_mask(final, threshold)
    masks = (None, stiff, ~stiff)
    result = np.empty(theta.shape[:-1] + (len(MEASURES), len(METRICS_GEOMETRY), len(SUBSPACES)))
    for j, weights in enumerate((fim, None)):
        for k, mask in enumerate(masks):
            result[..., j, k] = np.stack([
                geometry.fisher_norm(step_out, weights, mask),
                geometry.fisher_cosine(step_in, step_out, weights, mask),
                geometry.fisher_cosine(step_out, -theta, weights, mask),
                geometry.fisher_norm(theta, weights, mask),
            ], axis=-1)
    # a run without its final Fisher (not yet written) has no stiff/sloppy split
    undefined = np.isnan(final).any(axis=-1)[..., None, None, None]
    result[..., 1:] = np.where(undefined, np.nan, result[..., 1:])
    return result


def step_measures(ds: xr.Dataset, threshold: float = 0.1, final: xr.DataArray | None = None) -> xr.Dataset:
    """Trajectory measures of θ and the Fisher diagonal per (alpha, seed, checkpoint, metric, subspace).

    Each value is labelled with the checkpoint e_k whose Fisher F_k it uses: magnitude |s_k|_F (Eq. 8) and
    origin_cosine S_F(s_k, −θ_k) of the step starting at e_k; cosine S_F(s_{k−1}, s_k) (Eq. 9) of the steps
    meeting at e_k; norm √(θ_kᵀF_kθ_k). NaN where undefined (magnitude/origin at the last checkpoint, cosine at
    the first and last). metric "fisher" or "euclid" (F ≡ 1); subspace "all", "stiff" or "sloppy" (final
    Fisher diagonal ≥ / < threshold, §4.11, fixed along the trajectory; NaN for a run whose final Fisher is
    not written). final (alpha, seed, param): the Fisher diagonal that defines the split, by default ds's last
    checkpoint; pass the run's last checkpoint when ds is a window cut from the run, since §4.11's mask is the
    Fisher at the end of training, not at the end of the plotted window. Computed block by block: a chunk of
    checkpoints needs only its neighbours' θ.
    """
    theta, fim = ds["theta"], ds["fim_diag"]
    final = fim.isel(checkpoint=-1, drop=True) if final is None else final.drop_vars("checkpoint", errors="ignore")
    sizes = {"measure": len(MEASURES), "metric": len(METRICS_GEOMETRY), "subspace": len(SUBSPACES)}
    stacked = xr.apply_ufunc(
        _step_block, theta, theta.shift(checkpoint=1), theta.shift(checkpoint=-1), fim, final,
        kwargs={"threshold": threshold}, input_core_dims=[["param"]] * 5,
        output_core_dims=[list(sizes)], dask="parallelized", output_dtypes=[float],
        dask_gufunc_kwargs={"output_sizes": sizes},
    ).assign_coords(metric=list(METRICS_GEOMETRY), subspace=list(SUBSPACES))
    return xr.Dataset({name: stacked.isel(measure=i, drop=True) for i, name in enumerate(MEASURES)})


def fisher_spectrum(ds: xr.Dataset) -> xr.DataArray:
    """Seed-mean of the ascending-sorted final Fisher diagonal per (alpha, rank) (Fig. 20)."""
    final = ds["fim_diag"].isel(checkpoint=-1, drop=True)
    return xr.apply_ufunc(
        geometry.fisher_spectrum, final, input_core_dims=[["seed", "param"]], output_core_dims=[["rank"]],
        dask="parallelized", output_dtypes=[float],
        dask_gufunc_kwargs={"allow_rechunk": True, "output_sizes": {"rank": final.sizes["param"]}},
    ).rename("fisher_spectrum")


def gini_coefficients(ds: xr.Dataset) -> xr.Dataset:
    """Gini of the weight magnitudes and of the Fisher diagonal (§4.14) per (alpha, seed, checkpoint)."""
    task = ds.attrs["task"]
    return xr.Dataset({
        "weight_gini": _apply(lambda theta: geometry.weight_gini(task, theta), ds["theta"]),
        "fisher_gini": _apply(geometry.gini, ds["fim_diag"]),
    })
