"""The Ising CNN's two conv → max-pool → ReLU stages for N stacked models: the numba kernels of
`grokcore.ising_kernels` on the CPU, in blocks of up to LANES models, PyTorch's operations elsewhere (spec §1.1)."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from grokcore.ising_kernels import LANES, SIDE, pooled_convs, pooled_convs_grads
from grokcore.models import check_groups
from grokcore.numerics import cpu_float32


def blocks(n_models: int, groups: int) -> list[tuple[slice, slice]]:
    """(models, groups) of the kernel calls, ≤ LANES models each: whole seed groups, or parts of one (models
    seed-major, model m reading group m // (N/G))."""
    if n_models == 0:
        return []
    per_group = n_models // groups
    if per_group <= LANES:
        step = LANES // per_group
        return [(slice(g * per_group, min(g + step, groups) * per_group), slice(g, min(g + step, groups)))
                for g in range(0, groups, step)]
    return [(slice(g * per_group + s, g * per_group + min(s + LANES, per_group)), slice(g, g + 1))
            for g in range(groups) for s in range(0, per_group, LANES)]


def _to_lanes(t: torch.Tensor) -> np.ndarray:
    """A parameter (*rows, n) as a flat kernel buffer (*rows, LANES) float32, the lanes past n zero."""
    out = np.zeros((*t.shape[:-1], LANES), np.float32)
    out[..., : t.shape[-1]] = t.detach().numpy()
    return out.ravel()


def _from_lanes(flat: np.ndarray, rows: tuple[int, ...], n: int) -> torch.Tensor:
    """A flat kernel buffer (*rows, LANES) as (n, *rows), its first n lanes."""
    return torch.from_numpy(np.moveaxis(flat.reshape(*rows, LANES)[..., :n], -1, 0).copy())


def _kernel_weights(w1, b1, w2, b2) -> tuple[np.ndarray, ...]:
    """conv1 (n, 2, 1, 3, 3), b1 (n, 2), conv2 (n, 4, 2, 3, 3), b2 (n, 4) of n ≤ LANES models as the kernels'
    w1 (9, 2, LANES), b1 (2, LANES), w2 (9, 2, 4, LANES), b2 (4, LANES)."""
    n = w1.shape[0]
    return (_to_lanes(w1.reshape(n, 2, 9).permute(2, 1, 0)), _to_lanes(b1.T),
            _to_lanes(w2.reshape(n, 4, 2, 9).permute(3, 2, 1, 0)), _to_lanes(b2.T))


def _snapshots(x: torch.Tensor) -> np.ndarray:
    """Snapshots (G, B, 1, 16, 16) as the kernels' (G, B, 16, 16)."""
    return x.detach().reshape(x.shape[0], x.shape[1], SIDE, SIDE).contiguous().numpy()


def _features_only(x, w1, b1, w2, b2) -> torch.Tensor:
    """`_PooledConvs`' features, for evaluation without gradients."""
    xs, out = _snapshots(x), np.empty((w1.shape[0], x.shape[1], 64), np.float32)
    for models, groups in blocks(w1.shape[0], x.shape[0]):
        pooled_convs(xs[groups], *_kernel_weights(w1[models], b1[models], w2[models], b2[models]), out[models],
                     None, None, None)
    return torch.from_numpy(out)


class _PooledConvs(torch.autograd.Function):
    """Features (N, B, 64) of snapshots x (G, B, 1, 16, 16) for stacked conv1 (N, 2, 1, 3, 3), conv2
    (N, 4, 2, 3, 3) and biases (N, 2), (N, 4); model m reads group m // (N/G) of x. No gradient for x.

    Keeps for the backward, per block, 44 kB per snapshot whatever its number of models (LANES lanes)."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        xs, batch = _snapshots(x), x.shape[1]
        out, calls = np.empty((w1.shape[0], batch, 64), np.float32), []
        for models, groups in blocks(w1.shape[0], x.shape[0]):
            weights = _kernel_weights(w1[models], b1[models], w2[models], b2[models])
            a1 = np.empty(batch * 64 * 2 * LANES, np.float32)
            i1, i2 = np.empty(a1.shape, np.int8), np.empty(batch * 16 * 4 * LANES, np.int8)
            pooled_convs(xs[groups], *weights, out[models], a1, i1, i2)
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
            pooled_convs_grads(xs[groups], w2, a1, i1, i2, out[models], grad_out[models], gw1, gb1, gw2, gb2)
            k = models.stop - models.start
            grads[0][models] = _from_lanes(gw1, (9, 2), k).permute(0, 2, 1).reshape(k, 2, 1, 3, 3)
            grads[1][models] = _from_lanes(gb1, (2,), k)
            grads[2][models] = _from_lanes(gw2, (9, 2, 4), k).permute(0, 3, 2, 1).reshape(k, 4, 2, 3, 3)
            grads[3][models] = _from_lanes(gb2, (4,), k)
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
