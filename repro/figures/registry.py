"""The figure registry: one drawing function per paper figure, each declaring the experiments it reads."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from grokcore import integrity  # noqa: E402
from grokcore import store as st  # noqa: E402
from grokcore.numerics import flush_denormals  # noqa: E402
from grokcore.reference_codec import key_name  # noqa: E402
from grokcore.reference_store import read_recorded, read_reference, reference_path  # noqa: E402

FIGURES_DIR = "figures"
# Cache entries that hold stores and data, not derived values: never recorded into a reference.
RAW = ("results", "data", "ising_source")
# The scale whose reference stands in for an experiment not yet reduced at another scale (Context.stand_ins).
STAND_IN_SCALE = "tiny"


class MissingResults(Exception):
    """A figure needs an experiment that has not been run (or not finished) at this scale."""


class MissingRecorded(MissingResults):
    """Drawing from a reference, a figure or claim needs a derived value that the reference did not record."""


class NotPreloaded(Exception):
    """A value of an experiment whose results hold no θ (`Context.metrics_only`) was neither preloaded nor
    computable from the metrics: the reference would lack it, so the pass stops."""


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its file name, what it shows, and the experiments it is drawn from."""

    name: str  # file stem: fig01 … fig34, table1
    title: str  # one line: what the figure shows (the gist of the paper's caption)
    experiments: tuple[str, ...]
    draw: Callable[[Context], plt.Figure]
    notes: str = ""  # how it differs from the paper's figure, if at all


REGISTRY: dict[str, FigureSpec] = {}


def figure(name: str, title: str, experiments: tuple[str, ...] | list[str], notes: str = ""):
    """Decorator registering `draw(ctx) -> matplotlib Figure` as figure `name`."""

    def register(draw):
        if name in REGISTRY:
            raise ValueError(f"figure {name!r} is registered twice")
        REGISTRY[name] = FigureSpec(name, title, tuple(experiments), draw, notes)
        return draw

    return register


