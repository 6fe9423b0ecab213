"""Tests of the grid engine on a real LocalCluster, a real external scheduler and real Zarr stores."""

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from distributed import Client, LocalCluster

from grokcore import store as st
from repro.cluster import configure_workers
from repro.config import experiment_from_dict
from repro.grid import config_differences, ensure_store, prepare_data, run_experiment, train_cells

VARIABLES = ("train_loss", "train_acc", "test_loss", "test_acc", "theta", "fim_diag")


def small_experiment(task="modadd", epochs=3, group_size=2, alphas=(0.5, 2.0), seeds=(0, 1), every=1,
                     seed_group_size=1):
    raw = {"task": task, "weight_multipliers": list(alphas), "seeds": list(seeds), "group_size": group_size,
           "seed_group_size": seed_group_size,
           "checkpoints": [[0, epochs, every]],
           "train": {"epochs": epochs, "lr": 5e-3 if task == "modadd" else 1e-3, "weight_decay": 3e-5,
                     "batch_size": 1024 if task == "modadd" else 300, "eval_every": 1},
           "fisher": {"n_samples": 16 if task == "modadd" else None}}
    if task == "ising":
        raw["data"] = {"temperatures": [1.5, 3.0, 4], "n_per_temperature": 50, "n_updates": 1000,
                       "n_train": 60, "n_test": 100}
    return experiment_from_dict(raw, name=f"test-{task}", scale="tiny")


@pytest.fixture(scope="module")
def client():
    configure_workers()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def assert_same_results(a, b):
    for name in VARIABLES:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def train_serially(exp, path, data_dir):
    """Every cell alone: one α per ensemble, one after the other, in this process."""
    exp = dataclasses.replace(exp, group_size=1)
    data = prepare_data(exp, str(data_dir), progress=False)
    ensure_store(exp, path, data)
    for s in range(len(exp.seeds)):
        for a in range(len(exp.weight_multipliers)):
            train_cells(exp, path, data, (s,), (a,))
    return st.open_results(path)


# Bit for bit: a model's numbers do not depend on the ensemble that trains it (α groups of 2, seed groups of 1 or 2).
@pytest.mark.parametrize("seed_group_size", [1, 2])
@pytest.mark.parametrize("task", ["modadd", "ising"])
def test_grid_on_local_cluster_equals_cells_trained_alone(client, tmp_path, task, seed_group_size):
    exp = small_experiment(task, epochs=3 if task == "modadd" else 20, every=1 if task == "modadd" else 5,
                           seed_group_size=seed_group_size)
    path = run_experiment(exp, str(tmp_path / "grid.zarr"), client=client, data_dir=str(tmp_path / "data"),
                          progress=False, echo=lambda *_: None)
    grid = st.open_results(path)
    assert (grid.done_epoch.values == exp.epochs).all()
    assert not np.isnan(grid.theta.values).any() and not np.isnan(grid.fim_diag.values).any()
    alone = train_serially(exp, str(tmp_path / "alone.zarr"), tmp_path / "data")
    assert_same_results(grid, alone)


def test_rerun_skips_finished_cells(client, tmp_path):
    exp = small_experiment(epochs=2)
    path = str(tmp_path / "grid.zarr")
    run_experiment(exp, path, client=client, progress=False, echo=lambda *_: None)
    lines = []
    run_experiment(exp, path, client=None, progress=False, echo=lines.append)
    assert "4 of 4 cells already finished" in lines[0]


def test_changed_config_is_refused_with_the_difference(client, tmp_path):
    path = str(tmp_path / "grid.zarr")
    run_experiment(small_experiment(epochs=2), path, client=client, progress=False, echo=lambda *_: None)
    changed = dataclasses.replace(small_experiment(epochs=2), lr=1e-2)
    with pytest.raises(ValueError, match="lr: stored 0.005, requested 0.01"):
        run_experiment(changed, path, client=client, progress=False, echo=lambda *_: None)
    run_experiment(changed, path, client=client, overwrite=True, progress=False, echo=lambda *_: None)
    assert st.read_attrs(path)["config"]["lr"] == 0.01


def test_config_differences_lists_nested_keys():
    assert config_differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}}) == ["b.c: stored 2, requested 3"]


