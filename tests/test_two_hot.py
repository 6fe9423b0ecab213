"""Tests of the mod-add first layer as a column lookup (grokcore.two_hot): the CPU kernels against PyTorch's
index operations bit for bit, and both paths against the dense two-hot product."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from grokcore.models import P_MODADD
from grokcore.two_hot import TwoHotReLU, two_hot_relu, two_hot_relu_backward

HIDDEN = 512


def layer(n_models: int, groups: int, batch: int, dtype=torch.float32, seed: int = 0):
    """W_inᵀ (model, 2p, hidden), b (model, hidden), columns (groups, batch, 2) = (a, p+b) and ∂r."""
    gen = torch.Generator().manual_seed(seed)
    w_in_t = torch.randn(n_models, 2 * P_MODADD, HIDDEN, generator=gen, dtype=dtype)
    bias = torch.randn(n_models, HIDDEN, generator=gen, dtype=dtype)
    a, b = torch.randint(0, P_MODADD, (2, groups, batch), generator=gen)
    grad = torch.randn(n_models, batch, HIDDEN, generator=gen, dtype=dtype)
    return w_in_t, bias, torch.stack([a, b + P_MODADD], dim=2), grad


def by_index_ops(w_in_t, bias, columns, grad):
    """The layer, its ReLU and their backward by PyTorch's gathers and scatters, model by model."""
    n, per_group = w_in_t.shape[0], w_in_t.shape[0] // columns.shape[0]
    r, grad_w, grad_b = [], torch.zeros_like(w_in_t), []
    for m in range(n):
        c = columns[m // per_group]
        h = w_in_t[m].index_select(0, c[:, 0])
        h += w_in_t[m].index_select(0, c[:, 1])
        r.append(torch.relu(h.add_(bias[m])))
        grad_h = torch.ops.aten.threshold_backward(grad[m], r[m], 0)
        grad_w[m].index_add_(0, c[:, 0], grad_h).index_add_(0, c[:, 1], grad_h)
        grad_b.append(grad_h.sum(dim=0))
    return torch.stack(r), grad_w, torch.stack(grad_b)


@pytest.mark.parametrize(("n_models", "groups", "batch"), [(1, 1, 1), (4, 1, 64), (6, 2, 37), (6, 3, 100)])
def test_cpu_kernels_give_the_index_operations_bits(n_models, groups, batch):
    w_in_t, bias, columns, grad = layer(n_models, groups, batch)
    for cell in (w_in_t[0, columns[0, 0, 0], :2], w_in_t[0, columns[0, 0, 1], :2], bias[0, :2]):
        cell.copy_(torch.tensor([-0.0, 0.0]))  # row 0 of model 0: -0.0 and 0.0 before the ReLU, which keeps the sign
    bias[-1, 2:5] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    r = two_hot_relu(w_in_t, bias, columns)
    grad[:, 0][r[:, 0] > 0] = -0.0  # row 0's gradient -0 where it passes the ReLU: index_add_ into zeros gives +0
    grad_w, grad_b = two_hot_relu_backward(grad, r, columns, w_in_t.shape)
    for ours, ref in zip((r, grad_w, grad_b), by_index_ops(w_in_t, bias, columns, grad), strict=True):
        assert torch.equal(torch.signbit(ours), torch.signbit(ref))
        torch.testing.assert_close(ours, ref, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # float64: PyTorch's path, as on a GPU
@pytest.mark.parametrize("groups", [1, 2])
def test_lookup_and_its_gradient_equal_the_dense_two_hot_product(dtype, groups):
    w_in_t, bias, columns, grad = layer(4, groups, 23, dtype)
    w_in_t.requires_grad_(True)
    bias.requires_grad_(True)
    r = TwoHotReLU.apply(w_in_t, bias, columns)
    (r * grad).sum().backward()
    ours = (r.detach(), w_in_t.grad.clone(), bias.grad.clone())
    w_in_t.grad = bias.grad = None
    x = (F.one_hot(columns[..., 0], 2 * P_MODADD) + F.one_hot(columns[..., 1], 2 * P_MODADD)).to(dtype)
    dense = torch.relu(torch.baddbmm(bias.unsqueeze(1), x.repeat_interleave(4 // groups, dim=0), w_in_t))
    (dense * grad).sum().backward()
    for value, ref in zip(ours, (dense.detach(), w_in_t.grad, bias.grad), strict=True):
        torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("column", [-1, 5, 2 * P_MODADD])  # 5: b's column in a's half of W_in
def test_a_column_out_of_range_is_refused_not_read(column):
    w_in_t, bias, columns, grad = layer(2, 1, 5)
    columns[0, 3, 1] = column
    with pytest.raises(IndexError, match="out of range"):
        two_hot_relu(w_in_t, bias, columns)
    with pytest.raises(IndexError, match="out of range"):
        two_hot_relu_backward(grad, torch.ones_like(grad), columns, w_in_t.shape)


@pytest.mark.parametrize(("n_models", "groups"), [(4, 1), (4, 2), (6, 3)])
def test_cpu_kernels_give_the_gpu_paths_bits(n_models, groups, monkeypatch):
    # The PyTorch path (a GPU's) taken on the CPU in float32: the same numbers as the kernels, bit for bit.
    w_in_t, bias, columns, grad = layer(n_models, groups, 64)
    r = two_hot_relu(w_in_t, bias, columns)
    kernels = (r, *two_hot_relu_backward(grad, r, columns, w_in_t.shape))
    monkeypatch.setattr("grokcore.two_hot.cpu_float32", lambda *tensors: False)
    r = two_hot_relu(w_in_t, bias, columns)
    index_ops = (r, *two_hot_relu_backward(grad, r, columns, w_in_t.shape))
    assert all(torch.equal(a, b) for a, b in zip(kernels, index_ops, strict=True))


@pytest.mark.parametrize(("bad", "message"), [("groups", "cannot be split evenly over 3 input groups"),
                                              ("bias", "bias must have shape"), ("batch", "columns must have shape")])
def test_mismatched_shapes_are_refused_in_one_line(bad, message):
    w_in_t, bias, columns, grad = layer(4, 1, 7)
    if bad == "groups":
        columns = columns.expand(3, -1, -1)
    elif bad == "bias":
        bias = bias[:1]
    with pytest.raises(ValueError, match=message):
        if bad == "batch":
            two_hot_relu_backward(grad[:, :5], grad[:, :5], columns, w_in_t.shape)
        else:
            two_hot_relu(w_in_t, bias, columns)
