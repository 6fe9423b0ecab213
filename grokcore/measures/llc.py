"""Local learning coefficient λ̂ by SGLD around a trained point (App. D, §4.15), after nrimsky/devinterp."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from grokcore.ensemble import StackedNet, memory_order, two_hot_tokens
from grokcore.numerics import cpu_float32


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
    w_star = {name: p.detach().clone() for name, p in model.named_parameters()}
    w = {name: p.clone().requires_grad_(True) for name, p in w_star.items()}

    def losses(w, rows, with_grads=False):
        loss = loss_fn(functional_call(model, w, (x if rows is None else x[rows],)), y if rows is None else y[rows])
        return (loss, torch.autograd.grad(loss, list(w.values()))) if with_grads else loss

    estimates = _sgld(losses, w, w_star, len(x), n_steps, epsilon, gamma, batch_size, n_multiplier,
                      temp_multiplier, weight_decay, generator, model_axis=False)
    return estimates[0]


def local_learning_coefficients(
    task: str,
    thetas,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int = 10_000,
    epsilon: float = 1e-3,
    gamma: float = 1.0,
    batch_size: int = 512,
    n_multiplier: float = 1.0,
    temp_multiplier: float = 1.0,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> list[LLCEstimate]:
    """λ̂ of each model θ (model, param) of the task (mean cross entropy on x, y), all chains run as one stacked
    network: per model, the chain `local_learning_coefficient` runs from a generator in `generator`'s state.

    Each chain draws the same minibatches and noise from its own copy of the generator, so one draw per step
    serves them all; the numbers equal separate chains up to float round-off (stacked products, and for
    two-hot mod-add inputs the first layer as a column lookup, change the summation order).
    """
    net = StackedNet.from_theta(task, thetas).to(device)
    w_star = {name: p.detach().clone() for name, p in net.named_parameters()}
    w = dict(net.named_parameters())
    tokens = two_hot_tokens(x) if task == "modadd" else None
    inputs, y = (x if tokens is None else tokens).to(device), y.to(device)

    def losses(_w, rows, with_grads=False):
        x_rows, y_rows = (inputs, y) if rows is None else (inputs[rows], y[rows])
        if with_grads:  # autograd's numbers (mod-add's written out by hand); ce / rows is .mean's value on the CPU
            ce, _, grads = net.loss_grads(x_rows, y_rows.expand(net.n_models, -1), len(y_rows))
            return ce / len(y_rows), grads
        logits = net(x_rows)  # (model, row, class)
        ce = F.cross_entropy(logits.flatten(0, 1), y_rows.repeat(net.n_models), reduction="none")
        return ce.view(net.n_models, -1).mean(dim=1)

    return _sgld(losses, w, w_star, len(y), n_steps, epsilon, gamma, batch_size, n_multiplier, temp_multiplier,
                 weight_decay, generator, model_axis=True)


def _sgld(losses, w, w_star, n, n_steps, epsilon, gamma, batch_size, n_multiplier, temp_multiplier, weight_decay,
          generator, model_axis: bool) -> list[LLCEstimate]:
    """The SGLD chains of `local_learning_coefficient` for parameters w {name: tensor} (with a leading model axis
    if `model_axis`, every model moved by the same draws) around w_star; losses(w, rows) gives the mean loss
    (model,) or () on the rows (None: all of them), losses(w, rows, with_grads=True) that loss and the gradients
    of its sum over models with respect to w's tensors."""
    if n_steps < 4:
        raise ValueError(f"n_steps must be at least 4, got {n_steps!r}")
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    n_eff = n * n_multiplier
    nbeta = n_eff / math.log(n_eff) / temp_multiplier
    with torch.no_grad():
        init_loss = np.atleast_1d(losses(w_star, None).double().cpu().numpy())
    chain = np.empty((init_loss.size, n_steps))
    params = list(w.values())
    for step in range(n_steps):
        batch = torch.randint(n, (batch_size,), generator=generator)
        loss, grads = losses(w, batch.to(params[0].device), with_grads=True)
        chain[:, step] = loss.detach().cpu().numpy()
        with torch.no_grad():
            for (name, p), grad in zip(w.items(), grads, strict=True):
                noise = torch.randn(p.shape[1:] if model_axis else p.shape, generator=generator, dtype=p.dtype)
                sgld_move(p, w_star[name], grad, noise.to(p.device), epsilon, gamma, nbeta, weight_decay)
    return [LLCEstimate(float(nbeta * (c[n_steps // 4 :].mean() - init)), c, float(init))
            for c, init in zip(chain, init_loss, strict=True)]


def sgld_move(p: torch.Tensor, w_star: torch.Tensor, grad: torch.Tensor, noise: torch.Tensor, epsilon: float,
              gamma: float, nbeta: float, weight_decay: float) -> None:
    """One SGLD move of p in place: p += −(ε/2)·drift + √ε·noise, drift = γ(p − w*) + nβ(grad + wd·p), the
    quadratic terms' gradients written out rather than taped. p, w_star, grad (model, ...) or (...); noise
    (...), shared by the models. On the CPU one numba pass (the PyTorch expression below makes ten passes over
    p's size, a quarter of a stacked chain step), with the same float32 operations in the same order, so the
    same bits."""
    order = list(memory_order(p))  # for the kernel to walk p's memory once
    lead = p.ndim - noise.ndim  # 1 with a model axis
    if not cpu_float32(p, w_star, grad, noise) or order[:lead] != list(range(lead)):
        drift = gamma * (p - w_star) + nbeta * (grad + weight_decay * p)
        p.add_(-epsilon / 2 * drift + math.sqrt(epsilon) * noise)
        return
    views = [t.permute(order).contiguous() for t in (p, w_star, grad)]
    moved = views[0].view(-1, noise.numel())
    noise = noise.permute([d - lead for d in order[lead:]]).contiguous().view(-1)
    _sgld_move(moved.numpy(), *(v.view(moved.shape).numpy() for v in views[1:]), noise.numpy(),
               *(np.float32(c) for c in (gamma, nbeta, weight_decay, -epsilon / 2, math.sqrt(epsilon))))
    if views[0].data_ptr() != p.data_ptr():  # p was not laid out densely: the kernel moved a copy
        p.copy_(views[0].permute(np.argsort(order).tolist()))


@numba.njit(cache=True, error_model="numpy")
def _sgld_move(p, w_star, grad, noise, gamma, nbeta, weight_decay, half_step, noise_scale):
    """`sgld_move` on p, w_star, grad (model, size), noise (size,), the constants float32 as PyTorch rounds a
    Python number multiplying a float32 tensor."""
    for m in range(p.shape[0]):
        for j in range(p.shape[1]):
            x = p[m, j]
            drift = gamma * (x - w_star[m, j]) + nbeta * (grad[m, j] + weight_decay * x)
            p[m, j] = x + (half_step * drift + noise_scale * noise[j])