@dataclass
class Context:
    """What a drawing function may read: the results stores and data of one scale (no training)."""

    scale: str
    results_dir: str = st.RESULTS_DIR
    data_dir: str = "data"
    stores: dict[str, str] = field(default_factory=dict)  # experiment -> a user's store, replacing results_dir
    # Called for a Dask client the first time `map` has cells to compute (repro.commands.ClientOnDemand starts a
    # cluster only then); None: everything is computed in this process.
    client: Callable[[], Any] | None = None
    # Draw from the reference results in <reference_dir>/<scale>/ instead (`repro figures --reference`): no store
    # is opened and every derived value is the one `repro reference` recorded from a pass on the stores.
    reference_dir: str | None = None
    # Experiments drawn from one reference file each although others are drawn from stores ({experiment: path}):
    # `repro reference` reduces one experiment at a time and reads those it reduced before from their files.
    references: dict[str, str] = field(default_factory=dict)
    # Those of `references` whose file is of another scale (a stand-in): figures and claims that read them are
    # computed, so that the other experiments' values are recorded, but never drawn or judged (`render`).
    stand_ins: frozenset[str] = frozenset()
    # Experiments whose results hold the metrics but no θ, Fisher diagonal or data (merged from seed chunks,
    # repro.parts), each with the functions that may compute from those; every other value must be preloaded.
    metrics_only: dict[str, frozenset[str]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)
    _preloaded: dict = field(default_factory=dict, repr=False)  # `preload`'s values, cached when first read
    _loaded: set = field(default_factory=set, repr=False)  # experiments whose recorded values are in _cache

    def cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value stored under `key`, computed by compute() on first use: every derived quantity is computed
        once per Context, so that the figures and the claims read the same numbers. Keys are tuples that start
        with the name of the function that computes the value, then the experiment (e.g. ("regimes",
        experiment)). Drawing from a reference, the value is the recorded one (MissingRecorded if it was not)."""
        if key not in self._cache:
            path = self.reference_file(str(key[1] if len(key) > 1 else None)) if key[0] != "results" else None
            if path is not None:
                self._cache[key] = self._recorded(key, path)
            elif key in self._preloaded:
                self._cache[key] = self._preloaded[key]
            else:
                self._computable(key)
                self._cache[key] = compute()
        return self._cache[key]

    def per_alpha(self, key: tuple[str, str], alphas: Iterable[float], compute: Callable[[float], Any], *extra
                  ) -> Any:
        """compute(α) of each of `alphas` (an xarray value with an alpha dimension of length 1), concatenated along
        alpha in their order, each α once (a grid of one α has the same grokking and learning α). Each is cached
        under (name, experiment, α, *extra): a value of one α alone is what a part of a grid split by α records for
        every α, before the whole grid's archetypes are known (repro.parts)."""
        values = [self.cached((*key, alpha, *extra), lambda alpha=alpha: compute(alpha))
                  for alpha in dict.fromkeys(float(alpha) for alpha in alphas)]
        return xr.concat(values, "alpha", join="outer")

    def preload(self, values: dict[tuple, Any]) -> None:
        """Take {key: value} as computed (a merged reference: the merged metrics under ("results", experiment)
        and its parts' θ-values); each becomes one of `derived`'s values once a figure or claim reads it."""
        self._preloaded.update(values)

    def _computable(self, key: tuple) -> None:
        """NotPreloaded if `key` is a value of a `metrics_only` experiment that its metrics cannot give."""
        experiment = key[1] if len(key) > 1 else None
        if key[0] not in RAW and key[0] not in self.metrics_only.get(experiment, {key[0]}):
            raise NotPreloaded(f"{key_name(key)} {key!r} needs the θ, Fisher diagonals or data of {experiment}, "
                               "which its merged results do not hold, and not every one of its parts recorded "
                               "it: write the parts again with `repro reference --part`")

    def reference_file(self, experiment: str) -> Path | None:
        """The reference file `experiment` is drawn from (it may not exist), None where it is drawn from its store."""
        if experiment in self.references:
            return Path(self.references[experiment])
        return None if self.reference_dir is None else reference_path(experiment, self.scale, self.reference_dir)

    def _recorded(self, key: tuple, path: Path) -> Any:
        experiment = key[1] if len(key) > 1 else None
        if experiment not in self._loaded and path.is_file():
            self._loaded.add(experiment)
            self._cache.update(read_recorded(path))
        if key not in self._cache:
            raise MissingRecorded(f"{path} holds no recorded {key_name(key)} {key!r}: write it again with "
                                  f"`repro reference --scale {path.parent.name}`, whose figure pass records what "
                                  "they read")
        return self._cache[key]

    def derived(self, experiment: str) -> dict[tuple, Any]:
        """The derived values of `experiment` computed so far, {key: value} (no stores or data): what a figure pass
        read, for `repro reference` to record."""
        return {key: value for key, value in self._cache.items()
                if key[0] not in RAW and len(key) > 1 and key[1] == experiment}

    def map(self, fn: Callable, cells: Iterable[tuple]) -> list:
        """[fn(*cell) for cell in cells]: in this process, or with a client as one Dask task per cell, all of them
        submitted at once so that every worker has work. fn is a module-level function of arrays (θ, test data),
        never of the Context, so that a task carries only what it needs. Each cell is read from `cells` (a
        generator can load them one at a time) and let go once computed here or sent to a worker."""
        if self.client is None:
            with flush_denormals():  # as in a task (in_task): the same numbers either way
                return [fn(*cell) for cell in cells]
        client = self.client()
        # each cell travels as data, not inside the task graph, and only one is held here at a time
        data = [client.scatter([cell], hash=False)[0] for cell in cells]
        # readable on the dashboard, and unique per call: a key the client still holds would return its old result
        tag = uuid.uuid4().hex[:8]
        keys = [f"{fn.__name__}-{tag}-{i}" for i in range(len(data))]
        return client.gather(client.map(in_task, [fn] * len(data), data, key=keys))

    def forget(self, key: tuple) -> None:
        """Drop the value stored under `key` (if any), so that the next `cached` computes it afresh."""
        self._cache.pop(key, None)

    def store_path(self, experiment: str) -> str | None:
        """Where `experiment`'s store is: the user's store for it, else results/<experiment>-<scale>.zarr;
        None when the user named stores and none is for `experiment`."""
        if self.stores:
            return self.stores.get(experiment)
        return st.default_store_path(experiment, self.scale, self.results_dir)

    def results(self, experiment: str) -> xr.Dataset:
        """The finished store of `experiment` at this scale, lazily opened (cached per context), with diverged
        cells masked and α values whose every seed diverged dropped (`grokcore.integrity.without_diverged`)."""
        return self.cached(("results", experiment), lambda: self._open(experiment))

    def _open(self, experiment: str) -> xr.Dataset:
        if self.reference_file(experiment) is not None:
            return self._reference_grid(experiment)
        path = self.store_path(experiment)
        command = f"repro run {experiment} --scale {self.scale}"
        if path is None:
            raise MissingResults(f"needs {experiment}, and none of the given stores is one "
                                 f"(name it with --store {experiment}=PATH)")
        if not st.store_exists(path):
            raise MissingResults(f"{experiment} has not been run at scale {self.scale!r}: run `{command}`")
        states = integrity.cell_states(path)  # damaged cells (chunks missing) count as unfinished
        if not states.isin(["finished", "diverged"]).all():
            rerun = f"`repro status {path}`, then rerun it" if self.stores else f"run `{command}`"
            raise MissingResults(f"{path} is unfinished: {rerun} to complete it")
        task = st.read_attrs(path)["task"]
        if self.stores and task != self.experiment_definition(experiment).task:
            raise MissingResults(f"{path} is a {task} store; {experiment} needs "
                                 f"{self.experiment_definition(experiment).task}")
        return integrity.without_diverged(st.open_results(path), states)

    def _reference_grid(self, experiment: str) -> xr.Dataset:
        """Drawing from a reference: the coordinates (alpha, seed, checkpoint, …) and attributes of `experiment`'s
        reduced store, no variables (every value the figures read is a recorded derived one)."""
        path = self.reference_file(experiment)
        if not path.is_file():
            raise MissingResults(f"no reference results for {experiment} at scale {path.parent.name!r}: {path} "
                                 "does not exist")
        reduced = read_reference(path)
        return reduced.drop_vars(list(reduced.data_vars))

    def experiment(self, experiment: str):
        """The Experiment config of `experiment` at this scale: the one its store (or its reference, or its preloaded
        results) was written with, or the definition in repro/experiments/ if it has none (Table 1 and Fig 1 need
        no results)."""
        from repro.config import Experiment

        reference = self.reference_file(experiment)
        if ("results", experiment) in self._preloaded:
            return Experiment.from_dict(self._preloaded["results", experiment].attrs["config"])
        if reference is not None:
            if reference.is_file():
                return Experiment.from_dict(self.results(experiment).attrs["config"])
            return self.experiment_definition(experiment)
        path = self.store_path(experiment)
        if path is not None and st.store_exists(path):
            return Experiment.from_dict(st.read_attrs(path)["config"])
        return self.experiment_definition(experiment)

    def experiment_definition(self, experiment: str):
        """The paper's definition of `experiment` at this scale (repro/experiments/)."""
        from repro.config import load_experiment

        return load_experiment(experiment, self.scale)

    def task_data(self, experiment: str, seed: int):
        """Train/test tensors of `seed` in `experiment` (the split the runs were trained on).

        Reads only: Ising data missing from data_dir raises MissingResults naming the command that generates
        it (a figure pass never starts a Monte Carlo run).
        """
        from repro.grid import DataRef, task_data

        exp = self.experiment(experiment)
        return self.cached(("data", experiment, seed),
                           lambda: task_data(exp, DataRef(self.ising_data_path(experiment), ""), seed))

    def ising_data_path(self, experiment: str) -> str | None:
        """Path of the Ising data store an experiment trained on (None for mod-add, whose data is computed);
        MissingResults if it is not in data_dir."""
        from grokcore.data.ising_io import ising_store_path
        from repro.grid import ising_params

        exp = self.experiment(experiment)
        if exp.task != "ising":
            return None
        path = ising_store_path(ising_params(exp), self.data_dir)
        if not path.exists():
            raise MissingResults(f"the Ising data of {experiment} at scale {self.scale!r} is not in "
                                 f"{self.data_dir}/: run `repro run {experiment} --scale {self.scale} --data-dir "
                                 f"{self.data_dir}` (it reuses finished runs and generates the data)")
        return str(path)


