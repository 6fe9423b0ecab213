"""Stacked-parameter networks: N copies of IsingCNN / ModAddMLP evaluated in one pass on a shared input batch."""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from grokcore.ising_conv import conv_stage
from grokcore.models import P_MODADD, PARAM_SHAPES, check_groups, check_task, model_at
from grokcore.numerics import cpu_float32
from grokcore.two_hot import TwoHotReLU, two_hot_relu, two_hot_relu_backward


class StackedNet(nn.Module):
    """N networks of one task whose parameters carry a leading model axis: tensor `name` has shape (N, *shape).

    The parameters are registered in the order of PARAM_SHAPES under the same names ('conv1.weight', ...), so
    `theta()` has the flattened layout of `grokcore.models.flat_params`, model by model.
    """

    task: str
    # Parameters kept in memory as their (model, in, out) transpose, for a contiguous column lookup.
    stored_transposed: tuple[str, ...] = ()

    def __init__(self, n_models: int):
        super().__init__()
        if not (isinstance(n_models, int) and n_models > 0):
            raise ValueError(f"n_models must be a positive int, got {n_models!r}")
        self.n_models = n_models
        for name, shape in PARAM_SHAPES[self.task]:
            layer, kind = name.split(".")
            if not hasattr(self, layer):
                self.add_module(layer, nn.Module())
            value = torch.zeros(n_models, *shape)
            if name in self.stored_transposed:
                value = torch.zeros(n_models, *shape[::-1]).transpose(1, 2)
            getattr(self, layer).register_parameter(kind, nn.Parameter(value))

    @staticmethod
    def from_theta(task: str, theta) -> StackedNet:
        """A stacked network of the task holding θ (model, param), one row per model."""
        theta = torch.as_tensor(np.asarray(theta), dtype=torch.float32)
        if theta.ndim != 2:
            raise ValueError(f"theta must have shape (model, param), got shape {tuple(theta.shape)}")
        net = STACKED_NETS[check_task(task)](theta.shape[0])
        net.load_theta(theta)
        return net

    def theta(self) -> torch.Tensor:
        """θ (model, param) in the layout of PARAM_SHAPES, detached."""
        return torch.cat([p.detach().reshape(self.n_models, -1) for p in self.parameters()], dim=1)

    @torch.no_grad()
    def load_theta(self, theta: torch.Tensor) -> None:
        """Copy θ (model, param) into the stacked parameters in place."""
        n_param = sum(math.prod(shape) for _, shape in PARAM_SHAPES[self.task])
        if tuple(theta.shape) != (self.n_models, n_param):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, expected (model, param) = ({self.n_models}, {n_param})"
            )
        offset = 0
        for p in self.parameters():
            size = p[0].numel()
            p.copy_(theta[:, offset : offset + size].reshape(p.shape))
            offset += size

    def member(self, i: int) -> nn.Module:
        """A standalone IsingCNN / ModAddMLP holding model i's current parameters (a copy)."""
        if not 0 <= i < self.n_models:
            raise ValueError(f"model index {i!r} out of range for {self.n_models} models")
        return model_at(self.task, self.theta()[i].cpu())

    def loss_grads(self, x: torch.Tensor, y: torch.Tensor, n_rows: int):
        """Summed cross entropy (model,) and logits (model, batch, class) of every model on its inputs x (as for
        forward), labels y (model, batch), with the gradients of Σ_models Σ_rows ce / n_rows, one per parameter
        in the order of `parameters()`. By autograd; a subclass may write the same numbers out by hand."""
        with torch.enable_grad():
            logits = self(x)
            ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
            ce = ce.view(self.n_models, -1).sum(dim=1)
            grads = torch.autograd.grad(ce.sum() / n_rows, list(self.parameters()))
        return ce.detach(), logits.detach(), list(grads)


def memory_order(t: torch.Tensor) -> tuple[int, ...]:
    """The dimension order in which `t` is laid out in memory (a stored-transposed parameter's is not 0, 1, 2):
    t.permute(order) is contiguous if t is dense."""
    return tuple(sorted(range(t.ndim), key=lambda d: -t.stride(d)))


