"""`repro status`: epochs per cell of a store, the training rate measured from its checkpoint times, and an ETA."""

from __future__ import annotations

import time

import numpy as np

from grokcore import integrity, lease
from grokcore import store as st

RATE_INTERVALS = 10  # the rate is the median over a cell's last intervals between checkpoints (a pause
# between two runs of the grid spoils one interval, not the median)
IDLE_FACTOR = 5  # a cell is running if it wrote within IDLE_FACTOR typical intervals (and at least a minute)


def cell_rate(epochs: np.ndarray, times: np.ndarray) -> tuple[float, float]:
    """(epochs per second, typical seconds between checkpoints) of one cell from its checkpoint epochs and
    write times (checkpoint,), NaN where unwritten; (nan, nan) with fewer than two written checkpoints."""
    written = np.isfinite(times)
    e, t = epochs[written][-RATE_INTERVALS - 1:], times[written][-RATE_INTERVALS - 1:]
    if e.size < 2:
        return np.nan, np.nan
    dt = np.diff(t)
    return float(np.median(np.diff(e) / np.maximum(dt, 1e-9))), float(np.median(dt))


def cell_state(done: int, epochs: int, last_write: float, interval: float, now: float,
               writer_live: bool = False) -> str:
    """finished, running, not started, or, for a partial cell not written to lately, stopped; "in progress"
    instead while a live writer holds the store's lease (the cell is queued behind others in its task, or has
    not yet written a second checkpoint from which its interval could be known)."""
    if done == epochs:
        return "finished"
    if done < 0:
        return "not started"
    idle = now - last_write if np.isfinite(last_write) else np.inf
    if idle <= max(60.0, IDLE_FACTOR * np.nan_to_num(interval)):
        return "running"
    return "in progress" if writer_live else "stopped"


def status_lines(path: str, now: float | None = None, check_chunks: bool = True) -> list[str]:
    """The report of `repro status`: a line per cell, a line naming the process that writes the store (its
    live lease holder, if any) and a line for the grid. A finished cell that diverged, and a cell that lost
    chunks (`grokcore.integrity.damaged_cells`; `check_chunks` False skips listing the chunks), is shown as
    such (the states of `grokcore.integrity.cell_states`)."""
    now = time.time() if now is None else now
    writer = lease.live_writer(path, now)
    attrs = st.read_attrs(path)
    epochs = attrs["config"]["epochs"]
    done, times = st.cell_status(path), st.checkpoint_times(path)
    diverged = st.diverged_epochs(path).values
    damaged = set(integrity.damaged_cells(path)) if check_chunks else set()
    checkpoints = times["checkpoint"].values
    lines = [f"{path}: {attrs.get('experiment')} ({attrs.get('scale')}), {epochs} epochs per cell"]
    counts, throughput, remaining = {}, 0.0, 0
    for a, alpha in enumerate(done["alpha"].values):
        for s, seed in enumerate(done["seed"].values):
            d = int(done.values[a, s])
            cell_times = times.values[a, s]
            rate, interval = cell_rate(checkpoints, cell_times)
            state = cell_state(d, epochs, np.nanmax(cell_times, initial=-np.inf), interval, now, writer is not None)
            detail = ""
            if (a, s) in damaged:
                state, detail, d = "damaged", " (chunks missing; `repro run` trains it again)", 0
            elif state == "finished" and diverged[a, s] >= 0:
                state, detail = "diverged", f" at epoch {int(diverged[a, s])}"
            counts[state] = counts.get(state, 0) + 1
            remaining += epochs - max(d, 0)
            text = (f"  α = {alpha:<8g} seed {seed:<3d} {max(d, 0):>{len(str(epochs))}d}/{epochs} epochs  "
                    f"{state}{detail}")
            if state in ("running", "stopped", "in progress") and np.isfinite(rate):
                text += f", {rate:.3g} epochs/s" + (f", ETA {duration((epochs - d) / rate)}" if rate > 0 else "")
                throughput += rate if state == "running" else 0.0
            lines.append(text)
    lines.append("  cells: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    if writer is not None:
        lines.append(f"  written by {writer.describe(now)}")
    lines.append(_grid_line(remaining, throughput, counts, not np.isfinite(times.values).any(), writer is not None))
    return lines


def _grid_line(remaining: int, throughput: float, counts: dict, no_times: bool, writer_live: bool) -> str:
    if remaining == 0:
        return "  grid: finished"
    if writer_live and throughput <= 0:
        return (f"  grid: {remaining} model-epochs to go; no rate yet: no running cell has written two "
                f"checkpoints")
    if no_times:
        return f"  grid: {remaining} model-epochs to go; no rate: the store records no checkpoint times yet"
    if throughput <= 0:
        return f"  grid: {remaining} model-epochs to go; nothing is running (rerun the command to resume)"
    return (f"  grid: {remaining} model-epochs to go at {throughput:.3g} model-epochs/s across the "
            f"{counts.get('running', 0)} running cells: ETA {duration(remaining / throughput)}")


def duration(seconds: float) -> str:
    """'42 s', '3 min 20 s', '5 h 02 min', '2 d 3 h'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
