"""The grid engine: trains an experiment's α × seed grid as Dask tasks into one Zarr store, resumably."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grokcore import integrity
from grokcore import store as st
from grokcore import store_files as sf
from grokcore.lease import StoreLease
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


def check_trainable(exp: Experiment) -> None:
    """Refuse, before any store exists, every value the trainer would refuse once the store is made."""
    train_config(exp)  # lr and weight decay finite
    bad = [a for a in exp.weight_multipliers if not math.isfinite(a)]
    if bad:
        raise ValueError(f"experiment {exp.name!r} ({exp.scale}): weight multipliers must be finite, got {bad}")


def train_cells(exp: Experiment, store_path: str, data: DataRef, seed_indices: tuple[int, ...],
                alpha_indices: tuple[int, ...], report_to: str | None = None,
                report_every: float = REPORT_EVERY, fence=None) -> dict:
    """One Dask task: train the α values `alpha_indices` of the seeds `seed_indices` as one ensemble (each seed
    with its own data split, initialisation and batch order), writing each checkpoint.

    Resumes from the store's last committed checkpoint, so a rerun after a crash gives the same numbers.
    Inside a worker, reports its epochs as events on the topic `report_to` (see repro.progress).
    `fence` (the run's `grokcore.lease.Fence`) stops the task before any write once its lease is gone.
    """
    import dask
    import torch

    from grokcore.numerics import flush_denormals

    torch.set_num_threads(1)
    n_models = len(alpha_indices) * len(seed_indices)
    reporter = TaskReporter(report_to, task_key(exp, seed_indices, alpha_indices), n_models, report_every)
    # never submit nested work to the cluster from a task; Fisher diagonals and writes also skip denormals
    with dask.config.set(scheduler="synchronous"), flush_denormals():
        return _train_cells(exp, store_path, data, tuple(seed_indices), alpha_indices, reporter, fence)


def task_key(exp: Experiment, seed_indices: tuple[int, ...], alpha_indices: tuple[int, ...]) -> str:
    """A readable name of one task: experiment, seeds and first α index."""
    first, last = exp.seeds[seed_indices[0]], exp.seeds[seed_indices[-1]]
    return f"{exp.name}-seed{first}" + (f"-{last}" if len(seed_indices) > 1 else "") + f"-a{alpha_indices[0]}"


def _train_cells(exp, store_path, data, seed_indices, alpha_indices, reporter, fence) -> dict:
    from grokcore.seeds import RunSeeds
    from grokcore.train import EnsembleTrainer

    seeds = [exp.seeds[i] for i in seed_indices]
    alphas = [exp.weight_multipliers[i] for i in alpha_indices]
    writers = [st.CellWriter(store_path, slice(alpha_indices[0], alpha_indices[-1] + 1), s, fence)
               for s in seed_indices]
    done = np.stack([writer.done_epoch() for writer in writers])  # (seed, alpha)
    reporter.start(int(done.flat[0]) if done.min() >= 0 and (done == done.flat[0]).all() else 0)  # before setup
    if (done == exp.epochs).all():
        reporter.finish()
        return {"seeds": seeds, "alphas": alphas, "resumed_from": exp.epochs, "trained": False}

    datas = [task_data(exp, data, seed) for seed in seeds]
    run_seeds = [RunSeeds.from_seed(seed) for seed in seeds]
    trainer = EnsembleTrainer(datas, alphas, run_seeds, train_config(exp))
    save = _checkpoint_writer(exp, trainer, writers, datas, run_seeds)
    resumed_from = int(done.min())
    if resumed_from < 0 or (done != done.flat[0]).any():
        resumed_from = -1
        save(0, 0)
    else:
        states = [writer.read_resume_state(_rng_state_bytes()) for writer in writers]
        trainer.load_state_dict([{**state, "weight_multipliers": np.asarray(alphas)} for state in states])
    for index, epoch in enumerate(exp.checkpoint_epochs):
        if epoch > trainer.epoch:
            start = trainer.epoch
            trainer.train_until(epoch, progress=reporter)
            save(index, start)
    reporter.finish()
    return {"seeds": seeds, "alphas": alphas, "resumed_from": resumed_from, "trained": True,
            "final_test_acc": trainer.metrics()["test_acc"][:, -1].reshape(len(seeds), len(alphas)).tolist()}


def _checkpoint_writer(exp, trainer, writers, datas, run_seeds):
    """save(index, start_epoch): write checkpoint `index` of every seed's cells (metrics since start_epoch, θ,
    Fisher diagonals, resume state), one seed after another; a crash between two seeds leaves them at different
    epochs, and `pending_tasks` resumes each from its own."""
    from grokcore.fisher import fim_diag, fisher_samples
    from grokcore.models import model_at

    # On a GPU the Fisher diagonals are computed there too: on the worker's one CPU thread an Ising model's takes
    # about 31 ms, 2.5 s for 80 models, against about 1 s for the 200 GPU epochs between two checkpoints.
    x_fisher = [fisher_samples(split, seeds.fisher, exp.fisher.split, exp.fisher.n_samples).to(trainer.device)
                for split, seeds in zip(datas, run_seeds, strict=True)]

    def save(index: int, start_epoch: int) -> None:
        theta, metrics, diverged = trainer.theta(), trainer.metrics(), trainer.diverged_epoch()
        nan = np.full(theta.shape[1], np.nan, dtype=np.float32)
        for k, (writer, state) in enumerate(zip(writers, trainer.seed_states(), strict=True)):
            rows = range(theta.shape[0])[trainer.seed_models(k)]
            fim = None
            if exp.fisher.enabled:  # none for a model that diverged: its θ is not a result
                # each model from the θ read once above (trainer.member would read every model's θ again)
                fim = np.stack([nan if diverged[m] >= 0 else
                                fim_diag(model_at(exp.task, theta[m]).to(trainer.device), x_fisher[k],
                                         exp.fisher.variant) for m in rows])
            writer.metrics(start_epoch, trainer.epoch, {name: values[rows] for name, values in metrics.items()})
            writer.checkpoint(index, theta[rows], fim)
            writer.commit(state)

    return save


def git_revision() -> str:
    """The git commit of this code; GIT_REVISION (set in the container image, which has no .git) or "unknown"
    where git cannot tell."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("GIT_REVISION", "unknown")


