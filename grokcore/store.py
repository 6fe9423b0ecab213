"""Results stores: one chunked Zarr store per experiment and scale, written cell by cell, read lazily."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
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
# Marks a store as a results store of this artifact: the only kind `--overwrite` may ever replace.
KIND = "grokcore-results"
# Every chunk carries a CRC-32C of its compressed bytes, so a damaged chunk fails to read instead of
# decompressing into wrong numbers (or an anonymous Zstd error).
COMPRESSORS = (zarr.codecs.ZstdCodec(level=0), zarr.codecs.Crc32cCodec())


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
        # Two slots, each chunk holding both (see CellWriter.commit).
        "resume_adam_exp_avg": (("alpha", "seed", "resume_slot", "param"), (1, 1, 2, n_p), np.float32),
        "resume_adam_exp_avg_sq": (("alpha", "seed", "resume_slot", "param"), (1, 1, 2, n_p), np.float32),
        "resume_adam_step": (("alpha", "seed", "resume_slot"), (1, 1, 2), np.int64),
        "resume_batch_rng_state": (("alpha", "seed", "resume_slot", "rng_byte"),
                                   (1, 1, 2, max(grid.rng_state_bytes, 1)), np.uint8),
        "done_epoch": (("alpha", "seed"), (1, 1), np.int32),
        "diverged_epoch": (("alpha", "seed"), (1, 1), np.int32),
    }
    sizes = {"alpha": n_a, "seed": n_s, "epoch": n_e, "checkpoint": n_c, "param": n_p,
             "rng_byte": max(grid.rng_state_bytes, 1), "resume_slot": 2}
    data_vars, encoding = {}, {}
    for name, (dims, chunks, dtype) in layout.items():
        fill = np.nan if np.issubdtype(dtype, np.floating) else (-1 if name.endswith("_epoch") else 0)
        shape = tuple(sizes[d] for d in dims)
        data_vars[name] = (dims, da.full(shape, fill, dtype=dtype, chunks=chunks))
        encoding[name] = {"chunks": chunks, "fill_value": fill, "compressors": COMPRESSORS}
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
        attrs={"task": grid.task, "store_format": STORE_FORMAT, **attrs, "kind": KIND},
    )
    describe(ds)
    encoding.update({name: {"compressors": COMPRESSORS} for name in ds.coords})
    ds.to_zarr(path, mode="w-", compute=False, consolidated=False, encoding=encoding, zarr_format=3)


class CellWriter:
    """Writes the results of one task: a contiguous block of α indices at one seed index.

    Every chunk is written even where it holds only fill values, so a missing chunk always means lost data.
    `fence` (a `grokcore.lease.Fence`) is checked before each write: a writer whose lease was broken stops.
    """

    def __init__(self, path: str, alpha_slice: slice, seed_index: int, fence=None):
        self.group = open_group(path, mode="r+")
        self.a = alpha_slice
        self.s = seed_index
        self.fence = fence
        self.checkpoints = [int(c) for c in self.group["checkpoint"][...]]
        self.check_fence()

    def check_fence(self) -> None:
        if self.fence is not None:
            self.fence.check()

    def _array(self, name: str) -> zarr.Array:
        return _writable_array(self.group, name)

    def _slot(self, epoch: int) -> int:
        """The resume slot of the state after `epoch` epochs, a checkpoint: consecutive checkpoints alternate."""
        return self.checkpoints.index(epoch) % 2

    def metrics(self, start: int, stop: int, values: dict[str, np.ndarray]) -> None:
        """Per-epoch metrics after epochs start+1 .. stop; values[name] (model, epoch≥stop) holds the value
        after epoch k at index k − 1 (as `EnsembleTrainer.metrics`)."""
        self.check_fence()
        for name in METRICS:
            self._array(name)[self.a, self.s, start:stop] = values[name][:, start:stop]

    def checkpoint(self, index: int, theta: np.ndarray, fim: np.ndarray | None) -> None:
        """θ and the Fisher diagonal, both (model, param), at checkpoint number `index`, and the time now."""
        self.check_fence()
        self._array("theta")[self.a, self.s, index, :] = theta
        if fim is not None:
            self._array("fim_diag")[self.a, self.s, index, :] = fim
        self._array("checkpoint_time")[self.a, self.s, index] = np.full(self.a.stop - self.a.start, time.time())

    def commit(self, state: dict) -> None:
        """The resume state of `EnsembleTrainer.state_dict()` at a checkpoint epoch, then `done_epoch`.

        The state goes into the slot the previous checkpoint's state is not in, and done_epoch, written last,
        says which slot is complete: a writer killed anywhere in here leaves the state done_epoch points at
        intact (every chunk file is replaced whole, and each holds both slots of one cell).
        """
        self.check_fence()
        g, n, slot = self._array, self.a.stop - self.a.start, self._slot(state["epoch"])
        g("resume_adam_exp_avg")[self.a, self.s, slot, :] = state["exp_avg"]
        g("resume_adam_exp_avg_sq")[self.a, self.s, slot, :] = state["exp_avg_sq"]
        g("resume_adam_step")[self.a, self.s, slot] = np.full(n, state["adam_step"])
        width = g("resume_batch_rng_state").shape[-1]
        rng = _pad(state["batch_generator_state"], width)
        g("resume_batch_rng_state")[self.a, self.s, slot, :] = np.broadcast_to(rng, (n, width))
        diverged = np.asarray(state.get("diverged_epoch", -1), dtype=np.int32)
        g("diverged_epoch")[self.a, self.s] = np.broadcast_to(diverged, (n,))
        g("done_epoch")[self.a, self.s] = np.full(n, state["epoch"], dtype=np.int32)

    def done_epoch(self) -> np.ndarray:
        """Epochs written so far per α of this block, shape (model,); -1 where nothing is written."""
        return np.asarray(self.group["done_epoch"][self.a, self.s])

    def read_resume_state(self, rng_bytes: int) -> dict:
        """The state `commit` wrote at done_epoch, which must be the same for every α of the block, in the
        form of `EnsembleTrainer.state_dict()`.

        A divergence recorded after done_epoch (by a commit cut short) is not part of that state.
        """
        g, epoch = self.group, int(self.done_epoch()[0])
        slot = self._slot(epoch)
        diverged = np.asarray(g["diverged_epoch"][self.a, self.s])
        return {
            "epoch": epoch,
            "theta": np.asarray(g["theta"][self.a, self.s, self.checkpoints.index(epoch), :]),
            "exp_avg": np.asarray(g["resume_adam_exp_avg"][self.a, self.s, slot, :]),
            "exp_avg_sq": np.asarray(g["resume_adam_exp_avg_sq"][self.a, self.s, slot, :]),
            "adam_step": int(g["resume_adam_step"][self.a, self.s, slot][0]),
            "batch_generator_state": np.asarray(g["resume_batch_rng_state"][self.a, self.s, slot, :rng_bytes][0]),
            "diverged_epoch": np.where(diverged <= epoch, diverged, -1),
            **{m: np.asarray(g[m][self.a, self.s, :]) for m in METRICS},
        }


def _writable_array(group: zarr.Group, name: str) -> zarr.Array:
    """An array of `group` that writes every chunk, also one holding only fill values."""
    with zarr.config.set({"array.write_empty_chunks": True}):
        return group[name]


def _pad(state: np.ndarray, width: int) -> np.ndarray:
    state = np.asarray(state, dtype=np.uint8).ravel()
    if state.size > width:
        raise ValueError(f"generator state of {state.size} bytes does not fit the store's {width}")
    return np.pad(state, (0, width - state.size))


@contextlib.contextmanager
def readable(path: str):
    """Turn a store's damaged metadata or an uninstalled fsspec backend into one ValueError naming the file."""
    try:
        yield
    except json.JSONDecodeError as err:
        raise ValueError(f"damaged store metadata: {_unreadable_metadata(path) or path} is not valid JSON "
                         f"({err})") from None
    except ImportError as err:  # fsspec: "Install s3fs to access S3"
        raise ValueError(f"cannot open {path}: {err}") from None


