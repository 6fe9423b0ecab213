"""The two networks (spec §1): the Ising CNN (6,798 parameters) and the mod-add MLP (174,193 parameters)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

TASKS = ("ising", "modadd")
P_MODADD = 113

# Flattened-parameter layout shared by θ and Fisher vectors (spec §1.3): tensor by tensor, weight then bias,
# each row-major. Names are the module attribute names below.
PARAM_SHAPES: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "ising": (
        ("conv1.weight", (2, 1, 3, 3)),
        ("conv1.bias", (2,)),
        ("conv2.weight", (4, 2, 3, 3)),
        ("conv2.bias", (4,)),
        ("fc1.weight", (100, 64)),
        ("fc1.bias", (100,)),
        ("fc2.weight", (2, 100)),
        ("fc2.bias", (2,)),
    ),
    "modadd": (
        ("fc_in.weight", (512, 2 * P_MODADD)),
        ("fc_in.bias", (512,)),
        ("fc_out.weight", (P_MODADD, 512)),
        ("fc_out.bias", (P_MODADD,)),
    ),
}


def check_task(task: str) -> str:
    """Return `task` if it is known, else raise a ValueError naming it."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


def check_groups(n_models: int, groups: int) -> None:
    """Raise a ValueError unless N stacked models split evenly over G input groups (model m reads group m // (N/G))."""
    if groups < 1 or n_models % groups:
        raise ValueError(f"{n_models} models cannot be split evenly over {groups} input groups")


def n_params(task: str) -> int:
    """Number of parameters D of the task's network."""
    return sum(math.prod(shape) for _, shape in PARAM_SHAPES[check_task(task)])


def param_tensor_names(task: str) -> np.ndarray:
    """Name of the parameter tensor of each flattened parameter, shape (param,)."""
    return np.concatenate(
        [np.full(math.prod(shape), name, dtype=object) for name, shape in PARAM_SHAPES[check_task(task)]]
    ).astype(str)


def is_weight(task: str) -> np.ndarray:
    """Boolean mask over the flattened parameters: True for weights, False for biases, shape (param,)."""
    return np.char.endswith(param_tensor_names(task), ".weight")


class IsingCNN(nn.Module):
    """conv(1→2,k3,p1)-ReLU-maxpool2 → conv(2→4,k3,p1)-ReLU-maxpool2 → FC 64→100-ReLU → FC 100→2 (spec §1.1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(2, 4, kernel_size=3, stride=1, padding=1)
        self.fc1 = nn.Linear(64, 100)
        self.fc2 = nn.Linear(100, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 2) of spin snapshots x (batch, 1, 16, 16)."""
        h = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


class ModAddMLP(nn.Module):
    """Two-hot (a, b) → Linear 226→512 → ReLU → Linear 512→113 logits over (a+b) mod 113 (spec §1.2)."""

    def __init__(self, p: int = P_MODADD, hidden: int = 512):
        super().__init__()
        self.fc_in = nn.Linear(2 * p, hidden)
        self.fc_out = nn.Linear(hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, p) of two-hot inputs x (batch, 2p)."""
        return self.fc_out(torch.relu(self.fc_in(x)))


def build_model(task: str) -> nn.Module:
    """An uninitialised-by-us network of the task (PyTorch's default init; use `init_theta` for ours)."""
    return IsingCNN() if check_task(task) == "ising" else ModAddMLP()


def init_theta(task: str, generator: torch.Generator) -> torch.Tensor:
    """Base initialisation θ_init (param,) before the weight multiplier, drawn from `generator` (spec §1.1-1.2).

    Ising: PyTorch's default, weights and biases ~ U(±1/√fan_in). Mod-add: Xavier-normal weights, zero biases.
    """
    shapes = dict(PARAM_SHAPES[check_task(task)])
    parts = []
    for name, shape in shapes.items():
        weight_shape = shapes[name.rsplit(".", 1)[0] + ".weight"]
        fan_in, fan_out = math.prod(weight_shape[1:]), weight_shape[0]
        if task == "ising":
            parts.append((torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(fan_in))
        elif name.endswith(".weight"):
            parts.append(torch.randn(shape, generator=generator) * math.sqrt(2.0 / (fan_in + fan_out)))
        else:
            parts.append(torch.zeros(shape))
    return torch.cat([p.flatten() for p in parts])


def flat_params(model: nn.Module) -> torch.Tensor:
    """θ (param,) of `model` in the layout of PARAM_SHAPES."""
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def load_flat(model: nn.Module, theta) -> nn.Module:
    """Copy θ (param,) into `model` in place and return it."""
    theta = torch.as_tensor(np.asarray(theta), dtype=torch.float32)
    torch.nn.utils.vector_to_parameters(theta, model.parameters())
    return model


def model_at(task: str, theta) -> nn.Module:
    """A fresh network of the task holding parameters θ (param,)."""
    return load_flat(build_model(task), theta)


def scaled_init(task: str, weight_multiplier: float, generator: torch.Generator) -> torch.Tensor:
    """θ(0) = α·θ_init: the weight multiplier applied to every parameter, biases included (spec §1)."""
    if not weight_multiplier > 0:
        raise ValueError(f"weight multiplier must be > 0, got {weight_multiplier!r}")
    return weight_multiplier * init_theta(task, generator)
