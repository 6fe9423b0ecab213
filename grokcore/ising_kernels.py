"""The Ising CNN's two conv → max-pool → ReLU stages and their backward as numba kernels over up to LANES stacked
models, one per vector lane, with PyTorch's pooling semantics (spec §1.1); `grokcore.ising_conv` calls them."""

from __future__ import annotations

import numba
import numpy as np

# Why numba: each model has 2 and 4 channels, far too few for oneDNN, which ran these convolutions at 4-5 GFLOP/s
# and zero-filled a buffer for every pooling's backward. Here the models sit side by side (lanes), each sample's
# working set fits in L1, and the poolings' backward is fused into the convolutions'. A pooling window's 4
# positions (q = 0..3: (0,0), (0,1), (1,0), (1,1)) are carried in 4 registers.

SIDE = 16  # snapshot side; fc1's 64 inputs are 4 channels × 4 × 4 cells after two poolings
LANES = 64  # models per kernel call; larger ensembles go through in blocks (`grokcore.ising_conv.blocks`)

# Layout: every buffer is flat, in rows of LANES lanes, lane m holding model m; `row` gives a row's offset, and every
# kernel loops innermost over lanes. Rows of a compile-time length and unsigned offsets are what let LLVM vectorise
# lane loops that read and write many rows, such as conv2's 4 output channels at once (its input read once for all
# 4): with rows of a run-time length it wants more run-time alias checks than it allows, and numba wraps signed
# indices (a negative one counts from the end), which LLVM cannot analyse; either way it gives up (4-7× slower).
# LANES and `row` are compiled into the kernels, and numba's cache keys on the kernels' own file: so they live here.


@numba.njit(cache=True, inline="always")
def row(i, n_j=1, j=0, n_k=1, k=0):
    """Offset of row (i, j, k) of a flat buffer (…, n_j, n_k, LANES), unsigned: `buffer[row(...) + m]` is lane m."""
    return np.uint64(((i * n_j + j) * n_k + k) * LANES)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _pick(s):
    """Max of a pooling window's 4 values s (row-major) and its position: the first maximum, or the last NaN, as
    PyTorch's max_pool2d picks it."""
    best, arg = s[0], 0
    if s[1] > best or s[1] != s[1]:
        best, arg = s[1], 1
    if s[2] > best or s[2] != s[2]:
        best, arg = s[2], 2
    if s[3] > best or s[3] != s[3]:
        best, arg = s[3], 3
    return best, arg


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv1(xg, w1, b1, n, e, a1, i1, b):
    """conv1 → max-pool → ReLU of snapshot b, given as each group's zero-bordered copy xg (G, 18, 18), into the
    interior of conv2's zero-bordered input e (10, 10, 2, LANES); and unless a1 is None, for the backward, the
    pooled pre-ReLU maxima a1 (B, 8, 8, 2, LANES) and the window position each pooling picked, i1 (int8).

    conv1 reads the snapshot as 16 scalars per window, shared by the group's lanes: 5-20 % faster (8-80 models;
    measured on 2026-12-04, before the rows of LANES lanes) than from a per-lane copy, which the backward's weight
    gradient keeps (there the scalars were slower)."""
    groups = xg.shape[0]
    per_group = n // groups
    for py in range(8):
        for px in range(8):
            for grp in range(groups):
                p = xg[grp, 2 * py : 2 * py + 4, 2 * px : 2 * px + 4]
                for j in range(2):
                    for a in range(per_group):
                        m = np.uint64(grp * per_group + a)
                        s0 = s1 = s2 = s3 = b1[row(j) + m]
                        for dy in range(3):
                            for dx in range(3):
                                w = w1[row(3 * dy + dx, 2, j) + m]
                                s0 += w * p[dy, dx]
                                s1 += w * p[dy, dx + 1]
                                s2 += w * p[dy + 1, dx]
                                s3 += w * p[dy + 1, dx + 1]
                        v, q = _pick((s0, s1, s2, s3))
                        e[row(10 * (py + 1) + px + 1, 2, j) + m] = 0.0 if v <= 0 else v  # ReLU, NaN kept as torch
                        if a1 is not None:
                            r = row(64 * b + 8 * py + px, 2, j) + m
                            a1[r], i1[r] = v, q


@numba.njit(cache=True, inline="always")
def _window(buf, width, channels, y, x, j, m):
    """Lane m's values at (y, x), (y, x + 1), (y + 1, x), (y + 1, x + 1), a pooling window's 4 positions, in
    channel j of a flat buffer (height, width, channels, LANES)."""
    return (buf[row(width * y + x, channels, j) + m], buf[row(width * y + x + 1, channels, j) + m],
            buf[row(width * (y + 1) + x, channels, j) + m], buf[row(width * (y + 1) + x + 1, channels, j) + m])


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _add_tap(s, w, e00, e01, e10, e11):
    """A pooling window's 4 partial sums s with one tap of weight w at the 4 input values it reads there."""
    return s[0] + w * e00, s[1] + w * e01, s[2] + w * e10, s[3] + w * e11


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv2_tap(e, w2, y, x0, m, dy, dx, s):
    """The window sums s of conv2's 4 channels of model m (`_conv2_window`) with tap (dy, dx) of both input
    channels added, input channel 0 first. It reads the window itself: through `_window`, the training forward's
    lane loop was not vectorised (3× slower)."""
    s0, s1, s2, s3 = s
    for j in range(2):
        e00, e01 = e[row(10 * (y + dy) + x0 + dx, 2, j) + m], e[row(10 * (y + dy) + x0 + dx + 1, 2, j) + m]
        e10 = e[row(10 * (y + dy + 1) + x0 + dx, 2, j) + m]
        e11 = e[row(10 * (y + dy + 1) + x0 + dx + 1, 2, j) + m]
        t = 3 * dy + dx
        s0 = _add_tap(s0, w2[row(t, 2, j, 4, 0) + m], e00, e01, e10, e11)
        s1 = _add_tap(s1, w2[row(t, 2, j, 4, 1) + m], e00, e01, e10, e11)
        s2 = _add_tap(s2, w2[row(t, 2, j, 4, 2) + m], e00, e01, e10, e11)
        s3 = _add_tap(s3, w2[row(t, 2, j, 4, 3) + m], e00, e01, e10, e11)
    return s0, s1, s2, s3


