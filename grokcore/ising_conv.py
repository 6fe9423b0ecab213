"""The Ising CNN's two conv → max-pool → ReLU stages for N stacked models: numba kernels on the CPU, vectorised
over the channels of all models at once (channels last), with PyTorch's pooling semantics (spec §1.1)."""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch.nn import functional as F

from grokcore.models import check_groups
from grokcore.numerics import cpu_float32

SIDE = 16  # snapshot side; fc1's 64 inputs are 4 channels × 4 × 4 cells after two poolings

# Why numba: each model has 2 and 4 channels, far too few for oneDNN, which ran these convolutions at 4-5 GFLOP/s
# and zero-filled a buffer for every pooling's backward. Here the channels of all models sit side by side
# (lanes), each sample's working set fits in L1, and the poolings' backward is fused into the convolutions'.


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _pick(s0, s1, s2, s3):
    """Max of a pooling window's 4 values (row-major) and its position: the first maximum, or the last NaN, as
    PyTorch's max_pool2d picks it."""
    best, arg = s0, 0
    if s1 > best or s1 != s1:
        best, arg = s1, 1
    if s2 > best or s2 != s2:
        best, arg = s2, 2
    if s3 > best or s3 != s3:
        best, arg = s3, 3
    return best, arg


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _pad(x, b, xp):
    """Snapshot b of every group of x (G, B, 16, 16) into the interior of the zero-bordered xp (18, 18, C1), as
    the backward's conv1 weight gradient reads it: lane jN+m holds the snapshot of model m (of N = G·A,
    seed-major), group m // A."""
    n = xp.shape[2] // 2
    per_group = n // x.shape[0]
    for y in range(SIDE):
        for x0 in range(SIDE):
            for grp in range(x.shape[0]):
                v = x[grp, b, y, x0]
                for j in range(2):
                    for a in range(per_group):
                        xp[y + 1, x0 + 1, j * n + grp * per_group + a] = v


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _expand(a1_b, e):
    """conv2's input e[y+1, x+1, c] = ReLU(a1_b[y, x, c]) in e (10, 10, C1) with a zero border, rebuilt by the
    backward from the forward's a1. conv2's output lane kN+m reads input lanes jN+m (grouped: 2 → 4 channels per
    model), contiguous runs of N lanes for each (j, k): e holds each input lane once, 32 kB at 40 models, where a
    copy per output lane (128 kB) left L1."""
    for y in range(8):
        for x in range(8):
            for c in range(a1_b.shape[2]):
                a = a1_b[y, x, c]
                e[y + 1, x + 1, c] = 0.0 if a <= 0 else a  # ReLU, NaN kept as torch does