def _unreadable_metadata(path: str) -> str | None:
    """The first zarr.json under `path` that does not parse, if any."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(path))
    for name in sorted(fs.find(root)):
        if name.endswith("zarr.json"):
            try:
                json.loads(fs.cat_file(name))
            except ValueError:
                return name
    return None


def open_group(path: str, mode: str = "r") -> zarr.Group:
    """The store's root Zarr group; damaged metadata raises one ValueError naming the file."""
    with readable(path):
        return zarr.open_group(path, mode=mode)


def read_attrs(path: str) -> dict:
    """The store's attributes, without opening any array."""
    return dict(open_group(path, mode="r").attrs)


def store_exists(path: str) -> bool:
    """True if `path` holds a Zarr group."""
    try:
        open_group(path, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError):
        return False
    return True


def is_results_store(path: str) -> bool:
    """True if `path` holds a results store of this artifact (never, say, a data store)."""
    if not store_exists(path):
        return False
    group = open_group(path, mode="r")
    attrs = group.attrs
    return attrs.get("kind") == KIND or ("config" in attrs and "experiment" in attrs and "done_epoch" in group)


def cell_status(path: str) -> xr.DataArray:
    """Epochs written per cell, (alpha, seed); -1 = missing, the run's epoch count = finished."""
    return _cell_array(path, "done_epoch")


