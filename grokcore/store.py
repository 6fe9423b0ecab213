"""Results stores: one chunked Zarr store per experiment and scale, written cell by cell, read lazily."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from grokcore.models import n_params, param_tensor_names
from grokcore.store_format import STORE_FORMAT, describe, upgrade_on_open

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
RESULTS_DIR = os.environ.get("GROKCORE_RESULTS", "results")
# Checkpoint chunks of about this many bytes per run: whole chunks stay small enough to rewrite at every
# checkpoint and large enough to keep the Ising stores from becoming many thousands of tiny files.
_CHUNK_BYTES = 2_000_000


@dataclass(frozen=True)
class GridShape:
    """Coordinates of a results store: which α, seeds, epochs and checkpoints it holds."""

    task: str
    weight_multipliers: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    checkpoint_epochs: tuple[int, ...]
    rng_state_bytes: int = 0


def default_store_path(experiment: str, scale: str, results_dir: str | os.PathLike | None = None) -> str:
    """Where `repro run EXPERIMENT --scale SCALE` writes by default: results/<experiment>-<scale>.zarr."""
    return str(Path(results_dir or RESULTS_DIR) / f"{experiment}-{scale}.zarr")


def create_store(path: str, grid: GridShape, attrs: dict) -> None:
    """Write the template of the whole grid: coordinates, NaN-filled variables and attributes, no data.

    Every chunk belongs to exactly one (α, seed) cell, so concurrent tasks never write the same chunk
    (two writers of one chunk lose data silently; engineering notes).
    """
    if store_exists(path):
        raise FileExistsError(f"a results store already exists at {path}; it is never replaced implicitly")
    n_a, n_s, n_e, n_c, n_p = (len(grid.weight_multipliers), len(grid.seeds), grid.epochs,
                               len(grid.checkpoint_epochs), n_params(grid.task))
    ck = max(1, min(n_c, _CHUNK_BYTES // (4 * n_p)))
    layout = {
        **{m: (("alpha", "seed", "epoch"), (1, 1, n_e), np.float32) for m in METRICS},
        "theta": (("alpha", "seed", "checkpoint", "param"), (1, 1, ck, n_p), np.float32),
        "fim_diag": (("alpha", "seed", "checkpoint", "param"), (1, 1, ck, n_p), np.float32),
        "checkpoint_time": (("alpha", "seed", "checkpoint"), (1, 1, n_c), np.float64),
        "adam_exp_avg": (("alpha", "seed", "param"), (1, 1, n_p), np.float32),
        "adam_exp_avg_sq": (("alpha", "seed", "param"), (1, 1, n_p), np.float32),
        "adam_step": (("alpha", "seed"), (1, 1), np.int64),
        "batch_rng_state": (("alpha", "seed", "rng_byte"), (1, 1, max(grid.rng_state_bytes, 1)), np.uint8),
        "done_epoch": (("alpha", "seed"), (1, 1), np.int32),
    }
    sizes = {"alpha": n_a, "seed": n_s, "epoch": n_e, "checkpoint": n_c, "param": n_p,
             "rng_byte": max(grid.rng_state_bytes, 1)}
    data_vars, encoding = {}, {}
    for name, (dims, chunks, dtype) in layout.items():
        fill = np.nan if np.issubdtype(dtype, np.floating) else (-1 if name == "done_epoch" else 0)
        shape = tuple(sizes[d] for d in dims)
        data_vars[name] = (dims, da.full(shape, fill, dtype=dtype, chunks=chunks))
        encoding[name] = {"chunks": chunks, "fill_value": fill}
    ds = xr.Dataset(
        data_vars,
        coords={
            "alpha": np.asarray(grid.weight_multipliers, dtype=np.float64),
            "seed": np.asarray(grid.seeds, dtype=np.int64),
            "epoch": np.arange(1, n_e + 1, dtype=np.int64),  # epochs completed, as `checkpoint` counts them
            "checkpoint": np.asarray(grid.checkpoint_epochs, dtype=np.int64),
            "param": np.arange(n_p, dtype=np.int64),
            "param_tensor": ("param", param_tensor_names(grid.task).astype(object)),
        },
        attrs={"task": grid.task, "store_format": STORE_FORMAT, **attrs},
    )
    describe(ds)
    ds.to_zarr(path, mode="w-", compute=False, consolidated=False, encoding=encoding, zarr_format=3)


class CellWriter:
    """Writes the results of one task: a contiguous block of α indices at one seed index."""

    def __init__(self, path: str, alpha_slice: slice, seed_index: int):
        self.group = zarr.open_group(path, mode="r+")
        self.a = alpha_slice
        self.s = seed_index

    def metrics(self, start: int, stop: int, values: dict[str, np.ndarray]) -> None:
        """Per-epoch metrics after epochs start+1 .. stop; values[name] (model, epoch≥stop) holds the value
        after epoch k at index k − 1 (as `EnsembleTrainer.metrics`)."""
        for name in METRICS:
            self.group[name][self.a, self.s, start:stop] = values[name][:, start:stop]

    def checkpoint(self, index: int, theta: np.ndarray, fim: np.ndarray | None) -> None:
        """θ and the Fisher diagonal, both (model, param), at checkpoint number `index`, and the time now."""
        self.group["theta"][self.a, self.s, index, :] = theta
        if fim is not None:
            self.group["fim_diag"][self.a, self.s, index, :] = fim
        self.group["checkpoint_time"][self.a, self.s, index] = np.full(self.a.stop - self.a.start, time.time())

    def commit(self, state: dict) -> None:
        """The resume state of `EnsembleTrainer.state_dict()`; `done_epoch` is written last, so that it only
        ever points at complete data."""
        g, n = self.group, self.a.stop - self.a.start
        g["adam_exp_avg"][self.a, self.s, :] = state["exp_avg"]
        g["adam_exp_avg_sq"][self.a, self.s, :] = state["exp_avg_sq"]
        g["adam_step"][self.a, self.s] = np.full(n, state["adam_step"])
        width = g["batch_rng_state"].shape[-1]
        rng = _pad(state["batch_generator_state"], width)
        g["batch_rng_state"][self.a, self.s, :] = np.broadcast_to(rng, (n, width))
        g["done_epoch"][self.a, self.s] = np.full(n, state["epoch"], dtype=np.int32)

    def done_epoch(self) -> np.ndarray:
        """Epochs written so far per α of this block, shape (model,); -1 where nothing is written."""
        return np.asarray(self.group["done_epoch"][self.a, self.s])

    def read_resume_state(self, checkpoint_index: int, rng_bytes: int) -> dict:
        """The state `commit` wrote, in the form of `EnsembleTrainer.state_dict()` (θ from checkpoint
        `checkpoint_index`, which must be the checkpoint at done_epoch)."""
        g = self.group
        return {
            "epoch": int(self.done_epoch()[0]),
            "theta": np.asarray(g["theta"][self.a, self.s, checkpoint_index, :]),
            "exp_avg": np.asarray(g["adam_exp_avg"][self.a, self.s, :]),
            "exp_avg_sq": np.asarray(g["adam_exp_avg_sq"][self.a, self.s, :]),
            "adam_step": int(g["adam_step"][self.a, self.s][0]),
            "batch_generator_state": np.asarray(g["batch_rng_state"][self.a, self.s, :rng_bytes][0]),
            **{m: np.asarray(g[m][self.a, self.s, :]) for m in METRICS},
        }


def _pad(state: np.ndarray, width: int) -> np.ndarray:
    state = np.asarray(state, dtype=np.uint8).ravel()
    if state.size > width:
        raise ValueError(f"generator state of {state.size} bytes does not fit the store's {width}")
    return np.pad(state, (0, width - state.size))


def read_attrs(path: str) -> dict:
    """The store's attributes, without opening any array."""
    return dict(zarr.open_group(path, mode="r").attrs)


