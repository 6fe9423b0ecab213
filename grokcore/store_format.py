"""The results-store format: one time axis (epochs completed), CF attributes, and the upgrade of older stores."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
import zarr

# 3: the resume state has two slots (`resume_*`, dimension `resume_slot`), so that a writer killed while
#    committing leaves the state done_epoch points at intact; 2 had one (`adam_*`, `batch_rng_state`).
# 2: `epoch` counts epochs completed (1..E, like `checkpoint`), CF long_name/units, `checkpoint_time`.
# 1 (no `store_format` attribute): `epoch` was 0..E−1, the index of the epoch whose end the value describes.
STORE_FORMAT = 3
# Format ≤ 2's single-slot resume arrays and their format-3 successors.
ONE_SLOT_RESUME = {"adam_exp_avg": "resume_adam_exp_avg", "adam_exp_avg_sq": "resume_adam_exp_avg_sq",
                   "adam_step": "resume_adam_step", "batch_rng_state": "resume_batch_rng_state"}
TIME_UNITS = "seconds since 1970-01-01T00:00:00Z"

# name: (long_name, units, description). Units follow CF: "1" for dimensionless numbers.
ATTRIBUTES = {
    "alpha": ("weight multiplier α", "1", "θ(0) = α·θ_init (paper §2)"),
    "seed": ("seed", "1", "seed of the data split, initialisation, batch order and Fisher samples"),
    "epoch": ("epochs completed", "epochs", "the value describes the model after this many epochs (1..E)"),
    "checkpoint": ("epochs completed", "epochs", "θ and the Fisher diagonal after this many epochs (0: init)"),
    "param": ("parameter index", "1", "position in the flattened parameter vector"),
    "param_tensor": ("parameter tensor", "1", "the tensor each parameter belongs to, e.g. fc1.weight"),
    "rng_byte": ("generator state byte", "1", "byte index into the batch-order generator state"),
    "train_loss": ("train loss", "nats",
                   "mean cross entropy over the epoch's batches, before each step (no L2 term)"),
    "train_acc": ("train accuracy", "1", "fraction correct over the epoch's batches, before each step"),
    "test_loss": ("test loss", "nats",
                  "mean cross entropy on the whole test set after the epoch (NaN: not evaluated)"),
    "test_acc": ("test accuracy", "1", "fraction correct on the whole test set after the epoch (NaN: not evaluated)"),
    "theta": ("parameters θ", "1", "flattened parameters after `checkpoint` epochs (0: the α-scaled init)"),
    "fim_diag": ("Fisher information diagonal", "1", "diagonal Fisher information at exactly the stored theta"),
    "checkpoint_time": ("time the checkpoint was written", TIME_UNITS, "wall clock; NaN: not written"),
    "resume_slot": ("resume slot", "1", "the state after checkpoint number i is in slot i mod 2"),
    "resume_adam_exp_avg": ("Adam first moment", "1", "Adam first moment, for resuming (see resume_slot)"),
    "resume_adam_exp_avg_sq": ("Adam second moment", "1", "Adam second moment, for resuming (see resume_slot)"),
    "resume_adam_step": ("Adam step count", "steps", "Adam step count, for resuming (see resume_slot)"),
    "resume_batch_rng_state": ("batch-order generator state", "1",
                               "state of the batch-order generator, for resuming (see resume_slot)"),
    "done_epoch": ("epochs written", "epochs", "epochs trained and written for this cell (-1: nothing yet)"),
    "diverged_epoch": ("epoch of divergence", "epochs",
                       "first epoch count after which theta, or during which the loss, was not finite (0: the "
                       "initialisation; -1: never); the cell's values from there on are NaN, not results"),
}


def describe(ds: xr.Dataset) -> None:
    """Set long_name, units and description (a decoded time variable keeps its units in its encoding)."""
    for name in ds.variables:
        if name in ATTRIBUTES:
            long_name, units, description = ATTRIBUTES[name]
            ds[name].attrs.update(long_name=long_name, description=description)
            if not np.issubdtype(ds[name].dtype, np.datetime64):
                ds[name].attrs["units"] = units


def is_current(attrs: dict) -> bool:
    """True if a store with these attributes has this module's format."""
    return attrs.get("store_format") == STORE_FORMAT


