"""The grid engine: trains an experiment's α × seed grid as Dask tasks into one Zarr store, resumably."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grokcore import store as st
from grokcore.store_format import STORE_FORMAT, upgrade_in_place
from repro.config import Experiment
from repro.progress import REPORT_EVERY, GridProgress, TaskReporter

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DataRef:
    """How a worker finds the training data: the Ising Zarr store (None for mod-add) and its content hash."""

    ising_path: str | None
    content_hash: str


def prepare_data(exp: Experiment, data_dir: str = "data", progress: bool = True) -> DataRef:
    """Generate (or reuse) the data an experiment trains on, once, before any task starts."""
    if exp.task == "modadd":
        return DataRef(None, f"modadd-p113-{exp.data.split_sizes}")
    from grokcore.data.ising_io import ising_store_path, load_or_generate_ising

    params = ising_params(exp)
    ds = load_or_generate_ising(params, data_dir=data_dir, progress=progress)
    return DataRef(str(ising_store_path(params, data_dir)), ds.attrs["content_hash"])


def ising_params(exp: Experiment):
    """The Monte Carlo parameters of an Ising experiment's data (spec §2.3)."""
    from grokcore.data.ising import IsingParams

    start, stop, num = exp.data.temperatures
    return IsingParams(temperatures=tuple(float(t) for t in np.linspace(start, stop, int(num))),
                       n_per_temperature=exp.data.n_per_temperature, n_updates=exp.data.n_updates,
                       seed=exp.data.mc_seed)


def task_data(exp: Experiment, data: DataRef, seed: int):
    """The train/test tensors of one seed (its data split)."""
    from grokcore.data.task import ising_task_data, modadd_task_data

    if exp.task == "modadd":
        return modadd_task_data(seed, split_sizes=exp.data.split_sizes)
    import xarray as xr

    # Without dask: inside a worker, reading a dask array would submit a nested computation to the cluster,
    # which waits for a free worker slot (there is none while every worker trains).
    ds = xr.open_zarr(data.ising_path, consolidated=None, chunks=None)
    return ising_task_data(ds, seed, n_train=exp.data.n_train, n_test=exp.data.n_test,
                           stratified=exp.data.stratified)


def train_config(exp: Experiment):
    """The trainer's settings for an experiment."""
    from grokcore.train import TrainConfig

    return TrainConfig(task=exp.task, epochs=exp.epochs, lr=exp.lr, weight_decay=exp.weight_decay,
                       batch_size=exp.batch_size, shuffle=exp.shuffle, eval_every=exp.eval_every,
                       device=exp.device)


def train_cells(exp: Experiment, store_path: str, data: DataRef, seed_index: int,
                alpha_indices: tuple[int, ...], report_to: str | None = None,
                report_every: float = REPORT_EVERY) -> dict:
    """One Dask task: train the α values `alpha_indices` of one seed as an ensemble, writing each checkpoint.

    Resumes from the store's last committed checkpoint, so a rerun after a crash gives the same numbers.
    Inside a worker, reports its epochs as events on the topic `report_to` (see repro.progress).
    """
    import dask
    import torch

    torch.set_num_threads(1)
    reporter = TaskReporter(report_to, task_key(exp, seed_index, alpha_indices), len(alpha_indices), report_every)
    with dask.config.set(scheduler="synchronous"):  # never submit nested work to the cluster from a task
        return _train_cells(exp, store_path, data, seed_index, alpha_indices, reporter)


def task_key(exp: Experiment, seed_index: int, alpha_indices: tuple[int, ...]) -> str:
    """A readable name of one task: experiment, seed and first α index."""
    return f"{exp.name}-seed{exp.seeds[seed_index]}-a{alpha_indices[0]}"


