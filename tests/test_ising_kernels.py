"""Tests of the Ising convolution kernels' own rules (their outputs and gradients against PyTorch's are in
tests/test_ising_conv.py): unsigned row offsets, and the order in which the backward adds conv2's taps."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from grokcore.ising_kernels import LANES, TAP_ORDER, pooled_convs_grads, row, scatter_order


def test_row_offsets_are_unsigned_and_row_major():
    assert row(0) == 0 and row(3, 2, 1, 4, 2) == ((3 * 2 + 1) * 4 + 2) * LANES
    assert {sig.return_type for sig in row.nopython_signatures} == {numba.uint64}  # numba wraps no negative index


@pytest.mark.parametrize("y", range(1, 9))
@pytest.mark.parametrize("x", range(1, 9))
def test_every_position_sees_its_taps_in_the_order_of_its_parities(y, x):
    # conv1's pooled cells sit at rows and columns 1-8 of conv2's zero-bordered input; at the border some taps
    # read u's zero border, the rest must come in the order the scatter added them.
    order = scatter_order(y, x)
    assert [t for t in TAP_ORDER[y % 2][x % 2] if t in order] == order
    assert sorted(TAP_ORDER[y % 2][x % 2]) == list(range(9))


def _scattered_input_gradient(picks: np.ndarray, w2: np.ndarray, py: int, px: int) -> np.ndarray:
    """conv2's input gradient (2,) at conv1's pooled cell (py, px) for one model whose poolings all pass gradient 1
    from conv2's channel 0 (its pick per cell `picks` (16,)) through taps w2 (9, 2), added in the order of the
    scatter the backward replaced (`scatter_order`)."""
    s = np.zeros(2, np.float32)
    for t in scatter_order(py + 1, px + 1):
        y, x = py + 1 - t // 3, px + 1 - t % 3  # the window position this tap reaches from
        cell, q = 4 * (y // 2) + x // 2, 2 * (y % 2) + x % 2
        s += np.float32(picks[cell] == q) * w2[t]
    return s


@pytest.mark.parametrize("seed", range(24))
def test_the_gathered_input_gradient_adds_its_taps_in_the_scatters_order(seed):
    # Weights of ±2^24 and 1: 2^24 + 1 - 2^24 is 0 in float32 and 2^24 - 2^24 + 1 is 1, so a tap order other than
    # the scatter's moves the gradient by whole units, far beyond round-off. conv1's ReLU is open at one cell at a
    # time, so that conv1's bias gradient is that cell's input gradient.
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, 4, 16)
    taps = rng.choice(np.float32([2**24, -(2**24), 1]), (9, 2)).astype(np.float32)
    w2, i2 = np.zeros((9, 2, 4, LANES), np.float32), np.zeros((1, 16, 4, LANES), np.int8)
    w2[:, :, 0, 0], i2[0, :, 0, 0] = taps, picks
    grad_out = np.zeros((1, 1, 64), np.float32)
    grad_out[0, 0, :16] = 1.0  # conv2's channel 0
    x = rng.choice(np.float32([-1, 1]), (1, 1, 16, 16)).astype(np.float32)
    for py in range(8):
        for px in range(8):
            a1 = np.zeros((1, 8, 8, 2, LANES), np.float32)
            a1[0, py, px] = 1.0
            grads = [np.zeros(9 * 2 * LANES, np.float32), np.zeros(2 * LANES, np.float32),
                     np.zeros(9 * 2 * 4 * LANES, np.float32), np.zeros(4 * LANES, np.float32)]
            pooled_convs_grads(x, w2.ravel(), a1.ravel(), np.zeros(a1.size, np.int8), i2.ravel(),
                               np.ones((1, 1, 64), np.float32), grad_out, *grads)
            np.testing.assert_array_equal(grads[1].reshape(2, LANES)[:, 0],
                                          _scattered_input_gradient(picks, taps, py, px), err_msg=f"cell {py, px}")