@numba.njit(cache=True, inline="always")
def _four(v):
    """v as the 4 starting sums of a pooling window."""
    return v, v, v, v


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv2_window(e, w2, b2, y, x0, m):
    """conv2's 4 channels k of model m, each at the 4 positions of the pooling window at (y, x0) of its
    zero-bordered input e (10, 10, 2, LANES). The taps written out: LLVM unrolls no loop over them with 16 sums,
    and leaves the lane loop unvectorised."""
    s = (_four(b2[row(0) + m]), _four(b2[row(1) + m]), _four(b2[row(2) + m]), _four(b2[row(3) + m]))
    s = _conv2_tap(e, w2, y, x0, m, 0, 0, s)
    s = _conv2_tap(e, w2, y, x0, m, 0, 1, s)
    s = _conv2_tap(e, w2, y, x0, m, 0, 2, s)
    s = _conv2_tap(e, w2, y, x0, m, 1, 0, s)
    s = _conv2_tap(e, w2, y, x0, m, 1, 1, s)
    s = _conv2_tap(e, w2, y, x0, m, 1, 2, s)
    s = _conv2_tap(e, w2, y, x0, m, 2, 0, s)
    s = _conv2_tap(e, w2, y, x0, m, 2, 1, s)
    return _conv2_tap(e, w2, y, x0, m, 2, 2, s)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _pool2(s, a2, i2, b, cell, m):
    """The maxima of conv2's 4 channels' windows s into a2 (16, 4, LANES) and, unless i2 is None, the window
    position each pooling picked into i2 (B, 16, 4, LANES) (int8). Not inlined by numba (`inline="always"`): its
    lane loop was then not vectorised."""
    for k in range(4):
        if i2 is None:
            a2[row(cell, 4, k) + m] = _pick(s[k])[0]
        else:
            a2[row(cell, 4, k) + m], i2[row(16 * b + cell, 4, k) + m] = _pick(s[k])


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _features(a2, b, out):
    """Snapshot b's features out[m, b] (n, B, 64): each model's ReLU of conv2's pooled maxima a2 (16, 4, LANES),
    channel-major over the 4 × 4 cells, row-major."""
    for m in range(out.shape[0]):
        for k in range(4):
            for cell in range(16):
                a = a2[row(cell, 4, k) + np.uint64(m)]
                out[m, b, 16 * k + cell] = 0.0 if a <= 0 else a  # ReLU, NaN kept as torch does


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def pooled_convs(x, w1, b1, w2, b2, out, a1, i1, i2):
    """Both stages on x (G, B, 16, 16) for the n ≤ LANES models of out with w1 (9, 2, LANES), b1 (2, LANES),
    w2 (9, 2, 4, LANES), b2 (4, LANES), flat (module comment).

    Writes the features out (n, B, 64) (`_features`) and, unless a1 is None (evaluation), for `pooled_convs_grads`
    conv1's pooled pre-ReLU maxima a1 (B, 8, 8, 2, LANES) and the window position each pooling picked, i1 and
    i2 (B, 16, 4, LANES) (int8). Numba compiles the None case apart, without the picks: 15-18 % faster. (A switch
    on a value inside the lane loops would stop LLVM vectorising them: 3× slower.)
    """
    n = out.shape[0]
    xg = np.zeros((x.shape[0], SIDE + 2, SIDE + 2), np.float32)
    e, a2 = np.zeros(10 * 10 * 2 * LANES, np.float32), np.empty(16 * 4 * LANES, np.float32)
    for b in range(x.shape[1]):
        xg[:, 1 : SIDE + 1, 1 : SIDE + 1] = x[:, b]
        _conv1(xg, w1, b1, n, e, a1, i1, b)
        for cell in range(16):
            y, x0 = 2 * (cell // 4), 2 * (cell % 4)
            for m in range(np.uint64(n)):
                _pool2(_conv2_window(e, w2, b2, y, x0, m), a2, i2, b, cell, m)
        _features(a2, b, out)


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
            x00, x01, x10, x11 = _window(xp, 18, 1, y, x0, 0, m)
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
                e00, e01, e10, e11 = _window(e, 10, 2, y, x0, j, m)
                for k in range(4):
                    gw2[row(t, 2, j, 4, k) + m] += (g[row(0, 4, k) + m] * e00 + g[row(1, 4, k) + m] * e01
                                                     + g[row(2, 4, k) + m] * e10 + g[row(3, 4, k) + m] * e11)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def pooled_convs_grads(x, w2, a1, i1, i2, out, grad_out, gw1, gb1, gw2, gb2):
    """Accumulate into gw1 (9, 2, LANES), gb1 (2, LANES), gw2 (9, 2, 4, LANES), gb2 (4, LANES) the gradients of
    Σ grad_out·out for the n models of out (n, B, 64), from the pass of `pooled_convs` over snapshots
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
