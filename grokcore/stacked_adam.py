"""Adam for the stacked parameters of N models (spec §3.1): torch's fused kernel, each model stepped exactly as if
trained alone."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from grokcore.ensemble import memory_order

# torch's fused CPU Adam works through a tensor in cache-line units of 16 floats, vectorised, and takes its last
# size mod 8 or 16 elements (AVX2, AVX-512) in scalar code that rounds differently.
CACHE_LINE_FLOATS = 16


def _in_layout_of(p: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """grad laid out in memory like its parameter p, as autograd stores a parameter's .grad. Needed: torch's
    fused Adam on the CPU reads a gradient's memory in its parameter's order whatever the gradient's strides (2.13:
    the Ising convolutions' channels-last gradients gave wrong steps)."""
    return grad if grad.stride() == p.stride() else torch.empty_like(p).copy_(grad)


class _KernelLists(NamedTuple):
    """The fused kernel's arguments for one optimiser state, with the state they were taken from."""

    state: dict
    steps: list[torch.Tensor]  # one per leaf, incremented before each step
    params: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    kernel_steps: list[torch.Tensor]  # `steps`, repeated for a leaf handed over model by model


class StackedAdam:
    """torch.optim.Adam (coupled L2, fused) over parameters (model, ...) of N models.

    The fused kernel reads a parameter, its gradient and moments as flat storage, so all must share one dense
    layout: a parameter stored transposed (mod-add W_in, for its fast column lookup) is handed to Adam as a
    contiguous leaf sharing its storage, its gradient permuted alike. On the CPU, a leaf whose size per model is
    not a multiple of 16 floats goes to the kernel as one view per model: stacked, which model's elements fall in
    the kernel's scalar tail would depend on the number of models, and so would their bits. (On a GPU every element
    is treated alike.) `step` calls the kernel with the optimiser's state, Adam.step's arithmetic without its
    per-call Python.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, weight_decay: float):
        self.params, self.orders = params, [memory_order(p) for p in params]
        self.leaves = [p if p.is_contiguous() else nn.Parameter(p.detach().permute(order))
                       for p, order in zip(params, self.orders, strict=True)]
        self.n_models = params[0].shape[0]
        # fused: one pass over memory per step (about 3× faster than the default on the CPU), and load_state_dict
        # then keeps each step as a float32 tensor on its parameter's device, as the kernel takes it
        self.optimizer = torch.optim.Adam(self.leaves, lr=lr, weight_decay=weight_decay, fused=True)
        self._per_model_leaf = [leaf.device.type == "cpu" and leaf[0].numel() % CACHE_LINE_FLOATS != 0
                                for leaf in self.leaves]
        self._lists: _KernelLists | None = None

    def step(self, grads: list[torch.Tensor]) -> None:
        """One Adam step with `grads`, one per parameter (any memory layout)."""
        grads = [_in_layout_of(p, g) for p, g in zip(self.params, grads, strict=True)]
        leaf_grads = [g if leaf is p else g.permute(order)
                      for p, leaf, order, g in zip(self.params, self.leaves, self.orders, grads, strict=True)]
        if self._lists is None or self._lists.state is not self.optimizer.state:  # load_state_dict: a new dict
            self._lists = self._kernel_lists()
        lists = self._lists
        torch._foreach_add_(lists.steps, 1)
        # one group, coupled L2, no amsgrad or maximize; torch's private op, whose signature the locks pin (torch
        # 2.13), and tests/test_train.py compares the steps with Adam.step's
        group = self.optimizer.param_groups[0]
        torch._fused_adam_(lists.params, self._per_model(leaf_grads), lists.exp_avgs, lists.exp_avg_sqs, [],
                           lists.kernel_steps, lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1],
                           weight_decay=group["weight_decay"], eps=group["eps"], amsgrad=False, maximize=False)

    def _per_model(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """`tensors`, one (model, ...) per leaf, as the kernel takes them (views model by model where needed)."""
        return [piece for split, t in zip(self._per_model_leaf, tensors, strict=True)
                for piece in (t.unbind() if split else [t])]

    def _kernel_lists(self) -> _KernelLists:
        """The kernel's arguments, creating Adam's state as its first step does (zero moments, step 0) where there
        is none."""
        state = self.optimizer.state
        for leaf in self.leaves:
            if not state[leaf]:
                state[leaf].update(step=torch.zeros((), dtype=torch.float32, device=leaf.device),
                                   exp_avg=torch.zeros_like(leaf), exp_avg_sq=torch.zeros_like(leaf))
        steps = [state[leaf]["step"] for leaf in self.leaves]
        return _KernelLists(state, steps, self._per_model([leaf.detach() for leaf in self.leaves]),
                            *(self._per_model([state[leaf][key] for leaf in self.leaves])
                              for key in ("exp_avg", "exp_avg_sq")),
                            [step for split, step in zip(self._per_model_leaf, steps, strict=True)
                             for _ in range(self.n_models if split else 1)])

    def step_count(self) -> int:
        """Adam steps taken (0 before the first)."""
        state = self.optimizer.state.get(self.leaves[0], {})
        return int(state["step"]) if "step" in state else 0

    def moments(self) -> dict[str, torch.Tensor]:
        """exp_avg and exp_avg_sq (model, param), each model's parameters flattened in order (zeros before step 1)."""
        moments = {}
        for key in ("exp_avg", "exp_avg_sq"):
            parts = []
            for p, leaf, order in zip(self.params, self.leaves, self.orders, strict=True):
                state = self.optimizer.state.get(leaf, {})
                value = state[key].permute(np.argsort(order).tolist()) if key in state else torch.zeros_like(p)
                parts.append(value.detach().reshape(self.n_models, -1))
            moments[key] = torch.cat(parts, dim=1)
        return moments

    def load(self, exp_avg, exp_avg_sq, step: int) -> None:
        """Restore `moments()` (arrays (model, param)) and `step_count()`; step 0: no state, as before a step."""
        adam = {"state": {}, "param_groups": self.optimizer.state_dict()["param_groups"]}
        if step > 0:
            offset = 0
            for k, (p, order) in enumerate(zip(self.params, self.orders, strict=True)):
                size = p[0].numel()
                adam["state"][k] = {
                    key: torch.as_tensor(value[:, offset : offset + size]).reshape(p.shape).permute(order)
                    .contiguous().to(p.device)
                    for key, value in (("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq))
                }
                adam["state"][k]["step"] = torch.tensor(float(step))
                offset += size
        self.optimizer.load_state_dict(adam)
