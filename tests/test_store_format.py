"""Tests of the store format: one time axis (epochs completed), CF attributes, and format-1 stores upgraded."""

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from grokcore import store as st
from grokcore.models import model_at
from grokcore.store_format import STORE_FORMAT, upgrade_in_place
from repro.config import experiment_from_dict
from repro.grid import ensure_store, prepare_data, run_experiment, train_cells

GRID = st.GridShape("modadd", (0.5, 2.0), (0,), 4, (0, 2, 4))


def small_run(tmp_path, epochs=4):
    raw = {"task": "modadd", "weight_multipliers": [0.5, 2.0], "seeds": [0], "checkpoints": [[0, epochs, 2]],
           "train": {"epochs": epochs, "lr": 5e-3, "weight_decay": 0.0, "batch_size": 4096},
           "fisher": {"enabled": False}}
    exp = experiment_from_dict(raw, name="format", scale="tiny")
    path = str(tmp_path / "run.zarr")
    data = prepare_data(exp, str(tmp_path / "data"), progress=False)
    ensure_store(exp, path, data)
    train_cells(exp, path, data, 0, (0, 1))
    st.consolidate(path)
    return exp, path


def downgrade(path):
    """Turn a store into what format 1 wrote: epoch 0..E−1, no checkpoint_time, no store_format."""
    group = zarr.open_group(path, mode="r+")
    group["epoch"][...] = np.arange(group["epoch"].shape[0])
    del group["checkpoint_time"]
    del group.attrs["store_format"]
    for name in group.array_keys():
        for key in ("long_name", "units"):
            group[name].attrs.pop(key, None)
    st.consolidate(path)


def test_every_variable_and_coordinate_has_long_name_and_units(tmp_path):
    path = str(tmp_path / "grid.zarr")
    st.create_store(path, GRID, {})
    ds = st.open_results(path)
    assert ds.attrs["store_format"] == STORE_FORMAT
    for name, variable in ds.variables.items():
        assert variable.attrs.get("long_name"), name
        units = variable.attrs.get("units") or variable.encoding.get("units")
        assert units, name
    assert ds["epoch"].values.tolist() == [1, 2, 3, 4] and ds["checkpoint"].values.tolist() == [0, 2, 4]
    assert ds["checkpoint_time"].dtype.kind == "M"  # decoded as CF time
    label = ds["test_acc"].isel(alpha=0, seed=0).plot.line()[0].axes.get_xlabel()
    assert label == "epochs completed [epochs]"


def test_metrics_at_epoch_k_describe_theta_at_checkpoint_k(tiny_context):
    ds = tiny_context.results("modadd-main")
    for seed in ds["seed"].values:
        data = tiny_context.task_data("modadd-main", int(seed))
        for alpha in ds["alpha"].values:
            for k in ds["checkpoint"].values[1:]:
                theta = torch.as_tensor(ds["theta"].sel(alpha=alpha, seed=seed, checkpoint=k).values)
                with torch.no_grad():
                    logits = model_at("modadd", theta)(data.x_test)
                acc = float((logits.argmax(dim=1) == data.y_test).double().mean())
                assert acc == pytest.approx(float(ds["test_acc"].sel(alpha=alpha, seed=seed, epoch=k)), abs=1e-6)


def test_format_1_store_reads_on_the_new_axis_and_is_upgraded_by_a_rerun(tmp_path):
    exp, path = small_run(tmp_path)
    current = st.open_results(path).load()
    downgrade(path)
    old = xr.open_zarr(path, chunks=None)
    assert old["epoch"].values.tolist() == [0, 1, 2, 3] and "checkpoint_time" not in old
    read = st.open_results(path)
    assert read["epoch"].values.tolist() == [1, 2, 3, 4] and read["test_acc"].attrs["long_name"] == "test accuracy"
    xr.testing.assert_equal(read["test_acc"].load(), current["test_acc"])
    lines = []
    run_experiment(exp, path, client=None, progress=False, echo=lines.append)
    assert "2 of 2 cells already finished" in lines[0] and "store_format" not in st.read_attrs(path)  # no writes
    ensure_store(exp, path, prepare_data(exp), echo=lines.append)  # what a run with work does under its lease
    assert "upgraded to store format 2" in lines[-1]
    upgraded = st.open_results(path).load()
    assert upgraded.attrs["store_format"] == STORE_FORMAT and np.isnat(upgraded["checkpoint_time"].values).all()
    for name in ("theta", "test_acc", "train_loss", "done_epoch"):
        xr.testing.assert_equal(upgraded[name], current[name])
    assert not upgrade_in_place(path)
