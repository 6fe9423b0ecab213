"""Store integrity: the chunks each cell must have, which are missing or damaged, and each cell's state."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from grokcore import store as st

CELL_STATES = ("finished", "diverged", "partial", "missing", "damaged")


@dataclass(frozen=True)
class ChunkProblem:
    """A chunk of a store that is missing or does not read back (checksum, decompression, truncation)."""

    array: str
    key: str  # the chunk's key inside its array, e.g. c/0/1/0/0
    cell: tuple[float, int] | None  # (α, seed) of the cell it belongs to; None for coordinate arrays
    reason: str
    index: tuple[int, int] | None = None  # (α index, seed index) of that cell

    def describe(self, store_path: str) -> str:
        cell = "" if self.cell is None else f" (α={self.cell[0]:g} seed={self.cell[1]})"
        return f"{str(store_path).rstrip('/')}/{self.array}/{self.key}{cell}: {self.reason}"


def _cell_arrays(group, fisher: bool):
    """(name, array) of every per-cell array, i.e. with leading dimensions (alpha, seed)."""
    for name, array in group.arrays():
        dims = tuple(array.metadata.dimension_names or ())
        if dims[:2] == ("alpha", "seed") and (fisher or name != "fim_diag"):
            yield name, array


def expected_chunks(path: str) -> dict[tuple[int, int], list[tuple[str, tuple[int, ...]]]]:
    """Per written cell (α index, seed index): the (array, chunk coordinates) its done_epoch vouches for.

    A cell that has written epoch d has every chunk of its per-cell arrays, except the checkpoint and epoch
    chunks that lie wholly after d (and the Fisher diagonals of a run without them): a cell that has written
    only its first checkpoint (d = 0) has no per-epoch metrics yet. (alpha, seed)
    """
    group = st.open_group(path)
    with st.readable(path):
        done = np.asarray(group["done_epoch"][...])
        times = {dim: np.asarray(group[dim][...]) for dim in ("checkpoint", "epoch")}
        fisher = group.attrs.get("config", {}).get("fisher", {}).get("enabled", True)
        arrays = list(_cell_arrays(group, fisher))
    expected = {}
    for a, s in zip(*np.nonzero(done >= 0), strict=True):
        chunks = []
        for name, array in arrays:
            ranges = []
            for dim, size, width in zip(array.metadata.dimension_names[2:], array.shape[2:], array.chunks[2:],
                                        strict=True):
                n = math.ceil(size / width)
                if dim in times:  # chunks holding at least one checkpoint (epoch) at or before done_epoch
                    n = math.ceil(int((times[dim] <= done[a, s]).sum()) / width)
                ranges.append(range(n))
            chunks += [(name, (int(a), int(s), *rest)) for rest in itertools.product(*ranges)]
        expected[(int(a), int(s))] = chunks
    return expected


def _stored_keys(path: str) -> set[str]:
    """Every object key of the store, relative to its root (e.g. theta/c/0/1/0/0)."""
    import fsspec

    with st.readable(path):
        fs, root = fsspec.core.url_to_fs(str(path))
        root = root.rstrip("/")
        return {name[len(root) + 1:] for name in fs.find(root)}


def missing_chunks(path: str) -> list[ChunkProblem]:
    """Chunks that written cells must have but the store lacks (a cheap listing; nothing is read)."""
    group, keys = st.open_group(path), _stored_keys(path)
    alphas, seeds = np.asarray(group["alpha"][...]), np.asarray(group["seed"][...])
    problems = []
    for (a, s), chunks in expected_chunks(path).items():
        for name, coords in chunks:
            key = group[name].metadata.encode_chunk_key(coords)
            if f"{name}/{key}" not in keys:
                problems.append(ChunkProblem(name, key, (float(alphas[a]), int(seeds[s])), "missing", (a, s)))
    return problems


def verify_store(path: str) -> tuple[list[ChunkProblem], int]:
    """Read every chunk of every written cell and every coordinate; return the problems and the chunks read."""
    group, keys = st.open_group(path), _stored_keys(path)
    alphas, seeds = np.asarray(group["alpha"][...]), np.asarray(group["seed"][...])
    problems, n_read = [], 0
    for name, array in group.arrays():
        if tuple(array.metadata.dimension_names or ())[:2] != ("alpha", "seed"):
            n_read += 1
            problems += _read_problem(name, "(all chunks)", None, lambda a=array: a[...])
    for (a, s), chunks in expected_chunks(path).items():
        cell = (float(alphas[a]), int(seeds[s]))
        for name, coords in chunks:
            array = group[name]
            key = array.metadata.encode_chunk_key(coords)
            if f"{name}/{key}" not in keys:
                problems.append(ChunkProblem(name, key, cell, "missing", (a, s)))
                continue
            n_read += 1
            problems += _read_problem(name, key, cell, lambda a=array, c=coords: a.blocks[c], (a, s))
    return problems, n_read


def _read_problem(name, key, cell, read, index=None) -> list[ChunkProblem]:
    try:
        read()
    except Exception as err:  # noqa: BLE001 -- any failure to decode is damage, reported with its cause
        return [ChunkProblem(name, key, cell, f"{type(err).__name__}: {err}", index)]
    return []


def cell_states(path: str, check_chunks: bool = True) -> xr.DataArray:
    """State of each cell (alpha, seed), one of CELL_STATES.

    finished: trained to the last epoch; diverged: trained to the end but θ or the loss became non-finite
    (its values from `diverged_epoch` on are NaN, not results); partial: resumable; missing: nothing written;
    damaged: written, but chunks its done_epoch vouches for are missing (the next `repro run` retrains it).
    """
    done, diverged = st.cell_status(path), st.diverged_epochs(path)
    epochs = st.read_attrs(path)["config"]["epochs"]
    states = np.where(done.values < 0, "missing",
                      np.where(done.values < epochs, "partial",
                               np.where(diverged.values >= 0, "diverged", "finished"))).astype(object)
    if check_chunks:
        for a, s in damaged_cells(path):
            states[a, s] = "damaged"
    return xr.DataArray(states, dims=done.dims, coords=done.coords)


def damaged_cells(path: str) -> list[tuple[int, int]]:
    """(α index, seed index) of the written cells that miss chunks."""
    return sorted({p.index for p in missing_chunks(path)})


def without_diverged(ds: xr.Dataset, states: xr.DataArray) -> xr.Dataset:
    """`ds` with diverged cells treated as such: their float variables NaN, and the α values at which every
    seed diverged dropped. attrs["diverged"] lists the dropped and masked cells as 'α=… seed=…'."""
    ok = states != "diverged"
    if bool(ok.all()):
        return ds
    masked = ds.copy()
    for name, var in ds.data_vars.items():
        if {"alpha", "seed"} <= set(var.dims) and np.issubdtype(var.dtype, np.floating):
            masked[name] = var.where(ok)
    cells = [f"α={a:g} seed={s}" for a, s in itertools.product(states.alpha.values, states.seed.values)
             if states.sel(alpha=a, seed=s) == "diverged"]
    masked.attrs["diverged"] = cells
    return masked.isel(alpha=np.flatnonzero(ok.any("seed").values))
