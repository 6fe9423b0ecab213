"""The backward of the Ising CNN's convolution stages (`grokcore.ising_conv`): numba kernels over the models'
lanes (`grokcore.ising_layout`), the poolings' backward fused into the convolutions'."""

from __future__ import annotations

import numba
import numpy as np

from grokcore.ising_layout import LANES, SIDE, row


def scatter_order(y: int, x: int) -> list[int]:
    """conv2's taps t = 3·ty + tx that reach its zero-bordered input position (y, x), in the order a scatter of its
    unpooled gradient adds them there: pooling cell by cell (row-major), in each cell window position by position,
    then tap by tap."""
    return [t for cell in range(16) for q in range(4) for t in range(9)
            if (2 * (cell // 4) + q // 2 + t // 3, 2 * (cell % 4) + q % 2 + t % 3) == (y, x)]


# The order by the parities of an input position's zero-bordered row and column, taken where all 9 taps reach it:
# every position of the same parities sees its taps in this order (at the border some are missing; the gather adds
# u's zero border there), so gathering in it gives the sums of the scatter this kernel replaced, bit for bit
# (for finite weights: 0·inf would be NaN). A tuple, so that numba compiles the taps in as constants.
TAP_ORDER = tuple(tuple(tuple(scatter_order(4 + py, 4 + px)) for px in range(2)) for py in range(2))


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _pad(x, b, n, xp):
    """Snapshot b of every group of x (G, B, 16, 16) into the interior of the zero-bordered per-lane copy
    xp (18, 18, LANES), as the backward's conv1 weight gradient reads it: lane m holds model m's snapshot."""
    per_group = n // x.shape[0]
    for y in range(SIDE):
        for x0 in range(SIDE):
            for grp in range(x.shape[0]):
                v = x[grp, b, y, x0]
                for a in range(per_group):
                    xp[row(18 * (y + 1) + x0 + 1) + np.uint64(grp * per_group + a)] = v


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _expand(a1, b, n, e):
    """conv2's input e (10, 10, 2, LANES) = ReLU of the forward's a1 (B, 8, 8, 2, LANES) for snapshot b, with a
    zero border: rebuilt by the backward rather than stored by the forward."""
    for y in range(8):
        for x in range(8):
            for j in range(2):
                for m in range(np.uint64(n)):
                    a = a1[row(64 * b + 8 * y + x, 2, j) + m]
                    e[row(10 * (y + 1) + x + 1, 2, j) + m] = 0.0 if a <= 0 else a  # ReLU, NaN kept as torch does


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _tap_pair(s, v, w_0, w_1):
    """Partial sums s of input channels 0 and 1 with the gradient v through weights w_0, w_1 added."""
    return s[0] + v * w_0, s[1] + v * w_1


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _gather_tap(u, w2, py, px, t, m, s):
    """The partial sums s[k] (per input channel j) of conv2's input gradient at conv1's pooled cell (py, px) from
    output channel k of model m, with tap t of the unpooled gradient u (10, 10, 4, LANES) added."""
    r = 10 * (py + 2 - t // 3) + px + 2 - t % 3
    return (_tap_pair(s[0], u[row(r, 4, 0) + m], w2[row(t, 2, 0, 4, 0) + m], w2[row(t, 2, 1, 4, 0) + m]),
            _tap_pair(s[1], u[row(r, 4, 1) + m], w2[row(t, 2, 0, 4, 1) + m], w2[row(t, 2, 1, 4, 1) + m]),
            _tap_pair(s[2], u[row(r, 4, 2) + m], w2[row(t, 2, 0, 4, 2) + m], w2[row(t, 2, 1, 4, 2) + m]),
            _tap_pair(s[3], u[row(r, 4, 3) + m], w2[row(t, 2, 0, 4, 3) + m], w2[row(t, 2, 1, 4, 3) + m]))


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _input_gradient(u, w2, py, px, taps, m):
    """conv2's input gradient (channel 0, channel 1) at conv1's pooled cell (py, px) of model m: gathered from the
    unpooled gradient u with the taps in the order `taps`, summed over output channels k = 0..3 in order. The
    taps written out: a loop over them is not vectorised (5× slower)."""
    z = (np.float32(0.0), np.float32(0.0))
    s = (z, z, z, z)
    s = _gather_tap(u, w2, py, px, taps[0], m, s)
    s = _gather_tap(u, w2, py, px, taps[1], m, s)
    s = _gather_tap(u, w2, py, px, taps[2], m, s)
    s = _gather_tap(u, w2, py, px, taps[3], m, s)
    s = _gather_tap(u, w2, py, px, taps[4], m, s)
    s = _gather_tap(u, w2, py, px, taps[5], m, s)
    s = _gather_tap(u, w2, py, px, taps[6], m, s)
    s = _gather_tap(u, w2, py, px, taps[7], m, s)
    s = _gather_tap(u, w2, py, px, taps[8], m, s)
    g = z
    for k in range(4):
        g = (g[0] + s[k][0], g[1] + s[k][1])
    return g


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv1_grads(u, w2, a1, i1, xp, b, py, px, taps, n, g1, h, gw1, gb1):
    """Accumulate into gw1 (9, 2, LANES) and gb1 (2, LANES) the gradients at conv1's pooled cell (py, px) of
    snapshot b: conv2's input gradient (`_input_gradient`, into g1 (2, LANES)) through the ReLU, to the window
    position the pooling picked (h (4, 2, LANES)), and onto the snapshot's per-lane copy xp."""
    for m in range(np.uint64(n)):
        g1[row(0) + m], g1[row(1) + m] = _input_gradient(u, w2, py, px, taps, m)
    for j in range(2):
        for m in range(np.uint64(n)):
            r, ra = row(j) + m, row(64 * b + 8 * py + px, 2, j) + m
            v = g1[r] if a1[ra] > 0 else 0.0
            gb1[r] += v
            for q in range(4):
                h[row(q, 2, j) + m] = v if i1[ra] == q else 0.0
    for t in range(9):
        y, x0 = 2 * py + t // 3, 2 * px + t % 3
        for m in range(np.uint64(n)):
            x00, x01 = xp[row(18 * y + x0) + m], xp[row(18 * y + x0 + 1) + m]
            x10, x11 = xp[row(18 * (y + 1) + x0) + m], xp[row(18 * (y + 1) + x0 + 1) + m]
            for j in range(2):
                gw1[row(t, 2, j) + m] += (h[row(0, 2, j) + m] * x00 + h[row(1, 2, j) + m] * x01
                                           + h[row(2, 2, j) + m] * x10 + h[row(3, 2, j) + m] * x11)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _conv2_grads(a2_grad, i2, e, b, cell, n, g, u, gw2, gb2):
    """Accumulate into gw2 (9, 2, 4, LANES) and gb2 (4, LANES) the gradients from conv2's pooling cell `cell` of
    snapshot b: its pooled gradient a2_grad (16, 4, LANES) to the window position the pooling picked (i2), as
    g (4, 4, LANES) and unpooled into u (10, 10, 4, LANES), onto conv2's input e (10, 10, 2, LANES)."""
    for k in range(4):
        for m in range(np.uint64(n)):
            gb2[row(k) + m] += a2_grad[row(cell, 4, k) + m]
    for q in range(4):
        y, x0 = 2 * (cell // 4) + q // 2, 2 * (cell % 4) + q % 2
        for k in range(4):
            for m in range(np.uint64(n)):
                v = a2_grad[row(cell, 4, k) + m] if i2[row(16 * b + cell, 4, k) + m] == q else 0.0
                g[row(q, 4, k) + m] = v
                u[row(10 * (y + 1) + x0 + 1, 4, k) + m] = v
    for t in range(9):
        y, x0 = 2 * (cell // 4) + t // 3, 2 * (cell % 4) + t % 3
        for j in range(2):
            for m in range(np.uint64(n)):
                e00, e01 = e[row(10 * y + x0, 2, j) + m], e[row(10 * y + x0 + 1, 2, j) + m]
                e10, e11 = e[row(10 * (y + 1) + x0, 2, j) + m], e[row(10 * (y + 1) + x0 + 1, 2, j) + m]
                for k in range(4):
                    gw2[row(t, 2, j, 4, k) + m] += (g[row(0, 4, k) + m] * e00 + g[row(1, 4, k) + m] * e01
                                                     + g[row(2, 4, k) + m] * e10 + g[row(3, 4, k) + m] * e11)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def conv_grads(x, w2, a1, i1, i2, out, grad_out, gw1, gb1, gw2, gb2):
    """Accumulate into gw1 (9, 2, LANES), gb1 (2, LANES), gw2 (9, 2, 4, LANES), gb2 (4, LANES) the gradients of
    Σ grad_out·out for the n models of out (n, B, 64), from the pass of `grokcore.ising_conv` over snapshots
    x (G, B, 16, 16) with conv2's weights w2 that wrote out, conv1's pooled maxima a1 (B, 8, 8, 2, LANES) and the
    window positions the poolings picked, i1 and i2 (B, 16, 4, LANES). Only a picked position receives gradient.
    conv2's input gradient is gathered per position from its unpooled gradient u, with the taps in the order
    `TAP_ORDER` gives for the position's parities."""
    n = out.shape[0]
    xp = np.zeros(18 * 18 * LANES, np.float32)
    e, u = np.zeros(10 * 10 * 2 * LANES, np.float32), np.zeros(10 * 10 * 4 * LANES, np.float32)
    g, h, g1 = (np.empty(4 * 4 * LANES, np.float32), np.empty(4 * 2 * LANES, np.float32),
                np.empty(2 * LANES, np.float32))
    a2_grad = np.empty(16 * 4 * LANES, np.float32)
    for b in range(x.shape[1]):
        _pad(x, b, n, xp)
        _expand(a1, b, n, e)
        for m in range(n):  # through the ReLU into conv2's pooled maxima
            for k in range(4):
                for cell in range(16):
                    f = 16 * k + cell
                    a2_grad[row(cell, 4, k) + np.uint64(m)] = 0.0 if out[m, b, f] <= 0 else grad_out[m, b, f]
        for cell in range(16):
            _conv2_grads(a2_grad, i2, e, b, cell, n, g, u, gw2, gb2)
        for py in range(0, 8, 2):  # row-major, each position with its parities' taps as constants
            for px in range(0, 8, 2):
                _conv1_grads(u, w2, a1, i1, xp, b, py, px, TAP_ORDER[1][1], n, g1, h, gw1, gb1)
                _conv1_grads(u, w2, a1, i1, xp, b, py, px + 1, TAP_ORDER[1][0], n, g1, h, gw1, gb1)
            for px in range(0, 8, 2):
                _conv1_grads(u, w2, a1, i1, xp, b, py + 1, px, TAP_ORDER[0][1], n, g1, h, gw1, gb1)
                _conv1_grads(u, w2, a1, i1, xp, b, py + 1, px + 1, TAP_ORDER[0][0], n, g1, h, gw1, gb1)