def wait_for_progress(path, condition, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        try:
            done = st.cell_status(path).values
        except (FileNotFoundError, KeyError):  # the template is still being written
            done = None
        if done is not None and condition(done):
            return done
        time.sleep(0.2)
    raise TimeoutError("the grid made no progress")


def test_killed_worker_is_retried_and_numbers_are_unchanged(tmp_path):
    exp = small_experiment(epochs=8, seeds=(0, 1))
    configure_workers()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        reference_path = run_experiment(exp, str(tmp_path / "ref.zarr"), client=client, progress=False,
                                        echo=lambda *_: None)
        reference = st.open_results(reference_path)
        path = str(tmp_path / "killed.zarr")
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault(
            "path", run_experiment(exp, path, client=client, progress=False, echo=lambda *_: None)))
        thread.start()
        wait_for_progress(path, lambda done: ((done > 0) & (done < exp.epochs)).any())
        pids = client.run(os.getpid)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        thread.join(timeout=300)
        assert result.get("path") == path
    assert (st.cell_status(path).values == exp.epochs).all()
    assert_same_results(st.open_results(path), reference)


RUNNER = """
import sys
from distributed import Client, LocalCluster
from repro.cluster import configure_workers
from repro.grid import run_experiment
sys.path.insert(0, {tests!r})
from test_grid import small_experiment
configure_workers()
with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as c, Client(c) as cl:
    run_experiment(small_experiment(epochs=12, seeds=(0, 1, 2, 3)), {path!r}, client=cl, progress=False)
"""


