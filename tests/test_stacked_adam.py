"""Tests of StackedAdam against torch.optim.Adam stepping each model's parameters alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grokcore.stacked_adam import StackedAdam

# Per-model sizes 113, 15 and 18 leave a scalar tail in the fused kernel (15: all of it; with 16 models stacked,
# none), 512 = 32 cache lines does not. The tail rounds differently for about 0.2 % of the elements a step.
SHAPES = ((113,), (15,), (2, 9), (512,))
LR, WEIGHT_DECAY = 5e-3, 0.1


def stacked_params(n_models: int, seed: int = 0) -> list[nn.Parameter]:
    """Random parameters (model, ...), the last stored transposed as mod-add's W_in is."""
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(n_models, *shape, generator=gen)) for shape in SHAPES]
    w = torch.randn(n_models, 7, 16, generator=gen)
    return [*params, nn.Parameter(w.transpose(1, 2).contiguous().transpose(1, 2))]


def gradients(params: list[nn.Parameter], step: int) -> list[torch.Tensor]:
    """Gradients shaped like params, different at each step, with near-zero entries where Adam's rounding bites."""
    gen = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=gen) * torch.rand(p.shape, generator=gen) ** 4 for p in params]


def alone_adams(params: list[nn.Parameter]) -> tuple[list[nn.Parameter], torch.optim.Adam]:
    """Each model's parameters as contiguous leaves of their own, and torch's fused Adam over them."""
    leaves = [nn.Parameter(p.detach()[i].clone(memory_format=torch.contiguous_format))
              for i in range(params[0].shape[0]) for p in params]
    return leaves, torch.optim.Adam(leaves, lr=LR, weight_decay=WEIGHT_DECAY, fused=True)


@pytest.mark.parametrize("n_models", [1, 3, 16])
def test_each_model_steps_as_torch_adam_steps_it_alone_bit_for_bit(n_models):
    params = stacked_params(n_models)
    adam = StackedAdam(params, LR, WEIGHT_DECAY)
    leaves, reference = alone_adams(params)
    for step in range(20):
        grads = gradients(params, step)
        adam.step(grads)
        for leaf, grad in zip(leaves, [g[i] for i in range(n_models) for g in grads], strict=True):
            leaf.grad = grad.contiguous()
        reference.step()
    expected = [leaves[i * len(params) + k] for i in range(n_models) for k in range(len(params))]
    actual = [p.detach()[i] for i in range(n_models) for p in params]
    for got, want in zip(actual, expected, strict=True):
        assert torch.equal(got, want.detach())
    assert adam.step_count() == 20


def test_moments_and_step_count_resume_the_same_steps():
    straight, resumed = stacked_params(3), stacked_params(3)
    adam, first = StackedAdam(straight, LR, WEIGHT_DECAY), StackedAdam(resumed, LR, WEIGHT_DECAY)
    for step in range(2):
        adam.step(gradients(straight, step))
        first.step(gradients(resumed, step))
    moments = first.moments()
    assert moments["exp_avg"].shape == (3, sum(p[0].numel() for p in resumed))
    later = StackedAdam(resumed, LR, WEIGHT_DECAY)
    later.load(moments["exp_avg"].numpy(), moments["exp_avg_sq"].numpy(), first.step_count())
    for step in range(2, 5):
        adam.step(gradients(straight, step))
        later.step(gradients(resumed, step))
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)
    assert later.step_count() == 5


def test_a_load_replaces_the_state_the_next_step_reads():
    # The kernel's arguments are cached; loading step 0 after two steps must start Adam afresh.
    params, fresh = stacked_params(2), stacked_params(2)
    adam = StackedAdam(params, LR, WEIGHT_DECAY)
    for step in range(2):
        adam.step(gradients(params, step))
    with torch.no_grad():
        for p, q in zip(params, fresh, strict=True):
            p.copy_(q)
    zeros = torch.zeros(2, sum(p[0].numel() for p in params)).numpy()
    adam.load(zeros, zeros, 0)
    assert adam.step_count() == 0 and not adam.moments()["exp_avg"].any()
    new = StackedAdam(fresh, LR, WEIGHT_DECAY)
    adam.step(gradients(params, 7))
    new.step(gradients(fresh, 7))
    for p, q in zip(params, fresh, strict=True):
        assert torch.equal(p, q)