def linear_grads(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, need_x: bool = True):
    """Gradients (∂x or None, ∂W, ∂b) of the per-model dense layer x (model, batch, in) → x·Wᵀ + b, W (model, out,
    in), from ∂logits `grad` (model, batch, out). Autograd's own backward of the batched product yields ∂W
    transposed and strided, which costs a copy into the parameter and a strided ReLU backward; these come out
    contiguous in their own layouts."""
    grad_x = torch.bmm(grad, weight) if need_x else None
    return grad_x, torch.bmm(grad.transpose(1, 2), x), grad.sum(dim=1)


def cross_entropy_grads(logits: torch.Tensor, y: torch.Tensor, n_rows: int):
    """Summed cross entropy (model,) of logits (model, batch, class) against labels y (model, batch), and its
    gradient ∂(Σ_models Σ_rows ce / n_rows)/∂logits (model, batch, class), by the kernels autograd runs for
    F.cross_entropy(reduction="none"), so with the same bits."""
    flat, target = logits.flatten(0, 1), y.flatten()
    log_p = torch.log_softmax(flat, dim=1)
    ce, total_weight = torch.ops.aten.nll_loss_forward(log_p, target, None, 0, -100)  # 0: reduction "none"
    per_row = torch.full_like(ce, 1.0).div_(n_rows)
    grad = torch.ops.aten.nll_loss_backward(per_row, log_p, target, None, 0, -100, total_weight)
    grad = torch.ops.aten._log_softmax_backward_data(grad, log_p, 1, logits.dtype)
    return ce.view(logits.shape[0], -1).sum(dim=1), grad.view_as(logits)


class _StackedLinear(torch.autograd.Function):
    """Per-model dense layer x (model, batch, in) → x·Wᵀ + b (model, batch, out), W (model, out, in), with the
    backward of `linear_grads`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        return linear_grads(grad, x, weight, ctx.needs_input_grad[0])


def output_logits(r: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Mod-add's logits r·Wᵀ + b (model, batch, out) of hidden activations r (model, batch, in), W (model, out, in).
    On the CPU with 16-128 rows computed as (W·rᵀ + b)ᵀ, which MKL multiplies faster for 113 outputs (0.92 → 0.75
    ms at 64 rows of 11 models, with the copy back to rows; an epoch 5 % faster; alike at 200 rows, slower at 512)
    and sums as baddbmm does (the same bits at 16-139 rows on the Intel Xeon measured, 2026-12-05; below 16, not).
    The forward and the hand-written backward pass both take their logits here, so that they agree bit for bit on
    any machine."""
    if r.device.type == "cpu" and 16 <= r.shape[1] <= 128:
        return torch.baddbmm(bias.unsqueeze(2), weight, r.transpose(1, 2)).transpose(1, 2).contiguous()
    return torch.baddbmm(bias.unsqueeze(1), r, weight.transpose(1, 2))


class _StackedOutput(_StackedLinear):
    """`_StackedLinear` with the logits of `output_logits` (mod-add's output layer)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return output_logits(x, weight, bias)


def _linear(h: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Per-model dense layer: h (model, batch, in) → (model, batch, out)."""
    return _StackedLinear.apply(h, layer.weight, layer.bias)


@numba.njit(cache=True, error_model="numpy")
def _add_bias_relu(out, bias):
    """out[m, i] = ReLU(out[m, i] + bias[m]) in place for out (model, batch, width), bias (model, width); ReLU as
    torch's: negative values to 0, a negative zero and NaN kept."""
    zero = np.float32(0.0)
    for m in range(out.shape[0]):
        for i in range(out.shape[1]):
            for k in range(out.shape[2]):
                v = out[m, i, k] + bias[m, k]
                out[m, i, k] = zero if v < 0 else v


class _StackedLinearReLU(torch.autograd.Function):
    """ReLU(x·Wᵀ + b) per model, x (model, batch, in), W (model, out, in): on the CPU the product, then bias and
    ReLU in one pass over its output. baddbmm would fill its output with the bias and read it back, and the ReLU
    pass over it again: Ising's fc1 over 1000 test snapshots of 40 models writes 16 MB (with its ReLU 5.6 →
    4.5 ms). The same bits where MKL (our torch builds' BLAS) adds the bias after the summed products, as for fc1's
    64 inputs (tested)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        if cpu_float32(x, weight, bias):
            out = torch.bmm(x, weight.transpose(1, 2))
            _add_bias_relu(out.numpy(), bias.detach().contiguous().numpy())
        else:
            out = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2)).relu_()
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight, out = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, out, 0)  # relu_'s backward, as autograd runs it
        return linear_grads(grad, x, weight, ctx.needs_input_grad[0])


class StackedIsingCNN(StackedNet):
    """N IsingCNNs (spec §1.1): the convolution stages of all models in one pass (`grokcore.ising_conv`), the
    dense layers as batched products."""

    task = "ising"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (model, batch, 2) of spin snapshots x (batch, 1, 16, 16) shared by all models, or x (G, batch, 1,
        16, 16) of G seed groups, models seed-major (model m reads x[m // (N/G)])."""
        h = conv_stage(x, self.conv1.weight, self.conv1.bias, self.conv2.weight, self.conv2.bias)
        return _linear(_StackedLinearReLU.apply(h, self.fc1.weight, self.fc1.bias), self.fc2)