def _train_cells(exp, store_path, data, seed_index, alpha_indices, reporter) -> dict:
    from grokcore.fisher import fim_diag, fisher_samples
    from grokcore.seeds import RunSeeds
    from grokcore.train import EnsembleTrainer

    seed = exp.seeds[seed_index]
    alphas = [exp.weight_multipliers[i] for i in alpha_indices]
    writer = st.CellWriter(store_path, slice(alpha_indices[0], alpha_indices[-1] + 1), seed_index)
    done = writer.done_epoch()
    reporter.start(int(done[0]) if done[0] >= 0 and (done == done[0]).all() else 0)  # before any slow setup
    if (done == exp.epochs).all():
        reporter.finish()
        return {"seed": seed, "alphas": alphas, "resumed_from": exp.epochs, "trained": False}

    data_t = task_data(exp, data, seed)
    seeds = RunSeeds.from_seed(seed)
    trainer = EnsembleTrainer(data_t, alphas, seeds, train_config(exp))
    checkpoints = exp.checkpoint_epochs
    x_fisher = fisher_samples(data_t, seeds.fisher, exp.fisher.split, exp.fisher.n_samples)

    def save(index: int, start_epoch: int) -> None:
        theta = trainer.theta()
        fim = None
        if exp.fisher.enabled:
            fim = np.stack([fim_diag(trainer.member(i), x_fisher, exp.fisher.variant) for i in range(len(alphas))])
        writer.metrics(start_epoch, trainer.epoch, trainer.metrics())
        writer.checkpoint(index, theta, fim)
        writer.commit(trainer.state_dict())

    resumed_from = int(done.min())
    if resumed_from < 0 or (done != done[0]).any():
        resumed_from = -1
        save(0, 0)
    else:
        state = writer.read_resume_state(checkpoints.index(resumed_from), _rng_state_bytes())
        trainer.load_state_dict({**state, "weight_multipliers": np.asarray(alphas)})
    for index, epoch in enumerate(checkpoints):
        if epoch > trainer.epoch:
            start = trainer.epoch
            trainer.train_until(epoch, progress=reporter)
            save(index, start)
    reporter.finish()
    return {"seed": seed, "alphas": alphas, "resumed_from": resumed_from, "trained": True,
            "final_test_acc": trainer.metrics()["test_acc"][:, -1].tolist()}


