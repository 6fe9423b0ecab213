"""Tests of grokcore.measures.lazy: measures over a Zarr store, chunk by chunk, equal to the eager numpy ones."""

from __future__ import annotations

import dask.array
import numpy as np
import pytest
import torch
import xarray as xr

from grokcore.measures import curves, fourier, geometry, lazy, pruning
from grokcore.models import n_params

ALPHAS, SEEDS, CHECKPOINTS, EPOCHS = [0.1, 10.0], [0, 1], np.arange(7) * 50, 301
CHUNKS = {"alpha": 1, "seed": 1, "checkpoint": 3, "param": -1}


def _store(tmp_path, name, task, arrays):
    """Write a store with the design note's schema (only the given variables) and open it lazily."""
    dims = {"theta": ("alpha", "seed", "checkpoint", "param"), "fim_diag": ("alpha", "seed", "checkpoint", "param")}
    dims.update({metric: ("alpha", "seed", "epoch") for metric in lazy.METRICS})
    first = next(iter(arrays.values()))
    coords = {"alpha": ALPHAS[: first.shape[0]], "seed": SEEDS[: first.shape[1]]}
    if "theta" in arrays:
        coords |= {"checkpoint": CHECKPOINTS[: first.shape[2]], "param": np.arange(n_params(task))}
    if "train_acc" in arrays:
        coords["epoch"] = np.arange(EPOCHS)
    ds = xr.Dataset({k: (dims[k], v) for k, v in arrays.items()}, coords=coords, attrs={"task": task})
    path = tmp_path / f"{name}.zarr"
    ds.chunk({k: v for k, v in CHUNKS.items() if k in ds.dims}).to_zarr(path, consolidated=False)
    return xr.open_zarr(path, chunks={}, consolidated=False)


@pytest.fixture(scope="module")
def ising(tmp_path_factory):
    rng = np.random.default_rng(0)
    shape = (len(ALPHAS), len(SEEDS), len(CHECKPOINTS), n_params("ising"))
    arrays = {"theta": rng.normal(size=shape), "fim_diag": rng.random(shape) ** 4}
    for metric in lazy.METRICS:
        values = np.sort(rng.random((2, 2, EPOCHS)), axis=-1)
        if metric.startswith("test"):
            values[..., np.arange(EPOCHS) % 10 != 9] = np.nan  # evaluated every 10 epochs only
            values[..., -1] = 1.0
        arrays[metric] = values
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    return _store(tmp_path_factory.mktemp("ising"), "ising", "ising", arrays), arrays


def _is_lazy(result):
    variables = result.data_vars.values() if isinstance(result, xr.Dataset) else [result]
    return all(isinstance(v.data, dask.array.Array) for v in variables)


def test_store_is_chunked_per_run_and_few_checkpoints(ising):
    ds, _ = ising
    assert ds["theta"].data.chunks == ((1, 1), (1, 1), (3, 3, 1), (n_params("ising"),))


def test_grokking_times_per_run(ising):
    ds, arrays = ising
    result = lazy.grokking_times(ds, within=0.1, mode="absolute")
    assert _is_lazy(result)
    expected = curves.grokking_time(arrays["train_acc"], arrays["test_acc"], 0.1, "absolute")
    for name, values in zip(curves.GrokkingTimes._fields, expected, strict=True):
        np.testing.assert_array_equal(result[name].compute().transpose("alpha", "seed"), values)


def test_final_metrics_per_run(ising):
    ds, arrays = ising
    result = lazy.final_metrics(ds)
    assert _is_lazy(result)
    for name in lazy.METRICS:
        np.testing.assert_array_equal(result[name].compute(), curves.final_value(arrays[name]))


@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_step_measures_equal_the_eager_ones(ising, threshold):
    ds, arrays = ising
    result = lazy.step_measures(ds, threshold)
    assert _is_lazy(result)
    result = result.compute()
    theta, fim = arrays["theta"], arrays["fim_diag"]
    stiff = geometry.stiff_mask(fim[..., -1, :], threshold)
    for metric, weights in (("fisher", fim), ("euclid", None)):
        for subspace, mask in (("all", None), ("stiff", stiff), ("sloppy", ~stiff)):
            got = result.sel(metric=metric, subspace=subspace).transpose("alpha", "seed", "checkpoint")
            np.testing.assert_allclose(got["magnitude"][..., :-1], geometry.step_magnitude(theta, weights, mask))
            np.testing.assert_allclose(got["cosine"][..., 1:-1], geometry.step_cosine(theta, weights, mask))
            np.testing.assert_allclose(got["origin_cosine"][..., :-1], geometry.origin_cosine(theta, weights, mask))
            np.testing.assert_allclose(got["norm"], geometry.weight_norm(theta, weights, mask))
            assert np.isnan(got["magnitude"][..., -1]).all() and np.isnan(got["cosine"][..., [0, -1]]).all()


