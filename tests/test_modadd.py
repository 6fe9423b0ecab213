"""Tests of grokcore.data.modadd: the two-hot data set and its seeded split with paper or torch sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch.utils.data import random_split

from grokcore.data.modadd import modadd_dataset, modadd_split, modadd_split_sizes
from grokcore.seeds import RunSeeds


@pytest.mark.parametrize("p", [2, 7, 113])
def test_dataset_is_two_hot_in_row_order(p):
    x, y = modadd_dataset(p)
    assert x.shape == (p * p, 2 * p) and x.dtype == np.float32
    assert y.shape == (p * p,) and y.dtype == np.int64
    a, b = np.argmax(x[:, :p], axis=1), np.argmax(x[:, p:], axis=1)
    np.testing.assert_array_equal(p * a + b, np.arange(p * p))
    np.testing.assert_array_equal(x.sum(axis=1), 2.0)
    np.testing.assert_array_equal(y, (a + b) % p)


def test_dataset_known_rows():
    x, y = modadd_dataset(113)
    row = 113 * 100 + 20
    assert np.flatnonzero(x[row]).tolist() == [100, 113 + 20] and y[row] == 7


@pytest.mark.parametrize(("split_sizes", "n_train", "n_test"), [("paper", 8938, 3831), ("torch", 8939, 3830)])
def test_split_sizes_disjoint_and_covering(split_sizes, n_train, n_test):
    train, test = modadd_split(0, split_sizes=split_sizes)
    assert (len(train), len(test)) == (n_train, n_test)
    assert not set(train) & set(test)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(113**2))


def test_split_is_seeded_by_the_data_stream():
    train, test = modadd_split(4, p=7)
    order = RunSeeds(data=4, init=9, batch=9, fisher=9).numpy("data").permutation(49)
    np.testing.assert_array_equal(np.concatenate([train, test]), order)
    np.testing.assert_array_equal(modadd_split(4, p=7)[0], train)
    assert not np.array_equal(modadd_split(5, p=7)[0], train)


@pytest.mark.parametrize("n", [11, 17, 100, 12769])
@pytest.mark.parametrize("fraction", [0.1, 0.33, 0.5, 0.7])
def test_torch_sizes_follow_random_split(n, fraction):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = tuple(len(s) for s in random_split(range(n), [fraction, 1 - fraction]))
    assert modadd_split_sizes(n, fraction, "torch") == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data_seed": -1}, "data_seed"),
        ({"data_seed": 1.0}, "data_seed"),
        ({"p": 1}, "p must be"),
        ({"train_fraction": 1.0}, "train_fraction"),
        ({"train_fraction": 0.0}, "train_fraction"),
        ({"p": 3, "train_fraction": 0.05}, "empty split"),
        ({"split_sizes": "exact"}, "split_sizes"),
    ],
)
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        modadd_split(**{"data_seed": 0, **kwargs})