def store_exists(path: str) -> bool:
    """True if `path` holds a Zarr group."""
    try:
        zarr.open_group(path, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError):
        return False
    return True


def cell_status(path: str) -> xr.DataArray:
    """Epochs written per cell, (alpha, seed); -1 = missing, the run's epoch count = finished."""
    g = zarr.open_group(path, mode="r")
    return xr.DataArray(np.asarray(g["done_epoch"][...]), dims=("alpha", "seed"),
                        coords={"alpha": np.asarray(g["alpha"][...]), "seed": np.asarray(g["seed"][...])})


def checkpoint_times(path: str) -> xr.DataArray:
    """Wall-clock seconds (Unix time) at which each checkpoint was written, (alpha, seed, checkpoint);
    NaN where not written, and everywhere in a store older than store format 2."""
    g = zarr.open_group(path, mode="r")
    coords = {name: np.asarray(g[name][...]) for name in ("alpha", "seed", "checkpoint")}
    shape = tuple(len(v) for v in coords.values())
    values = np.asarray(g["checkpoint_time"][...]) if "checkpoint_time" in g else np.full(shape, np.nan)
    return xr.DataArray(values, dims=tuple(coords), coords=coords)


def consolidate(path: str) -> None:
    """Consolidate the metadata once every task has finished, so later opens read one document."""
    with warnings.catch_warnings():
        # Consolidated metadata is outside the Zarr v3 spec; zarr-python and xarray read it all the same.
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(path)


def open_results(experiment_or_path: str, scale: str = "quick", results_dir: str | None = None) -> xr.Dataset:
    """The results of an experiment as a lazy (dask-backed) Dataset indexed by `alpha` and `seed`.

    `experiment_or_path` is an experiment name (read from results/<name>-<scale>.zarr) or a store path/URL.
    """
    path = experiment_or_path
    if not (str(path).endswith(".zarr") or "://" in str(path) or Path(path).exists()):
        path = default_store_path(experiment_or_path, scale, results_dir)
    if not store_exists(path):
        raise FileNotFoundError(
            f"no results store at {path}: run `repro run {experiment_or_path} --scale {scale}` first")
    with warnings.catch_warnings():
        # A store still being written is not consolidated yet; reading it unconsolidated is expected.
        warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated metadata")
        return upgrade_on_open(xr.open_zarr(path, consolidated=None, chunks={}))
