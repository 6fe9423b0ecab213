"""Stacked-parameter networks: N copies of IsingCNN / ModAddMLP evaluated in one pass on a shared input batch."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from grokcore.models import P_MODADD, PARAM_SHAPES, check_task, model_at


class StackedNet(nn.Module):
    """N networks of one task whose parameters carry a leading model axis: tensor `name` has shape (N, *shape).

    The parameters are registered in the order of PARAM_SHAPES under the same names ('conv1.weight', ...), so
    `theta()` has the flattened layout of `grokcore.models.flat_params`, model by model.
    """

    task: str

    def __init__(self, n_models: int):
        super().__init__()
        if not (isinstance(n_models, int) and n_models > 0):
            raise ValueError(f"n_models must be a positive int, got {n_models!r}")
        self.n_models = n_models
        for name, shape in PARAM_SHAPES[self.task]:
            layer, kind = name.split(".")
            if not hasattr(self, layer):
                self.add_module(layer, nn.Module())
            getattr(self, layer).register_parameter(kind, nn.Parameter(torch.zeros(n_models, *shape)))

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


def _linear(h: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Per-model dense layer: h (model, batch, in) → (model, batch, out) as one batched matmul."""
    return torch.baddbmm(layer.bias.unsqueeze(1), h, layer.weight.transpose(1, 2))


class StackedIsingCNN(StackedNet):
    """N IsingCNNs (spec §1.1). conv1 of all models is one convolution with 2N output channels and conv2 one
    grouped convolution (groups=N); activations stay channels_last, where CPU max-pooling is much faster."""

    task = "ising"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (model, batch, 2) of spin snapshots x (batch, 1, 16, 16), shared by all models."""
        n = self.n_models
        x = x.contiguous(memory_format=torch.channels_last)
        h = F.conv2d(x, self.conv1.weight.flatten(0, 1), self.conv1.bias.flatten(), padding=1)
        h = F.max_pool2d(torch.relu(h), 2)
        h = F.conv2d(h, self.conv2.weight.flatten(0, 1), self.conv2.bias.flatten(), padding=1, groups=n)
        h = F.max_pool2d(torch.relu(h), 2)
        # (batch, model·C, H, W) → (model, batch, C·H·W): the channel-major flatten of each model.
        h = h.reshape(h.shape[0], n, -1).transpose(0, 1)
        return _linear(torch.relu(_linear(h, self.fc1)), self.fc2)


class StackedModAddMLP(StackedNet):
    """N ModAddMLPs (spec §1.2). Takes two-hot rows (batch, 2p) or, faster, token pairs (batch, 2) int64.

    For token pairs (a, b) the first layer is the sum of columns a and p+b of W_in, which is exactly the dense
    product with the two-hot row (adding the row's zeros is exact).
    """

    task = "modadd"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (model, batch, p) of two-hot inputs x (batch, 2p) float, or of token pairs x (batch, 2) int."""
        w_in, b_in = self.fc_in.weight, self.fc_in.bias
        if x.dtype.is_floating_point:
            h = torch.baddbmm(b_in.unsqueeze(1), x.expand(self.n_models, -1, -1), w_in.transpose(1, 2))
        else:
            h = first_layer_tokens(w_in, b_in, x)
        return _linear(torch.relu(h), self.fc_out)


def first_layer_tokens(w_in: torch.Tensor, b_in: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """W_in·x + b_in (model, batch, hidden) for two-hot x given as token pairs tokens (batch, 2)."""
    p = w_in.shape[-1] // 2
    w_t = w_in.transpose(1, 2)  # (model, 2p, hidden)
    return w_t[:, tokens[:, 0]] + w_t[:, tokens[:, 1] + p] + b_in.unsqueeze(1)


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
