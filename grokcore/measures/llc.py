"""Local learning coefficient λ̂ by SGLD around a trained point (App. D, §4.15), after nrimsky/devinterp."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.func import functional_call


class LLCEstimate(NamedTuple):
    """λ̂, the per-step minibatch losses of the chain (step,) and the full-data loss L_n(w*)."""

    llc: float
    chain_loss: np.ndarray
    init_loss: float


def local_learning_coefficient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
    n_steps: int = 10_000,
    epsilon: float = 1e-3,
    gamma: float = 1.0,
    batch_size: int = 512,
    n_multiplier: float = 1.0,
    temp_multiplier: float = 1.0,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
) -> LLCEstimate:
    """λ̂ = nβ·(mean minibatch loss over the last ¾ of an SGLD chain − L_n(w*)), nβ = n/log n (§4.15).

    model: the trained network at w* (left unchanged); x (sample, ...), y (sample, ...): the training set, n =
    its size × n_multiplier; β is further divided by temp_multiplier. Each step samples `batch_size` examples
    with replacement, records the loss at the current w, then moves w by
        −(ε/2)·∇_w[(γ/2)‖w − w*‖² + nβ·(L_batch(w) + (weight_decay/2)‖w‖²)] + N(0, ε)
    (lr = 1 on the scaled objective, as in devinterp). loss_fn(output, target) must return the mean loss;
    the default is mean cross entropy. All randomness comes from `generator` (default: seed 0).
    """
    if n_steps < 4:
        raise ValueError(f"n_steps must be at least 4, got {n_steps!r}")
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    n = len(x)
    n_eff = n * n_multiplier
    nbeta = n_eff / math.log(n_eff) / temp_multiplier
    w_star = {name: p.detach().clone() for name, p in model.named_parameters()}
    w = {name: p.clone().requires_grad_(True) for name, p in w_star.items()}
    with torch.no_grad():
        init_loss = float(loss_fn(functional_call(model, w_star, (x,)), y))
    chain = np.empty(n_steps)
    for step in range(n_steps):
        batch = torch.randint(n, (batch_size,), generator=generator)
        loss = loss_fn(functional_call(model, w, (x[batch],)), y[batch])
        chain[step] = float(loss.detach())
        grads = torch.autograd.grad(loss, list(w.values()))
        with torch.no_grad():
            for (name, p), grad in zip(w.items(), grads, strict=True):
                # the quadratic terms' gradients, γ(w − w*) and nβ·wd·w, written out rather than taped
                drift = gamma * (p - w_star[name]) + nbeta * (grad + weight_decay * p)
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                p.add_(-epsilon / 2 * drift + math.sqrt(epsilon) * noise.to(p.device))
    llc = nbeta * (chain[n_steps // 4 :].mean() - init_loss)
    return LLCEstimate(float(llc), chain, init_loss)
