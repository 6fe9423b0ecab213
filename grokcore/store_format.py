"""The results-store format: one time axis (epochs completed), CF attributes, and the upgrade of older stores."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
import zarr

# 2: `epoch` counts epochs completed (1..E, like `checkpoint`), CF long_name/units, `checkpoint_time`.
# 1 (no `store_format` attribute): `epoch` was 0..E−1, the index of the epoch whose end the value describes.
STORE_FORMAT = 2
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
    "adam_exp_avg": ("Adam first moment", "1", "Adam first moment at done_epoch (for resuming)"),
    "adam_exp_avg_sq": ("Adam second moment", "1", "Adam second moment at done_epoch (for resuming)"),
    "adam_step": ("Adam step count", "steps", "Adam step count at done_epoch"),
    "batch_rng_state": ("batch-order generator state", "1", "state of the batch-order generator at done_epoch"),
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
    """A format-1 store read as format 2, in memory: epoch e (0..E−1) becomes e + 1, and CF attributes.

    The metric values are unchanged: in both formats the value at index e describes the model after e + 1
    epochs. The store itself is not touched (see `upgrade_in_place`).
    """
    if is_current(ds.attrs):
        return ds
    ds = ds.assign_coords(epoch=ds["epoch"].values + 1)
    describe(ds)
    return ds


def upgrade_in_place(path: str) -> bool:
    """Rewrite a format-1 store's metadata as format 2 (epoch coordinate, attributes, an empty
    `checkpoint_time`); the results are not rewritten. Returns False if the store was already current."""
    group = zarr.open_group(path, mode="r+")
    if is_current(dict(group.attrs)):
        return False
    epoch = group["epoch"]
    epoch[...] = np.arange(1, epoch.shape[0] + 1, dtype=epoch.dtype)
    if "checkpoint_time" not in group:
        shape = (group["alpha"].shape[0], group["seed"].shape[0], group["checkpoint"].shape[0])
        # Same codecs as theta (the checksum, if the store has one), and every chunk written: a missing chunk
        # of a written cell means lost data (grokcore.integrity).
        with zarr.config.set({"array.write_empty_chunks": True}):
            times = group.create_array("checkpoint_time", shape=shape, chunks=(1, 1, shape[2]), dtype="float64",
                                       fill_value=np.nan, dimension_names=("alpha", "seed", "checkpoint"),
                                       compressors=group["theta"].compressors, attributes={"units": TIME_UNITS})
            times[...] = np.nan
    for name in ATTRIBUTES:
        if name in group:
            long_name, units, description = ATTRIBUTES[name]
            group[name].attrs.update({"long_name": long_name, "units": units, "description": description})
    group.attrs["store_format"] = STORE_FORMAT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # consolidated metadata is outside the v3 spec
        zarr.consolidate_metadata(path)
    return True