def provenance(data: DataRef) -> dict:
    """Attributes that say where a store's numbers came from."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = os.environ.get("GIT_REVISION", "unknown")  # set in the container image, which has no .git
    lock = REPO_ROOT / "requirements.lock"
    return {
        "git_revision": rev,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "unknown",
        "data_hash": data.content_hash,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def science_config(exp: Experiment) -> dict:
    """The parts of the config that determine the stored numbers (the device does not)."""
    config = exp.to_dict()
    config.pop("device")
    return config


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Human-readable list of keys whose values differ between two config dicts."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: stored {a!r}, requested {b!r}")
    return diffs


def ensure_store(exp: Experiment, store_path: str, data: DataRef, overwrite: bool = False,
                 derivation: dict | None = None) -> bool:
    """Create the store's template, or check that an existing store holds this very experiment.

    Returns True if a new store was created. Refuses a store written with another config. `derivation`
    (where a derived experiment came from, see repro.derive) is stored as the attribute `derivation`.
    """
    config = science_config(exp)
    if "://" not in store_path and Path(store_path).exists() and not st.store_exists(store_path):
        raise ValueError(f"{store_path} exists and is not a results store; refusing to write there")
    if st.store_exists(store_path) and not overwrite:
        attrs = st.read_attrs(store_path)
        diffs = config_differences(attrs.get("config", {}), config)
        if attrs.get("data_hash") != data.content_hash:
            diffs.append(f"data_hash: stored {attrs.get('data_hash')!r}, requested {data.content_hash!r}")
        if diffs:
            raise ValueError(
                f"the store {store_path} holds a different experiment:\n  " + "\n  ".join(diffs)
                + "\nchoose another --store, or pass --overwrite to replace it (its results are deleted)")
        return False
    if st.store_exists(store_path):
        import shutil

        shutil.rmtree(store_path)
    grid = st.GridShape(exp.task, exp.weight_multipliers, exp.seeds, exp.epochs, exp.checkpoint_epochs,
                        rng_state_bytes=_rng_state_bytes())
    attrs = {"experiment": exp.name, "scale": exp.scale, "description": exp.description,
             "config": config, **provenance(data), **({"derivation": derivation} if derivation else {})}
    st.create_store(store_path, grid, attrs)
    return True


def _rng_state_bytes() -> int:
    import torch

    return int(torch.Generator().get_state().numel())


def pending_tasks(exp: Experiment, store_path: str) -> list[tuple[int, tuple[int, ...]]]:
    """(seed index, α indices) of every task whose cells are not all finished."""
    done = st.cell_status(store_path).values
    return [(s, group) for s in range(len(exp.seeds)) for group in exp.alpha_groups()
            if not (done[list(group), s] == exp.epochs).all()]


def run_experiment(exp: Experiment, store_path: str | None = None, client=None, data_dir: str = "data",
                   overwrite: bool = False, progress: bool = True, echo=print, derivation: dict | None = None,
                   report_every: float = REPORT_EVERY, on_event=None) -> str:
    """Train every unfinished cell of `exp` on `client`'s workers into one store, and return its path.

    `client` is a distributed.Client, or a zero-argument callable returning one, called only if there is
    work to do. A rerun skips finished cells and resumes partial ones; Ctrl-C leaves a readable store.
    The tasks report their epochs every `report_every` seconds as Dask worker events, which drive the
    progress bar (`progress`) and `on_event(message)` (see repro.progress).
    """
    from distributed import as_completed

    store_path = store_path or st.default_store_path(exp.name, exp.scale)
    data = prepare_data(exp, data_dir, progress=progress)
    created = ensure_store(exp, store_path, data, overwrite=overwrite, derivation=derivation)
    if upgrade_in_place(store_path):
        echo(f"{store_path}: upgraded to store format {STORE_FORMAT} (epoch axis 1..E; the results are unchanged)")
    tasks = pending_tasks(exp, store_path)
    n_cells = len(exp.weight_multipliers) * len(exp.seeds)
    n_todo = sum(len(group) for _, group in tasks)
    echo(f"{exp.name} ({exp.scale}): {n_cells - n_todo} of {n_cells} cells already finished in {store_path}"
         + (" (new store)" if created else ""))
    if tasks:
        if client is None:
            raise ValueError("unfinished cells need a Dask client")
        if callable(client):
            client = client()
        echo(f"  Dask dashboard: {client.dashboard_link}")
        resources = {"GPU": 1} if exp.device == "cuda" else None
        # Readable keys for the dashboard, unique per call: a key still held by the client would return the
        # earlier result instead of training (e.g. the same experiment written to another store).
        run_id = uuid.uuid4().hex[:8]
        topic = f"repro-progress-{run_id}"
        done = np.maximum(st.cell_status(store_path).values, 0)
        tracker = GridProgress(exp.name, total=done.size * exp.epochs, done=int(done.sum()), n_cells=n_cells,
                               n_finished=n_cells - n_todo, enabled=progress, on_event=on_event)
        client.subscribe_topic(topic, tracker.handle)
        futures = [client.submit(train_cells, exp, store_path, data, s, group, report_to=topic,
                                 report_every=report_every, pure=False, retries=2, resources=resources,
                                 key=f"{task_key(exp, s, group)}-{run_id}")
                   for s, group in tasks]
        try:
            for future in as_completed(futures):
                tracker.cells_finished(_finished_lines(future.result()))
        except KeyboardInterrupt:
            client.cancel(futures)
            echo(f"\ninterrupted: the store {store_path} is readable; rerun the same command to resume")
            raise
        finally:
            client.unsubscribe_topic(topic)
            tracker.close()
    st.consolidate(store_path)
    status = st.cell_status(store_path)
    finished = int((status == exp.epochs).sum())
    echo(f"  {store_path}: {finished}/{n_cells} cells finished "
         f"(α = {list(exp.weight_multipliers)}, seeds = {list(exp.seeds)}, {exp.epochs} epochs)")
    return store_path


def _finished_lines(result: dict) -> list[str]:
    """A line per cell of a finished task (the result of `train_cells`)."""
    accuracies = result.get("final_test_acc", [np.nan] * len(result["alphas"]))
    return [f"  finished α = {alpha:g}, seed {result['seed']}: final test accuracy {acc:.3f}"
            for alpha, acc in zip(result["alphas"], accuracies, strict=True)]
