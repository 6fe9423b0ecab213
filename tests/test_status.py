"""Tests of `repro status`: rates from checkpoint times, cell states and the ETA, on a real store."""

import os
import time

import numpy as np
import pytest
import zarr

from grokcore import store as st
from grokcore.lease import StoreLease
from repro.status import cell_rate, cell_state, duration, status_lines

EPOCHS = np.array([0, 100, 200, 300, 400])


def test_rate_is_the_median_over_recent_intervals():
    times = np.array([0.0, 10.0, 20.0, 3600.0 + 20.0, 3600.0 + 30.0])  # a one-hour pause between two runs
    assert cell_rate(EPOCHS, times) == (pytest.approx(10.0), pytest.approx(10.0))
    assert np.isnan(cell_rate(EPOCHS, np.array([5.0, np.nan, np.nan, np.nan, np.nan]))[0])


@pytest.mark.parametrize(("done", "last", "interval", "writer_live", "state"), [
    (400, 0.0, 10.0, False, "finished"), (-1, np.nan, 10.0, True, "not started"),
    (200, 990.0, 10.0, False, "running"), (200, 100.0, 10.0, False, "stopped"),
    (200, 100.0, 10.0, True, "in progress"),  # queued behind other cells of its task
    (0, 500.0, np.nan, True, "in progress"),  # one checkpoint: no interval known yet
    (0, 990.0, np.nan, False, "running")])
def test_cell_states(done, last, interval, writer_live, state):
    assert cell_state(done, 400, last, interval=interval, now=1000.0, writer_live=writer_live) == state


def test_durations():
    assert [duration(s) for s in (42, 200, 18120, 183600)] == ["42 s", "3 min 20 s", "5 h 02 min", "2 d 3 h"]


def unit_store(path: str) -> zarr.Group:
    st.create_store(path, st.GridShape("ising", (1.0, 10.0), (0, 1), 400, tuple(EPOCHS)),
                    {"experiment": "unit", "scale": "tiny", "config": {"epochs": 400}})
    return zarr.open_group(path, mode="r+")


def test_status_of_a_partly_trained_store(tmp_path):
    path = str(tmp_path / "grid.zarr")
    group = unit_store(path)
    now = 10_000.0
    # α = 1: seed 0 finished, seed 1 running at 2 epochs/s (200 epochs, last write 10 s ago); α = 10 seed 0
    # stopped an hour ago at 100 epochs; α = 10 seed 1 not started.
    group["done_epoch"][...] = np.array([[400, 200], [100, -1]], dtype=np.int32)
    times = np.full((2, 2, 5), np.nan)
    times[0, 0] = [0, 50, 100, 150, 200]
    times[0, 1, :3] = [now - 110, now - 60, now - 10]
    times[1, 0, :2] = [now - 3700, now - 3600]
    group["checkpoint_time"][...] = times
    lines = status_lines(path, now=now, check_chunks=False)  # done_epoch set by hand: no data chunks
    text = "\n".join(lines)
    assert "α = 1        seed 0   400/400 epochs  finished" in text
    assert "seed 1   200/400 epochs  running, 2 epochs/s, ETA 1 min 40 s" in text
    assert "α = 10       seed 0   100/400 epochs  stopped, 1 epochs/s" in text
    assert "seed 1     0/400 epochs  not started" in text
    assert lines[-2] == "  cells: 1 finished, 1 running, 1 stopped, 1 not started"
    # 200 + 300 + 400 model-epochs to go at the running cell's 2 model-epochs/s
    assert lines[-1] == "  grid: 900 model-epochs to go at 2 model-epochs/s across the 1 running cells: ETA 7 min 30 s"


def test_status_while_a_live_writer_has_written_only_first_checkpoints(tmp_path):
    """A grid minutes into its run: every cell has θ at epoch 0 only. The report names the writer and says
    that no rate is known yet, not that nothing runs (that those cells are not damaged: test_integrity)."""
    path = str(tmp_path / "grid.zarr")
    group = unit_store(path)
    now = time.time()
    group["done_epoch"][...] = np.zeros((2, 2), dtype=np.int32)
    times = np.full((2, 2, 5), np.nan)
    times[..., 0] = now - 300
    group["checkpoint_time"][...] = times
    with StoreLease(path):
        lines = status_lines(path, now=now, check_chunks=False)
    assert all(line.endswith("0/400 epochs  in progress") for line in lines[1:5])
    assert lines[-3] == "  cells: 4 in progress"
    assert lines[-2].startswith(f"  written by pid {os.getpid()} on host ")
    assert lines[-1] == "  grid: 1600 model-epochs to go; no rate yet: no running cell has written two checkpoints"
    lines = status_lines(path, now=now, check_chunks=False)  # the writer is gone: the same cells are stopped
    assert lines[-2] == "  cells: 4 stopped"
    assert lines[-1] == "  grid: 1600 model-epochs to go; nothing is running (rerun the command to resume)"
