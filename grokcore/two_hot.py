"""The mod-add MLP's first layer and its ReLU on token pairs, ReLU(W_in·x + b) as a lookup of two columns of W_in
per row, for N stacked models: numba kernels on the CPU, PyTorch's index operations elsewhere (spec §1.2)."""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from grokcore.models import check_groups
from grokcore.numerics import cpu_float32

# Why numba: PyTorch's lookup makes five passes over the (model, row, hidden) activations (two gathers, their
# sum, the bias, the ReLU) and its backward three (ReLU mask, two scatters); at 11 models × 64 rows these are
# 1.4 MB each, beyond L2, and a tenth of a training step. The kernels make one pass each, with the same
# additions in the same order, so the same bits.


@numba.njit(cache=True, error_model="numpy")
def _row_columns(columns, grp, i, width):
    """Row i's columns (c0, c1) = (a, p+b) in group grp, one in each half of W_in's 2p = width columns, or an
    IndexError (the kernels index without bounds checks)."""
    c0, c1 = columns[grp, i, 0], columns[grp, i, 1]
    if not 0 <= c0 < width // 2 <= c1 < width:
        raise IndexError("a two-hot column is out of range")
    return c0, c1


@numba.njit(cache=True, error_model="numpy")
def _lookup_relu(w_in_t, bias, columns, r):
    """r[m, i] = ReLU(w_in_t[m, c0] + w_in_t[m, c1] + bias[m]) (summed in that order, as PyTorch's gathers and
    additions do) for row i's columns (c0, c1) = columns[m // A, i], A = N / G models per group. ReLU as torch's:
    negative values to 0, a negative zero and NaN kept."""
    n, batch, hidden = r.shape
    per_group, zero = n // columns.shape[0], np.float32(0.0)
    for m in range(n):
        for i in range(batch):
            c0, c1 = _row_columns(columns, m // per_group, i, w_in_t.shape[1])
            for k in range(hidden):
                v = w_in_t[m, c0, k] + w_in_t[m, c1, k] + bias[m, k]
                r[m, i, k] = zero if v < 0 else v


@numba.njit(cache=True, error_model="numpy")
def _rows_by_column(columns, width):
    """Each group's rows sorted by the columns they add into, in row order within a column (a counting sort):
    column c of group grp receives rows[grp, start[grp, c] : start[grp, c + 1]]; start (G, width + 1), rows
    (G, 2·batch)."""
    groups, batch = columns.shape[0], columns.shape[1]
    start, rows = np.zeros((groups, width + 1), np.int64), np.empty((groups, 2 * batch), np.int64)
    for grp in range(groups):
        for i in range(batch):
            for c in _row_columns(columns, grp, i, width):
                start[grp, c + 1] += 1
        for c in range(width):
            start[grp, c + 1] += start[grp, c]
        filled = start[grp, :width].copy()
        for i in range(batch):
            for c in (columns[grp, i, 0], columns[grp, i, 1]):
                rows[grp, filled[c]] = i
                filled[c] += 1
    return start, rows


@numba.njit(cache=True, error_model="numpy")
def _relu_scatter(grad_r, r, columns, grad_h, grad_w):
    """grad_h = grad_r where r > 0, else 0 (torch's ReLU backward, r ≤ 0 → 0), and grad_w (model, 2p, hidden),
    each column the sum of its rows' grad_h in row order from 0, as index_add_ into zeros adds them (a row's two
    columns are never the same, c0 < p ≤ c1, so index_add_'s two calls add each column's rows in row order). Written
    column by column, each element once: no zero-filled buffer read back, and a model's grad_h stays in cache
    (an epoch of 11 models 4-5 % faster than scattering rows into zeros, the same bits)."""
    n, batch, hidden = grad_r.shape
    per_group, zero = n // columns.shape[0], np.float32(0.0)
    start, rows = _rows_by_column(columns, grad_w.shape[1])
    for m in range(n):
        for i in range(batch):
            for k in range(hidden):
                grad_h[m, i, k] = zero if r[m, i, k] <= 0 else grad_r[m, i, k]
        grp = m // per_group
        for c in range(grad_w.shape[1]):
            out, first, end = grad_w[m, c], start[grp, c], start[grp, c + 1]
            if first == end:
                out[:] = zero
                continue
            g = grad_h[m, rows[grp, first]]
            for k in range(hidden):
                out[k] = zero + g[k]  # as into zeros: a -0 becomes +0
            for j in range(first + 1, end):
                g = grad_h[m, rows[grp, j]]
                for k in range(hidden):
                    out[k] += g[k]


def _check_shapes(n: int, columns: torch.Tensor, batch: int | None = None) -> None:
    """One clear line for inputs the kernels would read past: they index without bounds checks."""
    if columns.ndim != 3 or columns.shape[2] != 2 or (batch is not None and columns.shape[1] != batch):
        raise ValueError(f"columns must have shape (groups, {batch or 'batch'}, 2), got {tuple(columns.shape)}")
    check_groups(n, columns.shape[0])


def two_hot_relu(w_in_t: torch.Tensor, bias: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """ReLU(W_in·x + b) (model, batch, hidden) of two-hot rows x given by their columns (G, batch, 2) = (a, p+b),
    per seed group: ReLU(W_in[:, a] + W_in[:, p+b] + b), model m reading group m // (N/G). W_in is given as its
    transpose w_in_t (model, 2p, hidden) (no gradient is taped: see `TwoHotReLU`).

    The same numbers as the dense product (adding the row's zeros is exact) without its 226-wide matrix products.
    """
    n, width, hidden = w_in_t.shape
    _check_shapes(n, columns)
    if tuple(bias.shape) != (n, hidden):
        raise ValueError(f"bias must have shape (model, hidden) = ({n}, {hidden}), got {tuple(bias.shape)}")
    if cpu_float32(w_in_t, bias):
        r = w_in_t.new_empty(n, columns.shape[1], hidden)
        _lookup_relu(w_in_t.detach().numpy(), bias.detach().contiguous().numpy(), columns.contiguous().numpy(),
                     r.numpy())
        return r
    if columns.shape[0] == 1:  # one group: each model's own lookup along dim 1, 30 % faster than the flat one
        h = w_in_t.index_select(1, columns[0, :, 0])
        h += w_in_t.index_select(1, columns[0, :, 1])
        return torch.relu(h.add_(bias.unsqueeze(1)))
    rows = _flat_rows(columns, n, width)
    flat = w_in_t.reshape(n * width, hidden)
    h = flat.index_select(0, rows[0])
    h += flat.index_select(0, rows[1])
    return torch.relu(h.view(n, -1, hidden).add_(bias.unsqueeze(1)))


def two_hot_relu_backward(grad_r: torch.Tensor, r: torch.Tensor, columns: torch.Tensor, weight_shape: torch.Size):
    """Gradients (∂w_in_t (model, 2p, hidden), ∂b (model, hidden)) of `two_hot_relu`, whose output was r, from ∂r
    (model, batch, hidden): the ReLU's mask, then each row's gradient added into its two columns."""
    n, width, hidden = weight_shape
    _check_shapes(n, columns, batch=grad_r.shape[1])
    if tuple(grad_r.shape) != (n, columns.shape[1], hidden) or r.shape != grad_r.shape:
        raise ValueError(f"grad_r and r must have shape (model, batch, hidden) = ({n}, {columns.shape[1]}, {hidden}),"
                         f" got {tuple(grad_r.shape)} and {tuple(r.shape)}")
    if cpu_float32(grad_r, r):
        grad_w, grad_h = grad_r.new_empty(weight_shape), torch.empty_like(grad_r)
        _relu_scatter(grad_r.contiguous().numpy(), r.numpy(), columns.contiguous().numpy(), grad_h.numpy(),
                      grad_w.numpy())
        return grad_w, grad_h.sum(dim=1)
    grad_w = grad_r.new_zeros(weight_shape)
    grad_h = torch.ops.aten.threshold_backward(grad_r, r, 0)
    if columns.shape[0] == 1:
        grad_w.index_add_(1, columns[0, :, 0], grad_h).index_add_(1, columns[0, :, 1], grad_h)
        return grad_w, grad_h.sum(dim=1)
    rows, grad_flat = _flat_rows(columns, n, width), grad_h.reshape(-1, hidden)
    grad_w.view(n * width, hidden).index_add_(0, rows[0], grad_flat).index_add_(0, rows[1], grad_flat)
    return grad_w, grad_h.sum(dim=1)


def _flat_rows(columns: torch.Tensor, n: int, width: int) -> torch.Tensor:
    """Rows (2, model·batch) into W_inᵀ of all models flattened to (model·2p, hidden) for several groups' columns,
    so that every model reads its own rows."""
    offset = torch.arange(n, device=columns.device).view(n, 1, 1) * width
    return (columns.repeat_interleave(n // columns.shape[0], dim=0) + offset).permute(2, 0, 1).reshape(2, -1)


class TwoHotReLU(torch.autograd.Function):
    """`two_hot_relu` with the backward of `two_hot_relu_backward` (not differentiable twice); no gradient for the
    columns."""

    @staticmethod
    def forward(ctx, w_in_t: torch.Tensor, bias: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        r = two_hot_relu(w_in_t, bias, columns)
        ctx.weight_shape = w_in_t.shape
        ctx.save_for_backward(r, columns)
        return r

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        r, columns = ctx.saved_tensors
        return *two_hot_relu_backward(grad, r, columns, ctx.weight_shape), None
