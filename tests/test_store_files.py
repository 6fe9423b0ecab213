"""Tests of whole-store file operations on real stores: writability, refusal to delete, the replacement swap."""

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr

from grokcore import store as st
from grokcore import store_files as sf
from grokcore.models import n_params

GRID = st.GridShape("ising", (1.0,), (0,), 2, (0, 2))
GRID_PARAMS = n_params("ising")


@contextlib.contextmanager
def read_only(path):
    """`path` and everything under it made unwritable: by permissions, and for root, whom permissions do not
    stop, also by the immutable attribute."""
    path = Path(path)
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(modes[p] & ~0o222)
    immutable = os.geteuid() == 0
    try:
        if immutable and subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root, and chattr +i is not available to make a folder read-only")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
        for p, mode in modes.items():
            p.chmod(mode)


def make_store(path, marker: float):
    st.create_store(str(path), GRID, {"experiment": "unit", "config": {"epochs": 2}})
    st.CellWriter(str(path), slice(0, 1), 0).checkpoint(0, np.full((1, GRID_PARAMS), marker, np.float32), None)
    return str(path)


def test_unwritable_part_names_the_read_only_folder(tmp_path):
    path = make_store(tmp_path / "s.zarr", 1.0)
    assert sf.unwritable_part(path) is None and sf.unwritable_part(str(tmp_path / "new.zarr")) is None
    with read_only(path):
        assert sf.unwritable_part(path) == path
    with read_only(tmp_path):
        assert sf.unwritable_part(str(tmp_path / "new" / "x.zarr")) == str(tmp_path)


def test_only_results_stores_are_removed(tmp_path):
    zarr.open_group(str(tmp_path / "data.zarr"), mode="w").attrs["content_hash"] = "abc"
    with pytest.raises(ValueError, match="not a results store of this artifact; refusing to delete it"):
        sf.remove_store(str(tmp_path / "data.zarr"))
    assert st.store_exists(str(tmp_path / "data.zarr"))
    sf.remove_store(make_store(tmp_path / "s.zarr", 1.0))
    assert not (tmp_path / "s.zarr").exists()


def test_replace_store_swaps_in_the_replacement(tmp_path):
    path = make_store(tmp_path / "s.zarr", 1.0)
    replacement = make_store(tmp_path / f"s.zarr{sf.REPLACEMENT_SUFFIX}", 2.0)
    sf.replace_store(path, replacement)
    assert (st.open_results(path).theta.isel(checkpoint=0).values == 2.0).all()
    assert sorted(os.listdir(tmp_path)) == ["s.zarr"]


def test_an_interrupted_swap_is_reported(tmp_path):
    path = str(tmp_path / "s.zarr")
    assert sf.interrupted_swap(path) is None
    make_store(path + sf.REPLACED_SUFFIX, 1.0)
    assert "was interrupted: the old store is at" in sf.interrupted_swap(path)
    make_store(path, 2.0)
    assert sf.interrupted_swap(path) is None