def diverged_epochs(path: str) -> xr.DataArray:
    """Per cell (alpha, seed), the epoch at which training diverged (θ or loss not finite); -1: never."""
    return _cell_array(path, "diverged_epoch")


def _cell_array(path: str, name: str) -> xr.DataArray:
    g = open_group(path, mode="r")
    with readable(path):
        coords = {"alpha": np.asarray(g["alpha"][...]), "seed": np.asarray(g["seed"][...])}
        values = (np.asarray(g[name][...]) if name in g
                  else np.full((coords["alpha"].size, coords["seed"].size), -1, dtype=np.int32))
    return xr.DataArray(values, dims=("alpha", "seed"), coords=coords)


def reset_cells(path: str, cells: list[tuple[int, int]]) -> None:
    """Mark cells (α index, seed index) as not written and delete their chunks (which may be damaged, and a
    partial write would read them back), so that the next run trains them again from scratch."""
    import fsspec

    g = open_group(path, mode="r+")
    fs, root = fsspec.core.url_to_fs(str(path))
    for a, s in cells:
        for name in ("done_epoch", "diverged_epoch"):  # first: a crash midway leaves a cell to retrain
            if name in g:
                _writable_array(g, name)[a, s] = -1
        for name, array in g.arrays():
            if tuple(array.metadata.dimension_names or ())[:2] != ("alpha", "seed") or name.endswith("_epoch"):
                continue
            grid = [range(math.ceil(n / c)) for n, c in zip(array.shape[2:], array.chunks[2:], strict=True)]
            keys = [f"{root.rstrip('/')}/{name}/{array.metadata.encode_chunk_key((a, s, *rest))}"
                    for rest in itertools.product(*grid)]
            present = [key for key in keys if fs.exists(key)]
            if present:
                fs.rm(present)


def is_consolidated(path: str) -> bool:
    """True if the store's metadata is consolidated (as at the end of every run)."""
    return open_group(path, mode="r").metadata.consolidated_metadata is not None


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
    with warnings.catch_warnings(), readable(path):
        # A store still being written is not consolidated yet; reading it unconsolidated is expected.
        warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated metadata")
        return upgrade_on_open(xr.open_zarr(path, consolidated=None, chunks={}))
