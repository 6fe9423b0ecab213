"""The train and test tensors one training run sees: TaskData and its builders for the two tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from grokcore.data.ising import ising_split
from grokcore.data.modadd import modadd_dataset, modadd_split
from grokcore.models import check_task


@dataclass(frozen=True)
class TaskData:
    """Train and test sets of one run; the indices point into the source data set.

    x_* float32 (N, 1, L, L) for Ising, (N, 2p) for mod-add; y_* int64 (N,) labels; *_index int64 (N,)."""

    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_index: np.ndarray
    test_index: np.ndarray

    def __post_init__(self):
        check_task(self.task)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            index = getattr(self, f"{split}_index")
            if x.dtype != torch.float32 or y.dtype != torch.int64:
                raise ValueError(
                    f"{split} set must be float32 inputs and int64 labels, got {x.dtype}, {y.dtype}"
                )
            if not len(x) == len(y) == len(index):
                raise ValueError(f"{split} set has {len(x)} inputs, {len(y)} labels and {len(index)} indices")


def ising_task_data(
    ds: xr.Dataset, data_seed: int, n_train: int = 300, n_test: int = 1000, stratified: bool = False
) -> TaskData:
    """Ising inputs spins as float32 (N, 1, L, L) and labels phase (1 = ordered), split by ising_split."""
    train_index, test_index = ising_split(
        ds, data_seed, n_test=n_test, n_train=n_train, stratified=stratified
    )
    spins, phase = ds["spins"].values, ds["phase"].values

    def tensors(index):
        x = torch.from_numpy(spins[index].astype(np.float32)[:, None])
        return x, torch.from_numpy(phase[index].astype(np.int64))

    return TaskData("ising", *tensors(train_index), *tensors(test_index), train_index, test_index)


def modadd_task_data(
    data_seed: int, p: int = 113, train_fraction: float = 0.7, split_sizes: str = "paper"
) -> TaskData:
    """Mod-add two-hot inputs (N, 2p) and labels (a + b) mod p, split by modadd_split."""
    x, y = modadd_dataset(p)
    train_index, test_index = modadd_split(data_seed, p, train_fraction, split_sizes)
    return TaskData(
        "modadd",
        torch.from_numpy(x[train_index]),
        torch.from_numpy(y[train_index]),
        torch.from_numpy(x[test_index]),
        torch.from_numpy(y[test_index]),
        train_index,
        test_index,
    )
