"""Tests of the store format: one time axis (epochs completed), CF attributes, and format-1 stores upgraded."""

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from grokcore import store as st
from grokcore.models import model_at
from grokcore.store_format import ONE_SLOT_RESUME, STORE_FORMAT, upgrade_in_place
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
    train_cells(exp, path, data, (0,), (0, 1))
    st.consolidate(path)
    return exp, path


def downgrade(path, to=1, done=None):
    """Turn a store into what format `to` wrote. Format 2: one resume state per cell, the one after
    `done` epochs (default: done_epoch), and done_epoch set to it. Format 1 also: epoch 0..E−1, no
    checkpoint_time, no store_format."""
    group = zarr.open_group(path, mode="r+", use_consolidated=False)
    if done is not None:
        group["done_epoch"][...] = done
    done, checkpoints = group["done_epoch"][...], [int(c) for c in group["checkpoint"][...]]
    for old, new in ONE_SLOT_RESUME.items():
        two = group[new]
        dims = two.metadata.dimension_names
        one = group.create_array(old, shape=(*two.shape[:2], *two.shape[3:]), chunks=(1, 1, *two.shape[3:]),
                                 dtype=two.dtype, fill_value=two.fill_value, dimension_names=(*dims[:2], *dims[3:]),
                                 compressors=two.compressors)
        for a, s in zip(*np.nonzero(done >= 0), strict=True):
            one[a, s] = two[a, s, checkpoints.index(int(done[a, s])) % 2]
        del group[new]
    group.attrs["store_format"] = 2
    if to == 1:
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
    assert f"upgraded to store format {STORE_FORMAT}" in lines[-1]
    upgraded = st.open_results(path).load()
    assert upgraded.attrs["store_format"] == STORE_FORMAT and np.isnat(upgraded["checkpoint_time"].values).all()
    for name in ("theta", "test_acc", "train_loss", "done_epoch"):
        xr.testing.assert_equal(upgraded[name], current[name])
    assert not upgrade_in_place(path)


def test_format_2_store_resumes_exactly_after_its_upgrade(tmp_path):
    exp, path = small_run(tmp_path)
    reference = st.open_results(path).load()
    downgrade(path, to=2, done=2)  # as a format-2 run interrupted after its checkpoint at epoch 2
    assert upgrade_in_place(path) and not upgrade_in_place(path)
    group = zarr.open_group(path, use_consolidated=False)
    assert not set(ONE_SLOT_RESUME) & set(group.array_keys())
    train_cells(exp, path, prepare_data(exp, str(tmp_path / "data"), progress=False), (0,), (0, 1))
    resumed = st.open_results(path).load()
    for name in ("theta", "train_loss", "test_acc", "done_epoch", "resume_adam_exp_avg_sq"):
        xr.testing.assert_equal(resumed[name], reference[name])


def test_an_upgrade_cut_short_after_its_format_mark_is_finished_by_the_next(tmp_path):
    _, path = small_run(tmp_path)
    reference = st.open_results(path).load()
    downgrade(path, to=2)
    group = zarr.open_group(path, mode="r+", use_consolidated=False)
    assert upgrade_in_place(path)
    group.create_array("adam_step", shape=(2, 1), dtype="int64", dimension_names=("alpha", "seed"))  # not deleted
    assert upgrade_in_place(path) and "adam_step" not in zarr.open_group(path, use_consolidated=False)
    upgraded = st.open_results(path).load()
    # The one state a format-2 store had, that after the last checkpoint (number 2), is in slot 0.
    xr.testing.assert_equal(upgraded.isel(resume_slot=0), reference.isel(resume_slot=0))