def in_task(fn: Callable, cell: tuple) -> Any:
    """fn(*cell) as a Dask task: on one torch thread with denormals flushed, as training tasks are
    (repro.grid.train_cells), and with any nested dask computation done in the task rather than submitted to the
    cluster."""
    import dask
    import torch

    torch.set_num_threads(1)
    with dask.config.set(scheduler="synchronous"), flush_denormals():
        return fn(*cell)


def git_revision() -> str:
    """The git commit of the code drawing the figures, abbreviated (repro.grid.git_revision)."""
    from repro.grid import git_revision as full

    revision = full()
    return revision[:7] if len(revision) == 40 else revision


def record_through_stand_ins(spec: FigureSpec, ctx: Context, stood_in: list[str]) -> str:
    """Draw figure `spec` with stand-ins for `stood_in` only for what it reads of its other experiments, and
    discard it; the reason it is not kept. A stand-in's data differ from the scale's (another grid, say), so a
    draw may fail part way: said loudly, since values read after the failure are then not recorded."""
    reason = f"{', '.join(stood_in)} has no reference at scale {ctx.scale!r} yet"
    try:
        plt.close(spec.draw(ctx))
    except MissingResults:
        raise
    except Exception as error:  # noqa: BLE001 - the stand-in's data, not the figure, is what failed
        return (f"{reason}; drawn with its stand-in, it failed ({type(error).__name__}: {error}), so what it "
                "reads of the others after that may not be recorded: reduce them again once it is reduced")
    return f"drawn only to record what it reads of the others: {reason}"


