"""Grid progress: tasks report their epochs from the Dask workers as events; the client shows model-epochs,
throughput and ETA across all running tasks, and a line per finished cell."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

REPORT_EVERY = 2.0  # seconds between a task's progress events


class TaskReporter:
    """Sends one task's progress to the client as Dask worker events (`Worker.log_event` on `topic`).

    `update(n)` is tqdm-like, so `EnsembleTrainer.train_until` advances it after every epoch; it reports at
    most every `every` seconds, and always at `start` and `finish`. Outside a Dask worker it reports nothing.
    """

    def __init__(self, topic: str | None, task: str, n_models: int, every: float = REPORT_EVERY):
        from distributed import get_worker

        try:
            self.worker = get_worker() if topic else None
        except ValueError:  # not running inside a worker
            self.worker = None
        self.topic, self.task, self.n_models, self.every = topic, task, n_models, every
        self.epoch, self._last = 0, -float("inf")

    def start(self, epoch: int) -> None:
        self.epoch = epoch
        self._send("start")

    def update(self, n: int = 1) -> None:
        self.epoch += n
        if time.monotonic() - self._last >= self.every:
            self._send("epoch")

    def finish(self) -> None:
        self._send("done")

    def _send(self, kind: str) -> None:
        self._last = time.monotonic()
        if self.worker is not None:
            self.worker.log_event(self.topic, {"kind": kind, "task": self.task, "epoch": self.epoch,
                                               "models": self.n_models, "pid": os.getpid(),
                                               "worker": self.worker.address})


class GridProgress:
    """The client's view of a grid: a bar of model-epochs (all cells' epochs × models) fed by the tasks'
    events, with tqdm's throughput and ETA, and one line per finished cell.

    total: model-epochs of the whole grid; done: model-epochs already in the store when the run started.
    `handle` is the `Client.subscribe_topic` handler; `on_event` (optional) sees every event message.
    """

    def __init__(self, desc: str, total: int, done: int, n_cells: int, n_finished: int, enabled: bool = True,
                 on_event: Callable[[dict], None] | None = None, echo: Callable[[str], None] = print):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc=desc, unit="model-epoch", unit_scale=True,
                        disable=not enabled, smoothing=0.1)
        self.done, self.n_cells, self.n_finished, self.on_event = done, n_cells, n_finished, on_event
        self.echo = echo
        self.position = done  # model-epochs trained so far (the bar's count, also when it is not shown)
        self.tasks: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._postfix()

    def handle(self, event) -> None:
        """One worker event, (timestamp, message) as Dask delivers it."""
        _, msg = event
        with self._lock:
            task = self.tasks.setdefault(msg["task"], {"first": msg["epoch"], "epoch": msg["epoch"]})
            task.update(epoch=msg["epoch"], models=msg["models"], running=msg["kind"] != "done")
            position = self.done + sum((t["epoch"] - t["first"]) * t["models"] for t in self.tasks.values())
            self._postfix()
            if position > self.position:
                self.bar.update(position - self.position)
            else:  # the tasks running changed, the count did not
                self.bar.refresh()
            self.position = position
        if self.on_event is not None:
            self.on_event(msg)

    def cells_finished(self, lines: list[str]) -> None:
        """Count the finished cells of `lines` (one per cell) and show each, numbered, above the bar (which it
        redraws below), or through `echo` when the bar is disabled."""
        with self._lock:
            for line in lines:
                self.n_finished += 1
                self._postfix()
                (self.echo if self.bar.disable else self.bar.write)(f"{line} ({self.n_finished}/{self.n_cells} cells)")

    def _postfix(self) -> None:
        """Set the bar's postfix without drawing it: each caller draws once (a log file keeps every draw)."""
        running = sum(t["running"] for t in self.tasks.values())
        self.bar.set_postfix_str(f"{running} tasks running, {self.n_finished}/{self.n_cells} cells finished",
                                 refresh=False)

    def close(self) -> None:
        self.bar.close()
