"""Whole results stores as files: where one may be written, its removal, and swapping in a replacement."""

from __future__ import annotations

import os
import shutil

from grokcore import store as st

REPLACEMENT_SUFFIX = ".replacement"  # a store being written to replace another (`repro run --overwrite`)
REPLACED_SUFFIX = ".replaced"  # the store it replaces, for the instant between the two renames of a swap


def is_local(path: str) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


def _fs(path: str):
    import fsspec

    with st.readable(path):
        return fsspec.core.url_to_fs(str(path))


def unwritable_part(path: str) -> str | None:
    """The first folder of a local store (or the folder it would be created in) that this process may not
    write, or None. Remote stores answer None: their permissions show only on writing."""
    path = str(path).removeprefix("file://")
    if not is_local(path):
        return None
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        return None if os.access(parent, os.W_OK | os.X_OK) else parent
    for folder, _, _ in os.walk(path):
        if not os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


def remove_store(path: str) -> None:
    """Delete a results store of this artifact; anything else is refused."""
    if not st.is_results_store(path):
        raise ValueError(f"{path} is not a results store of this artifact; refusing to delete it")
    fs, root = _fs(path)
    fs.rm(root, recursive=True)


def replace_store(path: str, replacement: str) -> None:
    """Swap `replacement` in as `path` by two renames, then delete the old store.

    Until the first rename `path` is untouched; a crash between the renames leaves both stores on disk,
    named by the error of the next run.
    """
    for store in (path, replacement):
        if not st.is_results_store(store):
            raise ValueError(f"{store} is not a results store of this artifact; refusing to swap it")
    old = str(path).rstrip("/") + REPLACED_SUFFIX
    if is_local(path):
        path, replacement, old = (str(p).removeprefix("file://") for p in (path, replacement, old))
        os.rename(path, old)
        os.rename(replacement, path)
        shutil.rmtree(old)
        return
    fs, root = _fs(path)
    _, old_root = _fs(old)
    _, new_root = _fs(replacement)
    fs.mv(root, old_root, recursive=True)
    fs.mv(new_root, root, recursive=True)
    fs.rm(old_root, recursive=True)


def interrupted_swap(path: str) -> str | None:
    """A line describing a swap that stopped between its two renames, or None."""
    old = str(path).rstrip("/") + REPLACED_SUFFIX
    if st.store_exists(path) or not st.store_exists(old):
        return None
    return (f"a replacement of {path} was interrupted: the old store is at {old} and the new one at "
            f"{str(path).rstrip('/') + REPLACEMENT_SUFFIX}; move the one you want to keep back to {path}")
