"""Ising data on disk: a Zarr cache of generated data sets and a safe import of the authors' pickle (§2.1)."""

from __future__ import annotations

import codecs
import hashlib
import json
import pickle
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from grokcore.data.ising import GENERATOR_VERSION, IsingParams, generate_ising, ising_dataset

# Everything a pickle of lists/tuples of numpy arrays and scalars may reference, under numpy 1.x and 2.x;
# _codecs.encode carries bytes in protocols 0-2, _frombuffer carries arrays in protocol 5.
_NUMPY_PICKLE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("_codecs", "encode"): codecs.encode,
    **{("builtins", c.__name__): c for c in (list, tuple, dict, set, frozenset, bytearray)},
}


def params_hash(params: IsingParams) -> str:
    """Short hash of the parameters and the generator version: the cache key of a generated data set."""
    key = json.dumps({**params.to_dict(), "generator": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _open_store(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, consolidated=None).load()


def _write_atomically(ds: xr.Dataset, path: Path) -> None:
    """Write `ds` next to `path` and rename it into place, so `path` exists only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        # Written once and read many times, so consolidate; readers then open it with consolidated=None
        # without a fallback warning. Zarr 3 warns that consolidation is outside the v3 spec.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            ds.to_zarr(tmp / "store.zarr", mode="w", consolidated=True)
        try:
            (tmp / "store.zarr").rename(path)
        except OSError:
            # Another process finished the same store first; its copy is equivalent.
            if not path.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ising_store_path(params: IsingParams, data_dir: str | Path = "data") -> Path:
    """Where the data set of `params` is stored: data_dir/ising-<params hash>.zarr."""
    return Path(data_dir) / f"ising-{params_hash(params)}.zarr"


def load_or_generate_ising(
    params: IsingParams, data_dir: str | Path = "data", progress: bool = True, threads: int | None = None
) -> xr.Dataset:
    """The data set of `params` from ising_store_path(params, data_dir), generated (on `threads` numba
    threads) and stored on first use."""
    path = ising_store_path(params, data_dir)
    if path.exists():
        if progress:
            print(f"Ising: reusing {path}", flush=True)
        return _open_store(path)
    if progress:
        print(f"Ising: generating {params.n_snapshots} snapshots into {path}", flush=True)
    _write_atomically(generate_ising(params, threads, progress), path)
    return _open_store(path)


def ising_summary(ds: xr.Dataset) -> str:
    """Counts per phase and the share of ordered snapshots with |m| < 0.5, m = M / L² (spec §2.3 (i))."""
    phase = ds["phase"].values
    m = np.abs(ds["magnetization"].values) / (ds.sizes["y"] * ds.sizes["x"])
    n_ordered = int((phase == 1).sum())
    n_low = int(((phase == 1) & (m < 0.5)).sum())
    temperatures = np.unique(ds["temperature"].values)
    share = f"{100 * n_low / n_ordered:.1f}%" if n_ordered else "n/a"
    return (
        f"Ising data: {ds.sizes['snapshot']} snapshots of {ds.sizes['y']}x{ds.sizes['x']}, "
        f"{len(temperatures)} temperatures in [{temperatures.min():.3f}, {temperatures.max():.3f}]; "
        f"ordered {n_ordered}, disordered {int((phase == 0).sum())}; "
        f"ordered with |m| < 0.5: {n_low} ({share})"
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals numpy arrays need, so the file cannot run code."""

    def find_class(self, module: str, name: str):
        try:
            return _NUMPY_PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise ValueError(
                f"refusing to unpickle global {module}.{name}: only numpy arrays, numpy scalars and builtin "
                f"containers are allowed"
            ) from None


def _read_pickle(path: Path):
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f).load()
    except OSError as e:
        raise ValueError(f"cannot read Ising pickle {path}: {e}") from e
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    except Exception as e:  # unpickling raises many types for a damaged or foreign file
        raise ValueError(f"{path} is not a readable pickle: {type(e).__name__}: {e}") from e


def _parse_triple(item, k: int, path: Path, L: int) -> tuple[np.ndarray, int, float]:
    if not isinstance(item, list | tuple) or len(item) != 3:
        raise ValueError(
            f"{path}: item {k} must be a (snapshot, phase_label, temperature) triple, got {item!r:.80}"
        )
    snapshot, label, temperature = item
    snapshot = np.asarray(snapshot)
    # The authors' code reshapes each snapshot to 16x16, so a flat L² vector is accepted as well.
    if snapshot.shape not in ((L, L), (L * L,)):
        raise ValueError(f"{path}: snapshot {k} has shape {snapshot.shape}, expected ({L}, {L}) (L = {L})")
    if snapshot.dtype.kind not in "biuf" or not np.isin(snapshot, (-1, 1)).all():
        bad = np.unique(snapshot)[:5] if snapshot.dtype.kind in "biuf" else snapshot.dtype
        raise ValueError(
            f"{path}: snapshot {k} must hold spins ±1 (0/1 is not accepted), found values {bad}"
        )
    try:
        label, temperature = int(label), float(temperature)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: item {k} has a non-numeric label or temperature: {e}") from e
    if label not in (0, 1):
        raise ValueError(f"{path}: item {k} has phase label {label}, expected 0 or 1")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{path}: item {k} has temperature {temperature}, expected a finite positive number")
    return snapshot.reshape(L, L), label, temperature


def parse_authors_pickle(path: str | Path, L: int = 16) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(description, spins (snapshot, L, L) int8, authors' labels (snapshot,), temperatures (snapshot,)) from
    the authors' `[description, [(snapshot, phase_label, temperature), ...]]` pickle, in file order."""
    path = Path(path)
    content = _read_pickle(path)
    if not isinstance(content, list | tuple) or len(content) != 2 or not isinstance(content[1], list | tuple):
        raise ValueError(f"{path}: expected [description, list of triples], got {type(content).__name__}")
    description, items = content
    if not items:
        raise ValueError(f"{path}: the list of snapshots is empty")
    triples = [_parse_triple(item, k, path, L) for k, item in enumerate(items)]
    spins = np.stack([t[0] for t in triples]).astype(np.int8)
    labels = np.array([t[1] for t in triples], dtype=np.int8)
    temperatures = np.array([t[2] for t in triples], dtype=np.float64)
    return str(description), spins, labels, temperatures


def import_authors_pickle(path: str | Path, data_dir: str | Path = "data", L: int = 16) -> xr.Dataset:
    """The authors' data set (Zenodo 19949740) as an Ising data set, stored under
    data_dir/ising-authors-<file hash>.zarr and reused from there. `phase` is recomputed as T < T_c; the
    authors' label (whose meaning the code does not fix) is kept as `authors_label`. Snapshot order = file
    order, which the authors' shuffle (ising_split(..., shuffle="authors")) needs."""
    path = Path(path)
    try:
        file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ValueError(f"cannot read Ising pickle {path}: {e}") from e
    store = Path(data_dir) / f"ising-authors-{file_hash[:16]}.zarr"
    if store.exists():
        return _open_store(store)
    description, spins, labels, temperatures = parse_authors_pickle(path, L)
    attrs = {
        "L": L,
        "temperatures": np.unique(temperatures).tolist(),
        "source": "authors-pickle",
        "source_file": str(path),
        "source_sha256": file_hash,
        "description": description,
    }
    ds = ising_dataset(spins, temperatures, 1.0, attrs)
    ds["authors_label"] = ("snapshot", labels)
    _write_atomically(ds, store)
    return _open_store(store)
