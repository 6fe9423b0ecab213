"""The reference results shipped with the artifact: one reduced store per experiment and scale, a Zarr zip file.

`repro reference` writes them (repro.reference reduces a results store); `open_reference` reads them back. Beside
the reduced Dataset, a file holds in its group `recorded` the figure pass's derived values of the experiment
(grokcore.reference_codec), from which `repro figures --reference` draws without the results stores. A grid
trained in seed chunks has a part per chunk in <scale>/parts/ (the same format; repro.parts merges them).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import xarray as xr
import zarr

from grokcore.reference_codec import read_values, write_values

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"  # the repository's reference/
REFERENCE_ENV = "GROKCORE_REFERENCE"  # overrides REFERENCE_DIR
SUFFIX = ".zarr.zip"
RECORDED = "recorded"  # the group of the figure pass's derived values
PARTS = "parts"  # <scale>/parts/: what each chunk of an experiment's grid contributes to its reference (repro.parts)


def reference_folder(scale: str = "full", reference_dir: str | os.PathLike | None = None) -> Path:
    """<reference_dir>/<scale>/; reference_dir defaults to $GROKCORE_REFERENCE, else the repository's
    reference/."""
    return Path(reference_dir or os.environ.get(REFERENCE_ENV) or REFERENCE_DIR) / scale


def reference_path(experiment: str, scale: str = "full", reference_dir: str | os.PathLike | None = None) -> Path:
    """<reference_dir>/<scale>/<experiment>.zarr.zip (see `reference_folder`)."""
    return reference_folder(scale, reference_dir) / f"{experiment}{SUFFIX}"


def part_path(experiment: str, chunk: str, scale: str = "full", reference_dir: str | os.PathLike | None = None
              ) -> Path:
    """<reference_dir>/<scale>/parts/<experiment>.<chunk>.zarr.zip: the part of a chunk of the grid (chunk e.g.
    "seeds-0-4" or "alphas-0.1_0.3", repro.parts.chunk_name)."""
    return reference_folder(scale, reference_dir) / PARTS / f"{experiment}.{chunk}{SUFFIX}"


def part_paths(experiment: str, scale: str = "full", reference_dir: str | os.PathLike | None = None) -> list[Path]:
    """The part files of `experiment` at `scale` (`part_path`), sorted by name."""
    return sorted((reference_folder(scale, reference_dir) / PARTS).glob(f"{experiment}.*{SUFFIX}"))


def write_reference(ds: xr.Dataset, path: str | os.PathLike, recorded: dict | None = None) -> Path:
    """Write a reduced Dataset, and the figure pass's derived values `recorded` ({cache key: value}) in its group
    RECORDED, as one Zarr zip file (replacing an older one): a single file that git keeps."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Zarr v3 specifies variable-length strings only: fixed-width ones (numpy "U") are stored as objects
    ds = ds.assign({name: ds[name].astype(object) for name in ds.variables if ds[name].dtype.kind == "U"})
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        # xarray rewrites zarr.json while writing, which a ZipStore would keep as duplicate entries: the store
        # is written as a folder and zipped afterwards
        ds.to_zarr(Path(folder) / "store", zarr_format=3, consolidated=False)
        if recorded:
            write_values(zarr.open_group(Path(folder) / "store", mode="a").create_group(RECORDED), recorded)
        partial = Path(folder) / path.name
        with zipfile.ZipFile(partial, "w") as archive:
            for file in sorted((Path(folder) / "store").rglob("*")):
                if file.is_file():
                    # the JSON metadata deflates several-fold; the chunks are zstd-compressed already
                    packing = zipfile.ZIP_DEFLATED if file.name == "zarr.json" else zipfile.ZIP_STORED
                    archive.write(file, file.relative_to(Path(folder) / "store").as_posix(), compress_type=packing)
        partial.replace(path)
    return path


def open_reference(experiment: str, scale: str = "full", reference_dir: str | os.PathLike | None = None
                   ) -> xr.Dataset:
    """The reference results of `experiment` at `scale`, loaded into memory (a few MB): per (alpha, seed) the
    metrics at the checkpoints, final metrics, grokking times and regimes (Def. 1-2), compressibility (Eq. 5)
    and the experiment's IPR (Eq. 7), LLC or Ising correlations (Eq. 6); attributes say where they came from."""
    path = reference_path(experiment, scale, reference_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no reference results for {experiment} at scale {scale!r}: {path} does not exist")
    return read_reference(path)


def read_reference_attrs(path: str | os.PathLike) -> dict:
    """The attributes of the reference file at `path` (experiment, config, provenance), without its arrays."""
    with zarr.storage.ZipStore(path, mode="r") as store:
        return dict(zarr.open_group(store, mode="r", zarr_format=3).attrs)


def read_reference(path: str | os.PathLike) -> xr.Dataset:
    """The reduced Dataset of the reference file at `path`, loaded into memory."""
    with zarr.storage.ZipStore(path, mode="r") as store:
        return xr.open_zarr(store, zarr_format=3, consolidated=False).load()


def read_recorded(path: str | os.PathLike) -> dict:
    """The figure pass's derived values {cache key: value} recorded in a reference file ({} if it has none)."""
    with zarr.storage.ZipStore(path, mode="r") as store:
        root = zarr.open_group(store, mode="r", zarr_format=3)
        return read_values(root[RECORDED]) if RECORDED in root else {}
