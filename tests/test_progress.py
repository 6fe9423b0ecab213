"""Tests of grid progress: events sent by the training tasks in worker processes reach the client's bar."""

import os

from distributed import Client, LocalCluster

from repro.cluster import configure_workers
from repro.config import experiment_from_dict
from repro.grid import run_experiment
from repro.progress import GridProgress


def tiny_grid(epochs=4):
    raw = {"task": "modadd", "weight_multipliers": [0.5, 2.0], "seeds": [0, 1], "group_size": 2,
           "checkpoints": [[0, epochs, 2]],
           "train": {"epochs": epochs, "lr": 5e-3, "weight_decay": 0.0, "batch_size": 4096},
           "fisher": {"enabled": False}}
    return experiment_from_dict(raw, name="progress", scale="tiny")


def test_workers_report_every_epoch_of_every_task(tmp_path, capsys):
    exp, events, said = tiny_grid(), [], []
    configure_workers()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        run_experiment(exp, str(tmp_path / "grid.zarr"), client=client, progress=False, echo=said.append,
                       report_every=0.0, on_event=events.append)
    # Without a bar, the finished cells are told through echo, not printed.
    assert sorted(line[-11:] for line in said if "finished α" in line) == [f"({k}/4 cells)" for k in range(1, 5)]
    assert "finished α" not in capsys.readouterr().out
    assert {e["pid"] for e in events} <= worker_pids and os.getpid() not in worker_pids
    tasks = {e["task"] for e in events}
    assert tasks == {"progress-seed0-a0", "progress-seed1-a0"}
    for task in tasks:
        mine = [e for e in events if e["task"] == task]
        assert [e["kind"] for e in mine] == ["start", *["epoch"] * exp.epochs, "done"]
        assert [e["epoch"] for e in mine] == [0, *range(1, exp.epochs + 1), exp.epochs]
        assert all(e["models"] == 2 for e in mine)


def test_bar_counts_model_epochs_of_all_running_tasks():
    progress = GridProgress("grid", total=40, done=10, n_cells=4, n_finished=1, enabled=False)
    progress.handle((0.0, {"kind": "start", "task": "a", "epoch": 5, "models": 2}))
    progress.handle((0.0, {"kind": "start", "task": "b", "epoch": 0, "models": 3}))
    progress.handle((1.0, {"kind": "epoch", "task": "a", "epoch": 8, "models": 2}))
    progress.handle((1.0, {"kind": "epoch", "task": "b", "epoch": 4, "models": 3}))
    assert progress.position == 10 + 2 * 3 + 3 * 4
    progress.handle((2.0, {"kind": "done", "task": "a", "epoch": 10, "models": 2}))
    assert progress.position == 10 + 2 * 5 + 3 * 4
    assert [t["running"] for t in progress.tasks.values()] == [False, True]
    progress.cells_finished(["  finished α = 1", "  finished α = 2"])
    assert progress.n_finished == 3
    progress.close()