def lock_sha256() -> str:
    """sha256 of requirements.lock, the pinned environment ("unknown" where the lock is not beside the code)."""
    lock = REPO_ROOT / "requirements.lock"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "unknown"


def provenance(data: DataRef) -> dict:
    """Attributes that say where a store's numbers came from."""
    rev = git_revision()
    import torch

    return {
        "git_revision": rev,
        "lock_sha256": lock_sha256(),
        "torch": torch.__version__,  # torch has its own lock per build (requirements-torch-*.lock)
        "data_hash": data.content_hash,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def science_config(exp: Experiment) -> dict:
    """The parts of the config that determine the stored numbers: not the device, nor how many seeds a task
    trains together (each model trains as alone, to float round-off)."""
    config = exp.to_dict()
    config.pop("device")
    config.pop("seed_group_size")
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


@dataclass(frozen=True)
class StorePlan:
    """What a run will do to its store, decided by reading only: nothing is written before the lease."""

    path: str  # the store the user named
    target: str  # the store the tasks write: `path`, or the replacement written beside it
    create: bool  # `target` must be created (a stale replacement is deleted first)
    overwrite: bool
    note: str = ""  # said to the user before the run

    @property
    def replacing(self) -> bool:
        return self.target != self.path


def plan_store(exp: Experiment, store_path: str, data: DataRef, overwrite: bool = False) -> StorePlan:
    """Decide where `exp` is written; refuse a path holding anything but a results store of this config.

    With `overwrite`, a store of another config is replaced by writing aside and swapping at the end.
    """
    swap = sf.interrupted_swap(store_path)
    if swap:
        raise ValueError(swap)
    for path in (store_path, store_path + sf.REPLACEMENT_SUFFIX):
        if _occupied(path) and not st.is_results_store(path):
            raise ValueError(f"{path} exists and is not a results store of this artifact; refusing to write there")
    if not st.store_exists(store_path):
        return StorePlan(store_path, store_path, True, overwrite)
    diffs = _store_differences(exp, store_path, data)
    if not diffs:
        note = f"--overwrite: nothing needs replacing, {store_path} holds this very config" if overwrite else ""
        return StorePlan(store_path, store_path, False, overwrite, note)
    aside = store_path + sf.REPLACEMENT_SUFFIX
    if not overwrite:
        hint = f" (an unfinished replacement is at {aside})" if st.store_exists(aside) else ""
        raise ValueError(
            f"the store {store_path} holds a different experiment:\n  " + "\n  ".join(diffs)
            + f"\nchoose another --store, or pass --overwrite to replace it once the new run has finished{hint}")
    resume = st.store_exists(aside) and not _store_differences(exp, aside, data)
    return StorePlan(store_path, aside, not resume, overwrite,
                     f"--overwrite: writing the new results to {aside}; they replace {store_path} once every "
                     f"cell has finished (until then {store_path} stays as it is)")


def _occupied(path: str) -> bool:
    return Path(path).exists() if sf.is_local(path) else st.store_exists(path)


def _store_differences(exp: Experiment, path: str, data: DataRef) -> list[str]:
    attrs = st.read_attrs(path)
    diffs = config_differences(attrs.get("config", {}), science_config(exp))
    if attrs.get("data_hash") != data.content_hash:
        diffs.append(f"data_hash: stored {attrs.get('data_hash')!r}, requested {data.content_hash!r}")
    return diffs


def prepare_target(exp: Experiment, plan: StorePlan, data: DataRef, echo=print,
                   derivation: dict | None = None) -> None:
    """Under the store's lease: create the plan's target (its attribute `derivation` says where a derived
    experiment came from, see repro.derive), or check it is writable, bring an older store format up to
    date, and mark for retraining the cells whose chunks are missing."""
    problem = sf.unwritable_part(plan.target)
    if problem:
        raise PermissionError(f"cannot write the results store {plan.target}: {problem} is read-only")
    if not plan.create:
        if upgrade_in_place(plan.target):
            echo(f"{plan.target}: upgraded to store format {STORE_FORMAT} (epoch axis 1..E; the results are "
                 "unchanged)")
        damaged = integrity.damaged_cells(plan.target)
        if damaged:
            cells = ", ".join(f"α={exp.weight_multipliers[a]:g} seed={exp.seeds[s]}" for a, s in damaged)
            echo(f"  chunks are missing in {len(damaged)} cells; training them again: {cells}")
            st.reset_cells(plan.target, damaged)
        return
    if st.store_exists(plan.target):  # a replacement of another config, left by an earlier --overwrite
        sf.remove_store(plan.target)
    grid = st.GridShape(exp.task, exp.weight_multipliers, exp.seeds, exp.epochs, exp.checkpoint_epochs,
                        rng_state_bytes=_rng_state_bytes())
    attrs = {"experiment": exp.name, "scale": exp.scale, "description": exp.description,
             "config": science_config(exp), **provenance(data), **({"derivation": derivation} if derivation else {})}
    st.create_store(plan.target, grid, attrs)


def finish_target(exp: Experiment, plan: StorePlan, echo=print) -> None:
    """Under the store's lease, after the tasks: consolidate, and swap a finished replacement in."""
    st.consolidate(plan.target)
    if plan.replacing and not pending_tasks(exp, plan.target):
        sf.replace_store(plan.path, plan.target)
        echo(f"  replaced {plan.path} with the new results")


def ensure_store(exp: Experiment, store_path: str, data: DataRef, derivation: dict | None = None,
                 echo=print) -> bool:
    """Create the store's template, or check that an existing store holds this very experiment; True if
    created. Takes no lease: for a single writer such as a test; `run_experiment` holds the lease."""
    plan = plan_store(exp, store_path, data)
    prepare_target(exp, plan, data, echo, derivation)
    return plan.create


def _rng_state_bytes() -> int:
    import torch

    return int(torch.Generator().get_state().numel())


def pending_tasks(exp: Experiment, store_path: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(seed indices, α indices) of every task whose cells are not all finished or miss chunks."""
    done = st.cell_status(store_path).values
    for a, s in integrity.damaged_cells(store_path):
        done[a, s] = -1
    return tasks_for(exp, done)


def tasks_for(exp: Experiment, done: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(seed indices, α indices) of the tasks that finish every cell, given the epochs done (alpha, seed), -1
    for none. The unfinished seeds of a seed group share a task only where their cells stand at one epoch: an
    ensemble resumes from one (a seed whose α stand at different epochs starts again from epoch 0)."""
    tasks = []
    for seeds in exp.seed_groups():
        for group in exp.alpha_groups():
            by_progress = {}
            for s in seeds:
                cells = done[list(group), s]
                if not (cells == exp.epochs).all():
                    by_progress.setdefault(int(cells[0]) if (cells == cells[0]).all() else -1, []).append(s)
            tasks += [(tuple(same), group) for same in by_progress.values()]
    return tasks


def run_experiment(exp: Experiment, store_path: str | None = None, client=None, data_dir: str = "data",
                   overwrite: bool = False, progress: bool = True, echo=print, break_lock: bool = False,
                   derivation: dict | None = None, report_every: float = REPORT_EVERY, on_event=None) -> str:
    """Train every unfinished cell of `exp` on `client`'s workers into one store, and return its path.

    `client` is a distributed.Client, or a zero-argument callable returning one, called only if there is
    work to do. Everything is checked before the store is touched; the store's lease is held from the first
    write to the last. A rerun skips finished cells and resumes partial ones; Ctrl-C leaves a readable store;
    a run with nothing to do writes nothing. The tasks report their epochs every `report_every` seconds as
    Dask worker events, which drive the progress bar (`progress`) and `on_event(message)` (see
    repro.progress). `derivation` (where a derived experiment came from, see repro.derive) is stored as the
    attribute `derivation` of a new store.
    """
    store_path = store_path or st.default_store_path(exp.name, exp.scale)
    check_trainable(exp)
    data = prepare_data(exp, data_dir, progress=progress)
    plan = plan_store(exp, store_path, data, overwrite)
    if plan.note:
        echo(plan.note)
    shape = (len(exp.weight_multipliers), len(exp.seeds))
    tasks = tasks_for(exp, np.full(shape, -1)) if plan.create else pending_tasks(exp, plan.target)
    n_cells = len(exp.weight_multipliers) * len(exp.seeds)
    n_todo = sum(len(seeds) * len(group) for seeds, group in tasks)
    echo(f"{exp.name} ({exp.scale}): {n_cells - n_todo} of {n_cells} cells already finished in {plan.target}"
         + (" (new store)" if plan.create else ""))
    if tasks or plan.replacing:
        if client is None:
            raise ValueError("unfinished cells need a Dask client")
        with StoreLease(store_path, break_lock=break_lock, echo=echo) as lease:
            plan = plan_store(exp, store_path, data, overwrite)  # again: another writer may have finished
            if callable(client) and (plan.create or pending_tasks(exp, plan.target)):
                client = client()  # a cluster that cannot start stops the run before the store is touched
            prepare_target(exp, plan, data, echo, derivation)
            _train_on_cluster(exp, plan.target, data, client, lease.fence, progress, echo, report_every, on_event)
            finish_target(exp, plan, echo)
    shown = plan.target if plan.replacing and st.store_exists(plan.target) else store_path
    finished = int((st.cell_status(shown) == exp.epochs).sum())
    echo(f"  {shown}: {finished}/{n_cells} cells finished "
         f"(α = {list(exp.weight_multipliers)}, seeds = {list(exp.seeds)}, {exp.epochs} epochs)")
    return store_path


def _train_on_cluster(exp: Experiment, store_path: str, data: DataRef, client, fence, progress: bool,
                      echo, report_every: float = REPORT_EVERY, on_event=None) -> None:
    """Submit a task per unfinished (seed, α group) of the store and wait for all of them, showing the
    model-epochs the tasks report (see repro.progress)."""
    from distributed import as_completed

    tasks = pending_tasks(exp, store_path)
    if not tasks:
        return
    n_todo = sum(len(seeds) * len(group) for seeds, group in tasks)
    n_cells = len(exp.weight_multipliers) * len(exp.seeds)
    echo(f"  Dask dashboard: {client.dashboard_link}")
    resources = {"GPU": 1} if exp.device == "cuda" else None
    # Readable keys for the dashboard, unique per call: a key still held by the client would return the
    # earlier result instead of training (e.g. the same experiment written to another store).
    run_id = uuid.uuid4().hex[:8]
    topic = f"repro-progress-{run_id}"
    done = np.maximum(st.cell_status(store_path).values, 0)
    tracker = GridProgress(exp.name, total=done.size * exp.epochs, done=int(done.sum()), n_cells=n_cells,
                           n_finished=n_cells - n_todo, enabled=progress, on_event=on_event, echo=echo)
    client.subscribe_topic(topic, tracker.handle)
    futures = [client.submit(train_cells, exp, store_path, data, seeds, group, report_to=topic,
                             report_every=report_every, fence=fence, pure=False, retries=2,
                             resources=resources, key=f"{task_key(exp, seeds, group)}-{run_id}")
               for seeds, group in tasks]
    try:
        for future in as_completed(futures, loop=client.loop):  # the client need not be dask's default
            tracker.cells_finished(_finished_lines(future.result()))
    except KeyboardInterrupt:
        client.cancel(futures)
        echo(f"\ninterrupted: the store {store_path} is readable; rerun the same command to resume")
        raise
    finally:
        client.unsubscribe_topic(topic)
        tracker.close()


def _finished_lines(result: dict) -> list[str]:
    """A line per cell of a finished task (the result of `train_cells`)."""
    shape = (len(result["seeds"]), len(result["alphas"]))
    accuracies = np.asarray(result.get("final_test_acc", np.full(shape, np.nan)), dtype=float).reshape(shape)
    return [f"  finished α = {alpha:g}, seed {seed}: final test accuracy {accuracies[k, i]:.3f}"
            for k, seed in enumerate(result["seeds"]) for i, alpha in enumerate(result["alphas"])]
