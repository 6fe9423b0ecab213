"""Modular addition (a + b) mod p: the two-hot data set of all p² pairs and its seeded train/test split."""

from __future__ import annotations

import math

import numpy as np

from grokcore.seeds import RunSeeds

SPLIT_SIZES = ("paper", "torch")


def _check_p(p) -> int:
    if not isinstance(p, int | np.integer) or isinstance(p, bool) or p < 2:
        raise ValueError(f"p must be an integer >= 2, got {p!r}")
    return int(p)


def modadd_dataset(p: int = 113) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (a, b) in row order, index = p·a + b (spec §2.5).

    Returns x (p², 2p) float32 = concat(onehot(a), onehot(b)) and y (p²,) int64 = (a + b) mod p."""
    p = _check_p(p)
    a, b = np.divmod(np.arange(p * p), p)
    x = np.zeros((p * p, 2 * p), dtype=np.float32)
    rows = np.arange(p * p)
    x[rows, a] = 1.0
    x[rows, p + b] = 1.0
    return x, ((a + b) % p).astype(np.int64)


def modadd_split_sizes(n: int, train_fraction: float = 0.7, split_sizes: str = "paper") -> tuple[int, int]:
    """(n_train, n_test) of n examples (spec §2.6).

    "paper": n_train = floor(train_fraction·n), as in the paper's Table 1 (8938 / 3831 for p = 113).
    "torch": torch.utils.data.random_split's rule for fractions [f, 1 - f] (floor each, then the remainder
    round-robin from the first), as in the authors' code (8939 / 3830)."""
    if not isinstance(train_fraction, float | int) or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction!r}")
    if split_sizes == "paper":
        n_train = math.floor(n * train_fraction)
        sizes = [n_train, n - n_train]
    elif split_sizes == "torch":
        sizes = [math.floor(n * f) for f in (train_fraction, 1 - train_fraction)]
        for i in range(n - sum(sizes)):
            sizes[i % 2] += 1
    else:
        raise ValueError(f"split_sizes must be one of {', '.join(SPLIT_SIZES)}, got {split_sizes!r}")
    if min(sizes) < 1:
        raise ValueError(f"train_fraction {train_fraction} leaves an empty split of {n} examples: {sizes}")
    return sizes[0], sizes[1]


def modadd_split(
    data_seed: int, p: int = 113, train_fraction: float = 0.7, split_sizes: str = "paper"
) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx) into modadd_dataset(p): a permutation from the data stream of
    RunSeeds.from_seed(data_seed), train = its first n_train entries, test = the rest. The authors' split was
    unseeded (spec §2.6 [BUG]), so it cannot be reproduced; only its sizes can (split_sizes="torch")."""
    if not isinstance(data_seed, int | np.integer) or isinstance(data_seed, bool) or data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {data_seed!r}")
    n = _check_p(p) ** 2
    n_train, _ = modadd_split_sizes(n, train_fraction, split_sizes)
    order = RunSeeds.from_seed(int(data_seed)).numpy("data").permutation(n)
    return order[:n_train], order[n_train:]
