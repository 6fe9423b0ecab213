"""Tests of `repro status`: rates from checkpoint times, cell states and the ETA, on a real store."""

import numpy as np
import pytest
import zarr

from grokcore import store as st
from repro.status import cell_rate, cell_state, duration, status_lines

EPOCHS = np.array([0, 100, 200, 300, 400])


def test_rate_is_the_median_over_recent_intervals():
    times = np.array([0.0, 10.0, 20.0, 3600.0 + 20.0, 3600.0 + 30.0])  # a one-hour pause between two runs
    assert cell_rate(EPOCHS, times) == (pytest.approx(10.0), pytest.approx(10.0))
    assert np.isnan(cell_rate(EPOCHS, np.array([5.0, np.nan, np.nan, np.nan, np.nan]))[0])


@pytest.mark.parametrize(("done", "last", "state"), [(400, 0.0, "finished"), (-1, np.nan, "not started"),
                                                     (200, 990.0, "running"), (200, 100.0, "stopped")])
def test_cell_states(done, last, state):
    assert cell_state(done, 400, last, interval=10.0, now=1000.0) == state


def test_durations():
    assert [duration(s) for s in (42, 200, 18120, 183600)] == ["42 s", "3 min 20 s", "5 h 02 min", "2 d 3 h"]


def test_status_of_a_partly_trained_store(tmp_path):
    path = str(tmp_path / "grid.zarr")
    st.create_store(path, st.GridShape("ising", (1.0, 10.0), (0, 1), 400, tuple(EPOCHS)),
                    {"experiment": "unit", "scale": "tiny", "config": {"epochs": 400}})
    group = zarr.open_group(path, mode="r+")
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