class StackedModAddMLP(StackedNet):
    """N ModAddMLPs (spec §1.2). Takes two-hot rows (batch, 2p) or, faster, token pairs (batch, 2) int64, shared
    by all models, or those of G seed groups, (G, batch, 2p) or (G, batch, 2), models seed-major.

    For token pairs (a, b) the first layer is a lookup of columns a and p+b of W_in (`grokcore.two_hot`). W_in is
    stored as its (model, 2p, hidden) transpose, so that those columns are contiguous rows.
    """

    task = "modadd"
    stored_transposed = ("fc_in.weight",)

    def __init__(self, n_models: int):
        super().__init__(n_models)
        self.register_buffer("column_offset", torch.tensor([0, P_MODADD]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (model, batch, p) of two-hot inputs x ([G,] batch, 2p) float, or of token pairs x ([G,] batch, 2)
        int (model m reads group m // (N/G))."""
        w_in_t = self.fc_in.weight.transpose(1, 2)  # (model, 2p, hidden), contiguous
        x = x if x.ndim == 3 else x.unsqueeze(0)
        check_groups(self.n_models, x.shape[0])
        if x.dtype.is_floating_point:
            x = x.repeat_interleave(self.n_models // x.shape[0], dim=0) if x.shape[0] > 1 else x
            h = torch.baddbmm(self.fc_in.bias.unsqueeze(1), x.expand(self.n_models, -1, -1), w_in_t)
            return _StackedOutput.apply(torch.relu(h), self.fc_out.weight, self.fc_out.bias)
        r = TwoHotReLU.apply(w_in_t, self.fc_in.bias, x + self.column_offset)
        return _StackedOutput.apply(r, self.fc_out.weight, self.fc_out.bias)

    def loss_grads(self, x: torch.Tensor, y: torch.Tensor, n_rows: int):
        """`StackedNet.loss_grads`, for token pairs written out by hand: the same kernels as autograd through
        `forward`, so the same bits, without autograd's graph (a fifth of a step at 4 models)."""
        x = x if x.ndim == 3 else x.unsqueeze(0)
        if x.dtype.is_floating_point or self.n_models % x.shape[0]:
            return super().loss_grads(x, y, n_rows)
        w_in_t, w_out = self.fc_in.weight.detach().transpose(1, 2), self.fc_out.weight.detach()
        columns = x + self.column_offset
        r = two_hot_relu(w_in_t, self.fc_in.bias.detach(), columns)
        logits = output_logits(r, w_out, self.fc_out.bias.detach())
        ce, grad_logits = cross_entropy_grads(logits, y, n_rows)
        grad_r, grad_w_out, grad_b_out = linear_grads(grad_logits, r, w_out)
        grad_w_in_t, grad_b_in = two_hot_relu_backward(grad_r, r, columns, w_in_t.shape)
        return ce, logits, [grad_w_in_t.transpose(1, 2), grad_b_in, grad_w_out, grad_b_out]


def two_hot_tokens(x: torch.Tensor, p: int = P_MODADD) -> torch.Tensor | None:
    """Token pairs (batch, 2) int64 of two-hot rows x (batch, 2p), or None if x is not exactly two-hot."""
    if x.ndim != 2 or x.shape[1] != 2 * p:
        return None
    halves = x.reshape(x.shape[0], 2, p)
    tokens = halves.argmax(dim=2)
    if not torch.equal(F.one_hot(tokens, p).to(x.dtype), halves):
        return None
    return tokens


STACKED_NETS: dict[str, type[StackedNet]] = {"ising": StackedIsingCNN, "modadd": StackedModAddMLP}