def render(name: str, ctx: Context, out_dir: str | None = FIGURES_DIR) -> list[Path]:
    """Draw figure `name` and write <out_dir>/<scale>/<name>.png, .pdf and a caption .txt; with out_dir None, draw
    it only for the derived values it reads (a part's pass, `repro reference --part`) and write nothing."""
    if name not in REGISTRY:
        raise ValueError(f"unknown figure {name!r}: expected one of {', '.join(sorted(REGISTRY))}")
    spec = REGISTRY[name]
    for experiment in spec.experiments:  # MissingResults before any work if one has not been run
        ctx.results(experiment)
    stood_in = [experiment for experiment in spec.experiments if experiment in ctx.stand_ins]
    if stood_in:
        raise MissingResults(record_through_stand_ins(spec, ctx, stood_in))
    fig = spec.draw(ctx)
    if out_dir is None:  # laying out and saving take most of a tiny pass's time, and nobody looks at these
        plt.close(fig)
        return []
    provenance = f"{spec.name} · {', '.join(spec.experiments)} · scale {ctx.scale} · git {git_revision()}"
    fig.text(0.995, 0.003, provenance, ha="right", va="bottom", fontsize=6, color="0.45")
    folder = Path(out_dir) / ctx.scale
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf", folder / f"{name}.txt"]
    with warnings.catch_warnings():
        # matplotlib warns when placing a legend took over a second of wall clock: on a loaded machine that is
        # the load, not the figure, and tests turn every warning into an error
        warnings.filterwarnings("ignore", message='Creating legend with loc="best" can be slow')
        fig.savefig(paths[0], dpi=150)
        fig.set_layout_engine("none")  # the PDF keeps the PNG's layout rather than computing it again (half its time)
        fig.savefig(paths[1])
    plt.close(fig)
    caption = f"{spec.title}\nExperiments: {', '.join(spec.experiments)} (scale {ctx.scale}).\n"
    paths[2].write_text(caption + (f"Differences from the paper: {spec.notes}\n" if spec.notes else ""))
    return paths
