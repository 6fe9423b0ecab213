"""Tests of grokcore.data.task: TaskData and the per-task builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grokcore.data.ising import ising_dataset
from grokcore.data.modadd import modadd_split
from grokcore.data.task import TaskData, ising_task_data, modadd_task_data


def small_ising(n_ordered=800, n_disordered=700, L=16):
    rng = np.random.default_rng(0)
    temperature = np.concatenate([np.full(n_ordered, 1.5), np.full(n_disordered, 3.0)])
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(len(temperature), L, L))
    return ising_dataset(spins, temperature, 1.0, {})


@pytest.mark.parametrize("stratified", [False, True])
def test_ising_task_data(stratified):
    ds = small_ising()
    data = ising_task_data(ds, data_seed=3, stratified=stratified)
    assert data.task == "ising"
    assert data.x_train.shape == (300, 1, 16, 16) and data.x_test.shape == (1000, 1, 16, 16)
    assert data.x_train.dtype == torch.float32 and data.y_test.dtype == torch.int64
    np.testing.assert_array_equal(data.x_train[:, 0].numpy(), ds["spins"].values[data.train_index])
    np.testing.assert_array_equal(data.y_test.numpy(), ds["phase"].values[data.test_index])
    assert not set(data.train_index) & set(data.test_index)
    if stratified:
        assert data.y_train.sum() == 150


def test_ising_task_data_sizes_and_errors():
    data = ising_task_data(small_ising(), data_seed=0, n_train=40, n_test=10)
    assert (len(data.y_train), len(data.y_test)) == (40, 10)
    with pytest.raises(ValueError, match="exceeds"):
        ising_task_data(small_ising(), data_seed=0, n_train=600, n_test=1000)


@pytest.mark.parametrize(("split_sizes", "n_train"), [("paper", 8938), ("torch", 8939)])
def test_modadd_task_data(split_sizes, n_train):
    data = modadd_task_data(data_seed=2, split_sizes=split_sizes)
    assert data.task == "modadd"
    assert data.x_train.shape == (n_train, 226) and data.x_test.shape == (113**2 - n_train, 226)
    a = data.x_train[:, :113].argmax(1)
    b = data.x_train[:, 113:].argmax(1)
    np.testing.assert_array_equal(data.y_train.numpy(), ((a + b) % 113).numpy())
    np.testing.assert_array_equal((113 * a + b).numpy(), data.train_index)
    np.testing.assert_array_equal(data.test_index, modadd_split(2, split_sizes=split_sizes)[1])


def tensors(n_train=3, n_test=2):
    return dict(
        x_train=torch.zeros(n_train, 4),
        y_train=torch.zeros(n_train, dtype=torch.int64),
        x_test=torch.zeros(n_test, 4),
        y_test=torch.zeros(n_test, dtype=torch.int64),
        train_index=np.arange(n_train),
        test_index=np.arange(n_test),
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"task": "mnist"}, "mnist"),
        ({"x_train": torch.zeros(3, 4, dtype=torch.float64)}, "float32 inputs"),
        ({"y_test": torch.zeros(2, dtype=torch.int32)}, "int64 labels"),
        ({"train_index": np.arange(4)}, "3 inputs, 3 labels and 4 indices"),
    ],
)
def test_task_data_validation(change, match):
    TaskData(task="modadd", **tensors())
    with pytest.raises(ValueError, match=match):
        TaskData(**{"task": "modadd", **tensors(), **change})