# Lanes: conv1's channel j of model m is lane jN+m, conv2's channel k of model m lane kN+m, so that the
# grouped convolution's input and gradient are contiguous runs of N lanes. Every kernel loops innermost over
# lanes, and a pooling window's 4 positions (q = 0..3: (0,0), (0,1), (1,0), (1,1)) are carried in 4 registers.


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv1(xg, w1, b1, e, a1_b, i1_b):
    """conv1 → max-pool → ReLU of one snapshot, given as each group's zero-bordered copy xg (G, 18, 18), into the
    interior of conv2's zero-bordered input e (10, 10, C1); and unless a1_b is None, for the backward, the pooled
    pre-ReLU maxima a1_b (8, 8, C1) and the window position each pooling picked, i1_b (8, 8, C1) (int8).

    conv1 reads the snapshot as 16 scalars per window, shared by the group's lanes: 5-20 % faster (8-80 models)
    than from a per-lane copy (18 × 18 × C1, 104 kB at 40 models), which the backward's weight gradient keeps (there
    the scalars were slower)."""
    groups, n = xg.shape[0], b1.shape[0] // 2
    per_group = n // groups
    for py in range(8):
        for px in range(8):
            for grp in range(groups):
                p = xg[grp, 2 * py : 2 * py + 4, 2 * px : 2 * px + 4]
                for j in range(2):
                    for a in range(per_group):
                        c = j * n + grp * per_group + a
                        s0 = s1 = s2 = s3 = b1[c]
                        for dy in range(3):
                            for dx in range(3):
                                w = w1[3 * dy + dx, c]
                                s0 += w * p[dy, dx]
                                s1 += w * p[dy, dx + 1]
                                s2 += w * p[dy + 1, dx]
                                s3 += w * p[dy + 1, dx + 1]
                        v, q = _pick(s0, s1, s2, s3)
                        e[py + 1, px + 1, c] = 0.0 if v <= 0 else v  # ReLU, NaN kept as torch does
                        if a1_b is not None:
                            a1_b[py, px, c], i1_b[py, px, c] = v, q


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv2_window(e, w2, b2, y, x0, k, m):
    """conv2's channel k of model m (lane kN+m) at the 4 positions of the pooling window at (y, x0) of its
    zero-bordered input e (10, 10, C1)."""
    n = e.shape[2] // 2
    o = k * n + m
    s0 = s1 = s2 = s3 = b2[o]
    for dy in range(3):
        for dx in range(3):
            for j in range(2):
                w, c = w2[3 * dy + dx, j, o], j * n + m
                s0 += w * e[y + dy, x0 + dx, c]
                s1 += w * e[y + dy, x0 + dx + 1, c]
                s2 += w * e[y + dy + 1, x0 + dx, c]
                s3 += w * e[y + dy + 1, x0 + dx + 1, c]
    return s0, s1, s2, s3


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _features(a2, b, out):
    """Snapshot b's features out[m, b] (N, B, 64): each model's ReLU of conv2's pooled maxima a2 (16, C2),
    channel-major over the 4 × 4 cells, row-major."""
    n = out.shape[0]
    for k in range(4):
        for m in range(n):
            for cell in range(16):
                a = a2[cell, k * n + m]
                out[m, b, 16 * k + cell] = 0.0 if a <= 0 else a  # ReLU, NaN kept as torch does


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _forward(x, w1, b1, w2, b2, out, a1, i1, i2):
    """Both stages on x (G, B, 16, 16) with w1 (9, C1), b1 (C1,), w2 (9, 2, C2), b2 (C2,); C1 = 2N, C2 = 4N lanes.

    Writes the features out (N, B, 64) (`_features`) and, unless a1 is None (evaluation), for `_backward` conv1's
    pooled pre-ReLU maxima a1 (B, 8, 8, C1) and the window position each pooling picked, i1 (B, 8, 8, C1) and
    i2 (B, 16, C2) (int8). Numba compiles the None case apart, without the picks: 15-18 % faster. (A switch on a
    value inside the lane loops would stop LLVM vectorising them: 3× slower.)
    """
    n = b1.shape[0] // 2
    xg = np.zeros((x.shape[0], SIDE + 2, SIDE + 2), np.float32)
    e, a2 = np.zeros((10, 10, 2 * n), np.float32), np.empty((16, 4 * n), np.float32)
    for b in range(x.shape[1]):
        xg[:, 1 : SIDE + 1, 1 : SIDE + 1] = x[:, b]
        if a1 is None:
            _conv1(xg, w1, b1, e, None, None)
        else:
            _conv1(xg, w1, b1, e, a1[b], i1[b])
        for cell in range(16):
            for k in range(4):
                for m in range(n):
                    s = _conv2_window(e, w2, b2, 2 * (cell // 4), 2 * (cell % 4), k, m)
                    if a1 is None:
                        a2[cell, k * n + m] = _pick(*s)[0]
                    else:
                        a2[cell, k * n + m], i2[b, cell, k * n + m] = _pick(*s)
        _features(a2, b, out)


def _scatter_order(y: int, x: int) -> list[int]:
    """conv2's taps t = 3·ty + tx that reach its zero-bordered input position (y, x), in the order a scatter of its
    unpooled gradient adds them there: pooling cell by cell (row-major), in each cell window position by position,
    then tap by tap."""
    return [t for cell in range(16) for q in range(4) for t in range(9)
            if (2 * (cell // 4) + q // 2 + t // 3, 2 * (cell % 4) + q % 2 + t % 3) == (y, x)]


# The order by the parities of an input position's zero-bordered row and column, taken where all 9 taps reach it:
# every position of the same parities sees its taps in this order (at the border some are missing; the gather adds
# u's zero border there), so gathering in it gives the sums of the scatter this kernel replaced, bit for bit
# (for finite weights: 0·inf would be NaN).
_TAP_ORDER = np.array([[_scatter_order(4 + py, 4 + px) for px in range(2)] for py in range(2)], np.int64)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _tap(u, w2, py, px, t, o, s):
    """The partial sums s of conv2's input gradient at conv1's pooled cell (py, px), input channels j = 0, 1 of
    lane o's model, with tap t of the unpooled gradient u (10, 10, C2) added."""
    v = u[py + 2 - t // 3, px + 2 - t % 3, o]
    return s[0] + v * w2[t, 0, o], s[1] + v * w2[t, 1, o]


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _backward(x, w2, a1, i1, i2, out, grad_out, taps, gw1, gb1, gw2, gb2):
    """Accumulate into gw1 (9, C1), gb1, gw2 (9, 2, C2), gb2 the gradients of Σ grad_out·out for the forward pass
    that wrote a1, i1, out, i2. Only the window position each pooling picked receives gradient: g[q] (lane,) is
    the pooled gradient where the window picked position q, else 0. conv2's input gradient is gathered per
    position from u, that gradient unpooled, with the taps in the order `taps` (`_TAP_ORDER`) gives."""
    c1, c2, n = a1.shape[3], i2.shape[2], a1.shape[3] // 2
    xp = np.zeros((SIDE + 2, SIDE + 2, c1), np.float32)
    e, u = np.zeros((10, 10, c1), np.float32), np.zeros((10, 10, c2), np.float32)
    g, h, g1 = np.empty((4, c2), np.float32), np.empty((4, c1), np.float32), np.empty(c1, np.float32)
    grad_a2 = np.empty((16, c2), np.float32)
    for b in range(x.shape[1]):
        _pad(x, b, xp)
        _expand(a1[b], e)
        for k in range(4):  # through the ReLU into conv2's pooled maxima, lane kN+m
            for m in range(n):
                for cell in range(16):
                    f = 16 * k + cell
                    grad_a2[cell, k * n + m] = 0.0 if out[m, b, f] <= 0 else grad_out[m, b, f]  # torch's rule
        for cell in range(16):
            for o in range(c2):
                gb2[o] += grad_a2[cell, o]
            for q in range(4):
                y, x0 = 2 * (cell // 4) + q // 2, 2 * (cell % 4) + q % 2
                for o in range(c2):
                    g[q, o] = grad_a2[cell, o] if i2[b, cell, o] == q else 0.0
                    u[y + 1, x0 + 1, o] = g[q, o]
            for t in range(9):
                y, x0 = 2 * (cell // 4) + t // 3, 2 * (cell % 4) + t % 3
                for j in range(2):
                    for k in range(4):
                        for m in range(n):
                            o, c = k * n + m, j * n + m
                            gw2[t, j, o] += (g[0, o] * e[y, x0, c] + g[1, o] * e[y, x0 + 1, c]
                                             + g[2, o] * e[y + 1, x0, c] + g[3, o] * e[y + 1, x0 + 1, c])
        for py in range(8):
            for px in range(8):
                # the 9 taps written out: a loop over taps read at run time is not vectorised (5× slower)
                t0, t1, t2, t3, t4, t5, t6, t7, t8 = taps[(py + 1) % 2, (px + 1) % 2]
                g1[:] = 0.0
                for k in range(4):
                    for m in range(n):
                        o = k * n + m
                        s = (np.float32(0.0), np.float32(0.0))
                        s = _tap(u, w2, py, px, t0, o, s)
                        s = _tap(u, w2, py, px, t1, o, s)
                        s = _tap(u, w2, py, px, t2, o, s)
                        s = _tap(u, w2, py, px, t3, o, s)
                        s = _tap(u, w2, py, px, t4, o, s)
                        s = _tap(u, w2, py, px, t5, o, s)
                        s = _tap(u, w2, py, px, t6, o, s)
                        s = _tap(u, w2, py, px, t7, o, s)
                        s = _tap(u, w2, py, px, t8, o, s)
                        g1[m] += s[0]
                        g1[n + m] += s[1]
                for c in range(c1):
                    g1[c] = g1[c] if a1[b, py, px, c] > 0 else 0.0
                    gb1[c] += g1[c]
                for q in range(4):
                    for c in range(c1):
                        h[q, c] = g1[c] if i1[b, py, px, c] == q else 0.0
                for t in range(9):
                    y, x0 = 2 * py + t // 3, 2 * px + t % 3
                    for c in range(c1):
                        gw1[t, c] += (h[0, c] * xp[y, x0, c] + h[1, c] * xp[y, x0 + 1, c]
                                      + h[2, c] * xp[y + 1, x0, c] + h[3, c] * xp[y + 1, x0 + 1, c])


def _kernel_layout(x, w1, b1, w2, b2) -> tuple[np.ndarray, ...]:
    """Snapshots (G, B, 16, 16) and the parameters in lanes (module comment) for the kernels: w1 (9, C1), b1 (C1,),
    w2 (9, 2, C2), b2 (C2,)."""
    n = w1.shape[0]
    xs = x.detach().reshape(x.shape[0], x.shape[1], SIDE, SIDE).contiguous().numpy()
    w1t = w1.detach().reshape(n, 2, 9).permute(2, 1, 0).reshape(9, 2 * n).contiguous().numpy()
    w2t = w2.detach().reshape(n, 4, 2, 9).permute(3, 2, 1, 0).reshape(9, 2, 4 * n).contiguous().numpy()
    b1t, b2t = (b.detach().T.reshape(-1).contiguous().numpy() for b in (b1, b2))
    return xs, w1t, b1t, w2t, b2t


def _features_only(x, w1, b1, w2, b2) -> torch.Tensor:
    """`_PooledConvs`' features, for evaluation without gradients."""
    out = np.empty((w1.shape[0], x.shape[1], 64), np.float32)
    _forward(*_kernel_layout(x, w1, b1, w2, b2), out, None, None, None)
    return torch.from_numpy(out)


class _PooledConvs(torch.autograd.Function):
    """Features (N, B, 64) of snapshots x (G, B, 1, 16, 16) for stacked conv1 (N, 2, 1, 3, 3), conv2
    (N, 4, 2, 3, 3) and biases (N, 2), (N, 4); model m reads group m // (N/G) of x. No gradient for x."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        xs, w1t, b1t, w2t, b2t = _kernel_layout(x, w1, b1, w2, b2)
        n, batch = w1.shape[0], x.shape[1]
        a1, out = np.empty((batch, 8, 8, 2 * n), np.float32), np.empty((n, batch, 64), np.float32)
        i1, i2 = np.empty(a1.shape, np.int8), np.empty((batch, 16, 4 * n), np.int8)
        _forward(xs, w1t, b1t, w2t, b2t, out, a1, i1, i2)
        ctx.saved = (xs, w2t, a1, i1, i2, out)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        xs, w2t, a1, i1, i2, out = ctx.saved
        n = a1.shape[3] // 2
        gw1, gb1 = np.zeros((9, 2 * n), np.float32), np.zeros(2 * n, np.float32)
        gw2, gb2 = np.zeros((9, 2, 4 * n), np.float32), np.zeros(4 * n, np.float32)
        _backward(xs, w2t, a1, i1, i2, out, grad_out.contiguous().numpy(), _TAP_ORDER, gw1, gb1, gw2, gb2)
        grad_w1 = torch.from_numpy(gw1).reshape(9, 2, n).permute(2, 1, 0).reshape(n, 2, 1, 3, 3)
        grad_w2 = torch.from_numpy(gw2).reshape(9, 2, 4, n).permute(3, 2, 1, 0).reshape(n, 4, 2, 3, 3)
        grad_b1, grad_b2 = torch.from_numpy(gb1).reshape(2, n).T, torch.from_numpy(gb2).reshape(4, n).T
        return None, grad_w1, grad_b1, grad_w2, grad_b2


def _grouped(x: torch.Tensor, n_models: int) -> torch.Tensor:
    """Snapshots as (G, B, 1, 16, 16): shared ones (B, 1, 16, 16) are one group."""
    x = x if x.ndim == 5 else x.unsqueeze(0)
    check_groups(n_models, x.shape[0])
    return x


def conv_stage_torch(x, w1, b1, w2, b2) -> torch.Tensor:
    """The same features (N, B, 64) from PyTorch's convolutions and pooling, on any device: conv1 of all models
    as one convolution with 2N output channels (grouped by x's groups), conv2 as one grouped convolution
    (groups = N), channels last."""
    x = _grouped(x, w1.shape[0])
    n, groups, batch = w1.shape[0], x.shape[0], x.shape[1]
    # With one channel, .contiguous(channels_last) keeps NCHW strides and the convolution would answer NCHW.
    x = x.reshape(groups, batch, SIDE, SIDE, 1).permute(1, 4, 0, 2, 3).reshape(batch, groups, SIDE, SIDE)
    h = F.conv2d(x, w1.flatten(0, 1), b1.flatten(), padding=1, groups=groups)
    # ReLU after pooling: max-pooling commutes with the monotone ReLU (values and gradients), on 4× less data.
    h = torch.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, w2.flatten(0, 1), b2.flatten(), padding=1, groups=n)
    h = torch.relu(F.max_pool2d(h, 2))
    # (batch, model·C, H, W) → (model, batch, C·H·W): the channel-major flatten of each model.
    return h.reshape(batch, n, -1).transpose(0, 1)


def conv_stage(x, w1, b1, w2, b2) -> torch.Tensor:
    """Features (N, B, 64), the input of fc1, of N models with stacked conv1 (N, 2, 1, 3, 3), b1 (N, 2),
    conv2 (N, 4, 2, 3, 3), b2 (N, 4): conv(1→2) → max-pool → ReLU → conv(2→4) → max-pool → ReLU per model
    (spec §1.1). Snapshots x (B, 1, 16, 16) are shared by all models; x (G, B, 1, 16, 16) gives each of G seed
    groups its own, models seed-major (model m reads x[m // (N/G)]). The numba kernels for float32 on the CPU,
    PyTorch's operations otherwise (`conv_stage_torch`); the two agree to float round-off."""
    x = _grouped(x, w1.shape[0])
    tensors = (x, w1, b1, w2, b2)
    if cpu_float32(*tensors) and tuple(x.shape[2:]) == (1, SIDE, SIDE) and not x.requires_grad:
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _PooledConvs.apply(x, w1, b1, w2, b2)
        return _features_only(x, w1, b1, w2, b2)
    return conv_stage_torch(x, w1, b1, w2, b2)