def upgrade_on_open(ds: xr.Dataset) -> xr.Dataset:
    """A format-1 store read on format 2's time axis, in memory: epoch e (0..E−1) becomes e + 1, and CF
    attributes. (Format 3 changed only the resume state, which readers do not use.)

    The metric values are unchanged: in both formats the value at index e describes the model after e + 1
    epochs. The store itself is not touched (see `upgrade_in_place`).
    """
    if "store_format" in ds.attrs:
        return ds
    ds = ds.assign_coords(epoch=ds["epoch"].values + 1)
    describe(ds)
    return ds


def upgrade_in_place(path: str) -> bool:
    """Bring an older store up to this format (for a writer holding its lease); the results are not
    rewritten. Returns False if the store already was current.

    Crash-safe: everything new is written before `store_format` says so, and the old resume arrays are
    deleted only after, so an upgrade cut short is either redone whole or finished by the next call.
    """
    group = zarr.open_group(path, mode="r+", use_consolidated=False)  # sees the arrays it creates and deletes
    version = group.attrs.get("store_format", 1)
    with zarr.config.set({"array.write_empty_chunks": True}):  # a missing chunk of a written cell = lost data
        if version < 2:
            _epochs_completed(group)
        if version < 3:
            _two_slot_resume_state(group)
    if version < STORE_FORMAT:
        for name in ATTRIBUTES:
            if name in group:
                long_name, units, description = ATTRIBUTES[name]
                group[name].attrs.update({"long_name": long_name, "units": units, "description": description})
        group.attrs["store_format"] = STORE_FORMAT
    leftovers = [name for name in ONE_SLOT_RESUME if name in group]
    for name in leftovers:
        del group[name]
    if version == STORE_FORMAT and not leftovers:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # consolidated metadata is outside the v3 spec
        zarr.consolidate_metadata(path)
    return True


def _new_cell_array(group: zarr.Group, name: str, shape: tuple, chunks: tuple, dtype, fill,
                    dims: tuple) -> zarr.Array:
    """A new per-cell array with theta's codecs (so the checksum, if the store has one), replacing any
    array of that name left by an upgrade cut short."""
    return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                              dimension_names=dims, compressors=group["theta"].compressors, overwrite=True)


def _epochs_completed(group: zarr.Group) -> None:
    """Format 1 → 2: the epoch coordinate 1..E, an empty `checkpoint_time`, and `diverged_epoch` where a
    store predates it (-1: no divergence was recorded)."""
    epoch = group["epoch"]
    epoch[...] = np.arange(1, epoch.shape[0] + 1, dtype=epoch.dtype)
    n_a, n_s, n_c = (group[name].shape[0] for name in ("alpha", "seed", "checkpoint"))
    if "checkpoint_time" not in group:
        times = _new_cell_array(group, "checkpoint_time", (n_a, n_s, n_c), (1, 1, n_c), "float64", np.nan,
                            ("alpha", "seed", "checkpoint"))
        times.attrs["units"] = TIME_UNITS
        times[...] = np.nan
    if "diverged_epoch" not in group:
        _new_cell_array(group, "diverged_epoch", (n_a, n_s), (1, 1), "int32", -1, ("alpha", "seed"))[...] = -1


def _two_slot_resume_state(group: zarr.Group) -> None:
    """Format 2 → 3: each written cell's one resume state goes into the slot of its checkpoint."""
    done = np.asarray(group["done_epoch"][...])
    checkpoints = [int(c) for c in group["checkpoint"][...]]
    for old, new in ONE_SLOT_RESUME.items():
        source = group[old]
        shape = (*source.shape[:2], 2, *source.shape[2:])
        target = _new_cell_array(group, new, shape, (1, 1, *shape[2:]), source.dtype, source.fill_value,
                             ("alpha", "seed", "resume_slot", *source.metadata.dimension_names[2:]))
        for a, s in zip(*np.nonzero(done >= 0), strict=True):
            target[a, s, checkpoints.index(int(done[a, s])) % 2] = source[a, s]