def test_stiff_split_uses_the_given_final_fisher_not_the_window_end(ising):
    # a window cut from the run: the mask must come from the run's last Fisher (§4.11), here passed as final
    ds, arrays = ising
    window, final = ds.isel(checkpoint=slice(0, 4)), ds["fim_diag"].isel(checkpoint=-1)
    theta, fim = arrays["theta"][..., :4, :], arrays["fim_diag"][..., :4, :]
    stiff = geometry.stiff_mask(arrays["fim_diag"][..., -1, :], 0.1)
    assert (stiff != geometry.stiff_mask(fim[..., -1, :], 0.1)).any()  # the two masks differ
    got = lazy.step_measures(window, 0.1, final=final).compute().sel(metric="fisher")
    for subspace, mask in (("stiff", stiff), ("sloppy", ~stiff)):
        np.testing.assert_allclose(got["magnitude"].sel(subspace=subspace).transpose("alpha", "seed", "checkpoint")
                                   [..., :-1], geometry.step_magnitude(theta, fim, mask), rtol=1e-5)
    cut = lazy.step_measures(window, 0.1).compute().sel(metric="fisher", subspace="stiff")
    assert not np.allclose(cut["magnitude"][..., :-1], got["magnitude"].sel(subspace="stiff")[..., :-1])


def test_fisher_spectrum_and_gini(ising):
    ds, arrays = ising
    spectrum, ginis = lazy.fisher_spectrum(ds), lazy.gini_coefficients(ds)
    assert _is_lazy(spectrum) and _is_lazy(ginis)
    np.testing.assert_allclose(spectrum.compute(), geometry.fisher_spectrum(arrays["fim_diag"][..., -1, :]))
    np.testing.assert_allclose(ginis["weight_gini"].compute(), geometry.weight_gini("ising", arrays["theta"]))
    np.testing.assert_allclose(ginis["fisher_gini"].compute(), geometry.gini(arrays["fim_diag"]))


@pytest.mark.parametrize("variant", ["normalised", "raw"])
def test_compressibility_per_checkpoint(ising, variant):
    ds, arrays = ising
    gen = torch.Generator().manual_seed(0)
    x, y = torch.sign(torch.randn(24, 1, 16, 16, generator=gen)), torch.randint(0, 2, (24,), generator=gen)
    grid = np.linspace(0, 1, 6)
    result = lazy.compressibility(ds.isel(checkpoint=[0, 6]), x, y, grid, variant=variant)
    assert _is_lazy(result)
    result = result.compute()
    for i, j, k in np.ndindex(2, 2, 2):
        curve = pruning.pruning_curve("ising", arrays["theta"][i, j, [0, 6][k]], x, y, grid)
        assert result[i, j, k] == pytest.approx(pruning.compressibility(grid, curve.acc, variant))


def test_unwritten_runs_give_nan_not_a_crash(ising):
    ds, _ = ising
    run = (ds["alpha"] == ALPHAS[1]) & (ds["seed"] == SEEDS[1])
    blank = ds.where(~(run & (ds["checkpoint"] >= CHECKPOINTS[-2])))
    measures = lazy.step_measures(blank).sel(alpha=ALPHAS[1], seed=SEEDS[1]).compute()
    assert np.isnan(measures.sel(subspace=["stiff", "sloppy"])["magnitude"]).all()
    assert np.isfinite(measures.sel(subspace="all")["magnitude"][:4]).all()
    x, y = torch.ones(4, 1, 16, 16), torch.zeros(4, dtype=torch.int64)
    curves_ = lazy.pruning_curves(blank.isel(checkpoint=[-1]), x, y, [0.0, 1.0]).compute()
    assert np.isnan(curves_["acc"].sel(alpha=ALPHAS[1], seed=SEEDS[1])).all()
    assert np.isfinite(curves_["acc"].sel(alpha=ALPHAS[0])).all()


@pytest.mark.parametrize("side", ["output", "input"])
def test_mean_fourier_ipr_per_checkpoint(tmp_path, side):
    theta = np.random.default_rng(1).normal(size=(1, 2, 2, n_params("modadd"))).astype(np.float32)
    ds = _store(tmp_path, "modadd", "modadd", {"theta": theta})
    result = lazy.mean_fourier_ipr(ds, side)
    assert _is_lazy(result)
    np.testing.assert_allclose(result.compute(), fourier.mean_ipr(theta, side))


def test_mean_fourier_ipr_needs_a_modadd_store(ising):
    with pytest.raises(ValueError, match="ising"):
        lazy.mean_fourier_ipr(ising[0])
