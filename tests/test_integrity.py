"""Tests of store integrity on real stores: checksums, missing and damaged chunks, diverged cells."""

import dataclasses
import os

import numpy as np
import pytest
import xarray as xr
import zarr
from test_grid import small_experiment

from grokcore import integrity
from grokcore import store as st
from repro.grid import ensure_store, pending_tasks, prepare_data, tasks_for, train_cells

ALPHAS = (0.5, 1e300)  # 1e300·θ_init overflows float32: that model diverges at its initialisation


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished mod-add store of 2 α × 2 seeds in which every α = 1e300 cell diverged, and its experiment."""
    exp = small_experiment(epochs=2, alphas=ALPHAS)
    path = str(tmp_path_factory.mktemp("integrity") / "grid.zarr")
    data = prepare_data(exp, progress=False)
    ensure_store(exp, path, data)
    for seed_indices, group in pending_tasks(exp, path):
        train_cells(exp, path, data, seed_indices, group)
    st.consolidate(path)
    return exp, path


@pytest.fixture
def copy(trained, tmp_path):
    """A private copy of the trained store, free to damage."""
    import shutil

    exp, path = trained
    shutil.copytree(path, tmp_path / "copy.zarr")
    return exp, str(tmp_path / "copy.zarr")


def theta_chunk(path: str, alpha_index: int, seed_index: int) -> str:
    key = zarr.open_group(path)["theta"].metadata.encode_chunk_key((alpha_index, seed_index, 0, 0))
    return os.path.join(path, "theta", key)


def test_every_array_carries_a_checksum(trained):
    for name, array in zarr.open_group(trained[1]).arrays():
        assert any(type(codec).__name__ == "Crc32cCodec" for codec in array.metadata.codecs), name


def test_a_diverged_cell_is_marked_and_holds_no_numbers(trained):
    exp, path = trained
    states = integrity.cell_states(path)
    assert states.values.tolist() == [["finished", "finished"], ["diverged", "diverged"]]
    assert st.diverged_epochs(path).values.tolist() == [[-1, -1], [0, 0]]
    assert (st.cell_status(path).values == exp.epochs).all()
    ds = st.open_results(path).sel(alpha=1e300)
    for name in ("theta", "fim_diag", "train_loss", "train_acc", "test_loss", "test_acc"):
        assert np.isnan(ds[name].values).all(), name
    assert not np.isnan(st.open_results(path).sel(alpha=0.5).theta.values).any()
    assert pending_tasks(exp, path) == []


def test_without_diverged_drops_an_alpha_whose_every_seed_diverged(trained):
    ds = st.open_results(trained[1])
    kept = integrity.without_diverged(ds, integrity.cell_states(trained[1]))
    assert kept.alpha.values.tolist() == [0.5]
    assert kept.attrs["diverged"] == ["α=1e+300 seed=0", "α=1e+300 seed=1"]


def test_without_diverged_masks_a_single_diverged_seed():
    ds = xr.Dataset({"test_acc": (("alpha", "seed", "epoch"), np.ones((2, 2, 3))),
                     "done_epoch": (("alpha", "seed"), np.full((2, 2), 3))},
                    coords={"alpha": [1.0, 10.0], "seed": [0, 1]})
    states = xr.DataArray([["finished", "diverged"], ["finished", "finished"]], dims=("alpha", "seed"),
                          coords={"alpha": [1.0, 10.0], "seed": [0, 1]})
    kept = integrity.without_diverged(ds, states)
    assert kept.alpha.values.tolist() == [1.0, 10.0]
    assert np.isnan(kept.test_acc.sel(alpha=1.0, seed=1)).all() and (kept.test_acc.sel(alpha=1.0, seed=0) == 1).all()
    assert kept.done_epoch.dtype == ds.done_epoch.dtype
    assert integrity.without_diverged(ds, states.where(states != "diverged", "finished")) is ds


def test_an_intact_store_verifies_clean(trained):
    problems, n_read = integrity.verify_store(trained[1])
    assert problems == [] and n_read > 20
    assert integrity.missing_chunks(trained[1]) == []


def test_a_truncated_chunk_is_named_by_verify(copy):
    _, path = copy
    chunk = theta_chunk(path, 0, 1)
    with open(chunk, "r+b") as f:
        f.truncate(os.path.getsize(chunk) - 5)
    problems, _ = integrity.verify_store(path)
    assert [(p.array, p.cell, p.index) for p in problems] == [("theta", (0.5, 1), (0, 1))]
    assert "checksum" in problems[0].reason
    assert problems[0].describe(path).startswith(f"{path}/theta/c/0/1/0/0 (α=0.5 seed=1): ")
    assert integrity.missing_chunks(path) == []  # present, only damaged: `verify --reset` marks it


def test_a_deleted_chunk_makes_its_cell_damaged_and_pending(copy):
    exp, path = copy
    os.remove(theta_chunk(path, 0, 1))
    problems, _ = integrity.verify_store(path)
    assert [(p.key, p.reason) for p in problems] == [("c/0/1/0/0", "missing")]
    assert integrity.cell_states(path).values[0].tolist() == ["finished", "damaged"]
    assert integrity.damaged_cells(path) == [(0, 1)]
    assert pending_tasks(exp, path) == [((1,), (0, 1))]


@pytest.mark.parametrize(("done", "state"), [(0, "partial"), (1, "damaged")])
def test_a_cell_at_its_first_checkpoint_has_no_metrics_yet(copy, done, state):
    """A cell that has written only θ at epoch 0 (a run stopped, or `repro status` looking, before its second
    checkpoint) has no per-epoch metric chunk yet and is resumable; from epoch 1 on, that chunk must exist."""
    exp, path = copy
    group = zarr.open_group(path, mode="r+")
    group["done_epoch"][0, 1] = done
    for name in st.METRICS:
        os.remove(os.path.join(path, name, group[name].metadata.encode_chunk_key((0, 1, 0))))
    assert integrity.cell_states(path).values[0].tolist() == ["finished", state]
    assert sorted(p.array for p in integrity.missing_chunks(path)) == ([] if done == 0 else sorted(st.METRICS))


def test_a_cell_reset_for_retraining_is_missing(copy):
    exp, path = copy
    st.reset_cells(path, [(0, 1)])
    assert integrity.cell_states(path).values[0].tolist() == ["finished", "missing"]
    assert integrity.missing_chunks(path) == []


def test_seeds_of_a_group_share_a_task_only_at_one_epoch(copy):
    exp, path = copy
    grouped = dataclasses.replace(exp, seed_group_size=2)
    assert pending_tasks(grouped, path) == []
    st.reset_cells(path, [(0, 1), (1, 1)])
    assert pending_tasks(grouped, path) == [((1,), (0, 1))]
    st.reset_cells(path, [(0, 0)])  # seed 0's α now stand at two epochs: it starts again, as seed 1 does
    assert pending_tasks(grouped, path) == [((0, 1), (0, 1))]


@pytest.mark.parametrize(("done", "tasks"), [
    ([[1, 1], [1, 1]], [((0, 1), (0, 1))]),  # one epoch: one ensemble
    ([[1, -1], [1, -1]], [((0,), (0, 1)), ((1,), (0, 1))]),  # a crash between the seeds' commits
    ([[2, 1], [2, 1]], [((1,), (0, 1))]),  # seed 0 finished
])
def test_tasks_for_groups_seeds_by_progress(trained, done, tasks):
    exp, _ = trained
    assert tasks_for(dataclasses.replace(exp, seed_group_size=2), np.array(done)) == tasks
