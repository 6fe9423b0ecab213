"""Tests of the results store: template, per-cell writes, status and lazy reading through a real Zarr store."""

import dask.array as da
import numpy as np
import pytest
import zarr

from grokcore import store as st
from grokcore.lease import StoreLease
from grokcore.models import n_params

GRID = st.GridShape("ising", (0.5, 2.0, 10.0), (0, 1), 6, (0, 3, 6), rng_state_bytes=16)


def state(epoch, theta, rng):
    return {"epoch": epoch, "exp_avg": theta + 1, "exp_avg_sq": theta + 2, "adam_step": epoch,
            "batch_generator_state": rng}


@pytest.fixture
def path(tmp_path):
    path = str(tmp_path / "grid.zarr")
    st.create_store(path, GRID, {"experiment": "unit", "config": {"epochs": 6}})
    return path


def test_template_is_nan_filled_and_lazy(path):
    ds = st.open_results(path)
    assert dict(ds.sizes) == {"alpha": 3, "seed": 2, "epoch": 6, "checkpoint": 3, "param": n_params("ising"),
                              "rng_byte": 16, "resume_slot": 2}
    assert isinstance(ds.theta.data, da.Array)
    assert np.isnan(ds.train_loss.values).all() and (ds.done_epoch.values == -1).all()
    assert ds.attrs["config"] == {"epochs": 6} and ds.attrs["task"] == "ising"
    assert ds.param_tensor.values[0] == "conv1.weight"


def test_every_chunk_belongs_to_one_cell(path):
    ds = st.open_results(path)
    for name, var in ds.data_vars.items():
        chunks = dict(zip(var.dims, var.encoding["chunks"], strict=True))
        assert chunks["alpha"] == 1 and chunks["seed"] == 1, name


def test_cell_writes_land_in_their_cells_only(path):
    writer = st.CellWriter(path, slice(1, 3), 1)
    theta = np.arange(2 * n_params("ising"), dtype=np.float32).reshape(2, -1)
    writer.checkpoint(1, theta, fim=theta * 2)
    metrics = {m: np.full((2, 6), i, dtype=np.float32) for i, m in enumerate(st.METRICS)}
    writer.metrics(0, 3, metrics)
    writer.commit(state(3, theta, np.arange(10, dtype=np.uint8)))
    ds = st.open_results(path)
    np.testing.assert_array_equal(ds.theta.sel(alpha=[2.0, 10.0], seed=1, checkpoint=3).values, theta)
    np.testing.assert_array_equal(ds.fim_diag.sel(alpha=10.0, seed=1, checkpoint=3).values, 2 * theta[1])
    assert np.isnan(ds.theta.sel(alpha=0.5).values).all() and np.isnan(ds.theta.sel(seed=0).values).all()
    np.testing.assert_array_equal(ds.test_loss.sel(alpha=2.0, seed=1).values[:3], 2)
    assert np.isnan(ds.test_loss.sel(alpha=2.0, seed=1).values[3:]).all()
    assert st.cell_status(path).values.tolist() == [[-1, -1], [-1, 3], [-1, 3]]


def test_resume_state_round_trip(path):
    writer = st.CellWriter(path, slice(0, 1), 0)
    theta = np.random.default_rng(0).random((1, n_params("ising")), dtype=np.float32)
    rng = np.arange(7, dtype=np.uint8)
    writer.checkpoint(2, theta, None)
    written = state(6, theta, rng)
    writer.commit(written)
    read = writer.read_resume_state(rng_bytes=7)
    assert read["epoch"] == 6 and read["adam_step"] == 6
    np.testing.assert_array_equal(read["theta"], theta)
    np.testing.assert_array_equal(read["exp_avg_sq"], written["exp_avg_sq"])
    np.testing.assert_array_equal(read["batch_generator_state"], rng)


def test_generator_state_too_large_is_refused(path):
    with pytest.raises(ValueError, match="does not fit"):
        st.CellWriter(path, slice(0, 1), 0).commit(state(3, 0, np.zeros(17, dtype=np.uint8)))


def test_consolidated_store_reopens(path):
    st.consolidate(path)
    assert st.open_results(path).sizes["alpha"] == 3


def test_missing_store_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="repro run modadd-main --scale tiny"):
        st.open_results("modadd-main", scale="tiny", results_dir=str(tmp_path))


def test_existing_store_is_never_replaced_by_create(path):
    with pytest.raises(Exception, match="exist"):
        st.create_store(path, GRID, {})


def test_a_writer_whose_lease_is_gone_writes_nothing(path):
    from grokcore.lease import Fence, LeaseLost, lease_path

    fence = Fence(lease_path(path), "a token nobody holds")
    with pytest.raises(LeaseLost):
        st.CellWriter(path, slice(0, 1), 0, fence)
    with StoreLease(path) as lease:
        writer = st.CellWriter(path, slice(0, 1), 0, lease.fence)
    with pytest.raises(LeaseLost):  # the lease ended: its writer stops before writing
        writer.checkpoint(0, np.zeros((1, n_params("ising")), dtype=np.float32), None)
    assert np.isnan(st.open_results(path).theta.values).all()


def test_only_results_stores_of_this_artifact_count_as_such(path, tmp_path):
    assert st.is_results_store(path)
    other = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    other.attrs["content_hash"] = "abc"
    assert st.store_exists(str(tmp_path / "data.zarr")) and not st.is_results_store(str(tmp_path / "data.zarr"))
    assert not st.is_results_store(str(tmp_path / "nothing.zarr"))


def test_damaged_metadata_is_named(path):
    with open(f"{path}/theta/zarr.json", "r+") as f:
        f.truncate(40)
    with pytest.raises(ValueError, match=f"damaged store metadata: {path}/theta/zarr.json is not valid JSON"):
        st.open_results(path)


def test_a_url_whose_backend_is_not_installed_is_named():
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed")
    with pytest.raises(ValueError, match="cannot open s3://bucket/x.zarr: .*s3fs"):
        st.store_exists("s3://bucket/x.zarr")


def test_a_commit_cut_short_before_done_epoch_leaves_the_previous_state_to_resume_from(path):
    """A worker killed inside `commit` has rewritten some of the resume state but not yet done_epoch: the
    state done_epoch still points at must read back unchanged, without a divergence recorded after it."""
    writer = st.CellWriter(path, slice(0, 2), 1)
    theta = np.random.default_rng(0).random((2, n_params("ising")), dtype=np.float32)
    for index, epoch in enumerate((0, 3, 6)):
        writer.checkpoint(index, theta + epoch, None)
        diverged = [-1, 5] if epoch == 6 else [-1, -1]
        writer.commit({**state(epoch, theta + epoch, np.full(16, epoch, dtype=np.uint8)), "diverged_epoch": diverged})
    zarr.open_group(path, mode="r+")["done_epoch"][0:2, 1] = 3  # the kill came just before done_epoch
    read = writer.read_resume_state(rng_bytes=16)
    expected = state(3, theta + 3, np.full(16, 3, dtype=np.uint8))
    assert read["epoch"] == 3 and read["adam_step"] == 3 and read["diverged_epoch"].tolist() == [-1, -1]
    np.testing.assert_array_equal(read["theta"], theta + 3)
    for key in ("exp_avg", "exp_avg_sq", "batch_generator_state"):
        np.testing.assert_array_equal(read[key], expected[key], err_msg=key)
