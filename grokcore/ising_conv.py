"""The Ising CNN's two conv → max-pool → ReLU stages for N stacked models: numba kernels on the CPU, vectorised
over the models (lanes), with PyTorch's pooling semantics (spec §1.1)."""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch.nn import functional as F

from grokcore.ising_conv_grad import conv_grads
from grokcore.ising_layout import LANES, SIDE, blocks, from_lanes, row, to_lanes
from grokcore.models import check_groups
from grokcore.numerics import cpu_float32

# Why numba: each model has 2 and 4 channels, far too few for oneDNN, which ran these convolutions at 4-5 GFLOP/s
# and zero-filled a buffer for every pooling's backward. Here the models sit side by side (lanes, in the layout of
# `grokcore.ising_layout`), each sample's working set fits in L1, and the poolings' backward is fused into the
# convolutions' (`grokcore.ising_conv_grad`). A pooling window's 4 positions (q = 0..3: (0,0), (0,1), (1,0), (1,1))
# are carried in 4 registers.


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

    conv1 reads the snapshot as 16 scalars per window, shared by the group's lanes: 5-20 % faster (8-80 models)
    than from a per-lane copy (18 × 18 × LANES), which the backward's weight gradient keeps (there the scalars
    were slower)."""
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


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _add_tap(s, w, e00, e01, e10, e11):
    """A pooling window's 4 partial sums s with one tap of weight w at the 4 input values it reads there."""
    return s[0] + w * e00, s[1] + w * e01, s[2] + w * e10, s[3] + w * e11


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _conv2_tap(e, w2, y, x0, m, dy, dx, s):
    """The window sums s of conv2's 4 channels of model m (`_conv2_window`) with tap (dy, dx) of both input
    channels added, input channel 0 first."""
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
    position each pooling picked into i2 (B, 16, 4, LANES) (int8). (Inlined by numba, this one is not vectorised.)"""
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
def _forward(x, w1, b1, w2, b2, out, a1, i1, i2):
    """Both stages on x (G, B, 16, 16) for the n ≤ LANES models of out with w1 (9, 2, LANES), b1 (2, LANES),
    w2 (9, 2, 4, LANES), b2 (4, LANES), flat (module comment).

    Writes the features out (n, B, 64) (`_features`) and, unless a1 is None (evaluation), for `conv_grads` conv1's
    pooled pre-ReLU maxima a1 (B, 8, 8, 2, LANES) and the window position each pooling picked, i1 and
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


def _kernel_weights(w1, b1, w2, b2) -> tuple[np.ndarray, ...]:
    """conv1 (n, 2, 1, 3, 3), b1 (n, 2), conv2 (n, 4, 2, 3, 3), b2 (n, 4) of n ≤ LANES models as the kernels'
    w1 (9, 2, LANES), b1 (2, LANES), w2 (9, 2, 4, LANES), b2 (4, LANES)."""
    n = w1.shape[0]
    return (to_lanes(w1.reshape(n, 2, 9).permute(2, 1, 0)), to_lanes(b1.T),
            to_lanes(w2.reshape(n, 4, 2, 9).permute(3, 2, 1, 0)), to_lanes(b2.T))


def _snapshots(x: torch.Tensor) -> np.ndarray:
    """Snapshots (G, B, 1, 16, 16) as the kernels' (G, B, 16, 16)."""
    return x.detach().reshape(x.shape[0], x.shape[1], SIDE, SIDE).contiguous().numpy()


def _features_only(x, w1, b1, w2, b2) -> torch.Tensor:
    """`_PooledConvs`' features, for evaluation without gradients."""
    xs, out = _snapshots(x), np.empty((w1.shape[0], x.shape[1], 64), np.float32)
    for models, groups in blocks(w1.shape[0], x.shape[0]):
        _forward(xs[groups], *_kernel_weights(w1[models], b1[models], w2[models], b2[models]), out[models],
                 None, None, None)
    return torch.from_numpy(out)


class _PooledConvs(torch.autograd.Function):
    """Features (N, B, 64) of snapshots x (G, B, 1, 16, 16) for stacked conv1 (N, 2, 1, 3, 3), conv2
    (N, 4, 2, 3, 3) and biases (N, 2), (N, 4); model m reads group m // (N/G) of x. No gradient for x."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        xs, batch = _snapshots(x), x.shape[1]
        out, calls = np.empty((w1.shape[0], batch, 64), np.float32), []
        for models, groups in blocks(w1.shape[0], x.shape[0]):
            weights = _kernel_weights(w1[models], b1[models], w2[models], b2[models])
            a1 = np.empty(batch * 64 * 2 * LANES, np.float32)
            i1, i2 = np.empty(a1.shape, np.int8), np.empty(batch * 16 * 4 * LANES, np.int8)
            _forward(xs[groups], *weights, out[models], a1, i1, i2)
            calls.append((models, groups, weights[2], a1, i1, i2))
        ctx.saved = (xs, out, calls)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        xs, out, calls = ctx.saved
        grad_out, n = grad_out.contiguous().numpy(), out.shape[0]
        grads = [torch.empty(n, 2, 1, 3, 3), torch.empty(n, 2), torch.empty(n, 4, 2, 3, 3), torch.empty(n, 4)]
        for models, groups, w2, a1, i1, i2 in calls:
            gw1, gb1 = np.zeros(9 * 2 * LANES, np.float32), np.zeros(2 * LANES, np.float32)
            gw2, gb2 = np.zeros(9 * 2 * 4 * LANES, np.float32), np.zeros(4 * LANES, np.float32)
            conv_grads(xs[groups], w2, a1, i1, i2, out[models], grad_out[models], gw1, gb1, gw2, gb2)
            k = models.stop - models.start
            grads[0][models] = from_lanes(gw1, (9, 2), k).permute(0, 2, 1).reshape(k, 2, 1, 3, 3)
            grads[1][models] = from_lanes(gb1, (2,), k)
            grads[2][models] = from_lanes(gw2, (9, 2, 4), k).permute(0, 3, 2, 1).reshape(k, 4, 2, 3, 3)
            grads[3][models] = from_lanes(gb2, (4,), k)
        return None, *grads


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