def test_interrupted_client_leaves_a_readable_resumable_store(client, tmp_path):
    exp = small_experiment(epochs=12, seeds=(0, 1, 2, 3))
    path = str(tmp_path / "interrupted.zarr")
    script = RUNNER.format(tests=os.path.dirname(__file__), path=path)
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for_progress(path, lambda done: (done > 0).any())
    runner.send_signal(signal.SIGINT)
    output = runner.communicate(timeout=120)[0].decode()
    assert runner.returncode != 0, output
    partial = st.cell_status(path).values
    assert (partial < exp.epochs).any(), "the run finished before it could be interrupted"
    started = partial >= 0  # cells of a task the interrupt reached before it began are missing, not broken
    theta0 = st.open_results(path).theta.isel(checkpoint=0).values
    assert started.any() and not np.isnan(theta0[started]).any()
    run_experiment(exp, path, client=client, progress=False, echo=lambda *_: None)
    reference = run_experiment(exp, str(tmp_path / "ref.zarr"), client=client, progress=False,
                               echo=lambda *_: None)
    assert_same_results(st.open_results(path), st.open_results(reference))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grid_through_external_scheduler_and_worker_processes(tmp_path, monkeypatch):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": ""}
    processes = [subprocess.Popen([f"{bin_dir}/dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)]
    try:
        processes.append(subprocess.Popen([f"{bin_dir}/dask", "worker", address, "--nworkers", "1", "--nthreads",
                                           "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
        from repro.cluster import connected

        with connected(cluster="local") as client:
            client.wait_for_workers(1, timeout=60)
            assert client.scheduler.address == address
            path = run_experiment(small_experiment(epochs=2), str(tmp_path / "ext.zarr"), client=client,
                                  progress=False, echo=lambda *_: None)
        assert (st.cell_status(path).values == 2).all()
    finally:
        for process in processes[::-1]:
            process.terminate()
            process.wait(timeout=30)


def test_same_experiment_into_two_stores_trains_both(client, tmp_path, monkeypatch):
    """Task keys are unique per run: Dask returns a still-held key's earlier result instead of training."""
    keys, submit = [], client.submit
    monkeypatch.setattr(client, "submit", lambda *a, **kw: keys.append(kw["key"]) or submit(*a, **kw))
    exp = small_experiment(epochs=2)
    for name in ("first.zarr", "second.zarr"):
        path = run_experiment(exp, str(tmp_path / name), client=client, progress=False, echo=lambda *_: None)
        assert (st.cell_status(path).values == 2).all(), name
    assert len(keys) == 4 and len(set(keys)) == 4


LEASE_RUNNER = """
import pathlib, sys, time
from distributed import Client, LocalCluster
from repro import grid
from repro.cluster import configure_workers
sys.path.insert(0, {tests!r})
from test_grid import small_experiment
train = grid._train_on_cluster
def paused(*args, **kwargs):  # hold the lease, with the store made, until told to go on
    pathlib.Path({signal!r} + ".started").touch()
    while not pathlib.Path({signal!r} + ".go").exists():
        time.sleep(0.1)
    return train(*args, **kwargs)
grid._train_on_cluster = paused
configure_workers()
cluster = lambda: Client(LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None))
grid.run_experiment(small_experiment(epochs=2), {path!r}, client=cluster, progress=False)
"""


def test_a_second_client_is_refused_and_a_dead_ones_lease_is_broken(client, tmp_path):
    """Two real processes on one store: the second is refused while the first holds it; once the first is
    killed, its stale lease is broken and the store ends with the numbers of an undisturbed run."""
    exp = small_experiment(epochs=2)
    path, signal_file = str(tmp_path / "shared.zarr"), str(tmp_path / "signal")
    script = LEASE_RUNNER.format(tests=os.path.dirname(__file__), path=path, signal=signal_file)
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.time() + 300
        while not os.path.exists(signal_file + ".started") and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert os.path.exists(signal_file + ".started"), "the first client never took the store"
        second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert second.returncode != 0 and "LeaseHeld" in second.stderr, second.stderr[-2000:]
        assert f"being written by pid {first.pid} on host {socket.gethostname()}" in second.stderr
        assert not os.path.exists(signal_file + ".started") or (st.cell_status(path).values == -1).all()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    said = []
    run_experiment(exp, path, client=client, progress=False, echo=said.append)
    assert any(f"process {first.pid} no longer runs" in line for line in said), said
    reference = run_experiment(exp, str(tmp_path / "ref.zarr"), client=client, progress=False, echo=lambda *_: None)
    assert_same_results(st.open_results(path), st.open_results(reference))


def test_overwrite_writes_aside_and_swaps_only_when_finished(client, tmp_path, monkeypatch):
    from repro import grid

    path = str(tmp_path / "grid.zarr")
    run_experiment(small_experiment(epochs=2), path, client=client, progress=False, echo=lambda *_: None)
    before = st.open_results(path).theta.values.copy()
    changed = dataclasses.replace(small_experiment(epochs=2), lr=1e-2)

    def crash(*_, **__):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(grid, "_train_on_cluster", crash)
    with pytest.raises(RuntimeError, match="worker lost"):
        run_experiment(changed, path, client=client, overwrite=True, progress=False, echo=lambda *_: None)
    np.testing.assert_array_equal(st.open_results(path).theta.values, before)
    assert st.read_attrs(path)["config"]["lr"] == 0.005
    monkeypatch.undo()
    said = []
    run_experiment(changed, path, client=client, overwrite=True, progress=False, echo=said.append)
    assert st.read_attrs(path)["config"]["lr"] == 0.01 and (st.cell_status(path).values == 2).all()
    assert any(f"replaced {path}" in line for line in said)
    assert sorted(os.listdir(tmp_path)) == ["grid.zarr"]  # no replacement, old store or lease left behind
    said.clear()
    run_experiment(changed, path, client=None, overwrite=True, progress=False, echo=said.append)
    assert "nothing needs replacing" in said[0]


def test_overwrite_leaves_the_store_alone_when_the_cluster_fails(tmp_path):
    path = str(tmp_path / "grid.zarr")
    exp = small_experiment(epochs=1, seeds=(0,), alphas=(1.0,))
    data = prepare_data(exp, progress=False)
    ensure_store(exp, path, data)
    train_cells(exp, path, data, (0,), (0,))
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def no_cluster():
        raise OSError("Timed out trying to connect to tcp://127.0.0.1:1")

    with pytest.raises(OSError, match="Timed out"):
        run_experiment(dataclasses.replace(exp, lr=1e-2), path, client=no_cluster, overwrite=True, progress=False,
                       echo=lambda *_: None)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing


def test_overwrite_never_replaces_a_store_that_is_not_a_results_store(tmp_path):
    import zarr

    path = str(tmp_path / "ising-data.zarr")
    zarr.open_group(path, mode="w").attrs["content_hash"] = "abc"
    with pytest.raises(ValueError, match="not a results store of this artifact; refusing to write there"):
        run_experiment(small_experiment(epochs=1), path, client=lambda: None, overwrite=True, progress=False,
                       echo=lambda *_: None)
    assert zarr.open_group(path).attrs["content_hash"] == "abc"


def test_non_finite_values_are_refused_before_a_store_exists(tmp_path):
    for exp in (small_experiment(alphas=(1.0, float("inf"))), dataclasses.replace(small_experiment(), lr=math.inf),
                dataclasses.replace(small_experiment(), weight_decay=math.inf)):
        with pytest.raises(ValueError, match="finite"):
            run_experiment(exp, str(tmp_path / "grid.zarr"), client=lambda: None, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_missing_chunk_is_trained_again_to_the_same_numbers(client, tmp_path):
    exp = small_experiment(epochs=2)
    path = run_experiment(exp, str(tmp_path / "grid.zarr"), client=client, progress=False, echo=lambda *_: None)
    before = st.open_results(path).load()
    os.remove(os.path.join(path, "theta", "c", "1", "0", "0", "0"))
    said = []
    run_experiment(exp, path, client=client, progress=False, echo=said.append)
    assert "2 of 4 cells already finished" in said[0]  # the damaged cell's task trains its α group again
    assert_same_results(st.open_results(path), before)
