"""Tests of the numba convolution stages of the stacked Ising CNN against PyTorch's convolutions and pooling."""

from __future__ import annotations

import pytest
import torch

from grokcore.ising_conv import blocks, conv_stage, conv_stage_torch
from grokcore.ising_kernels import LANES

SHAPES = ((2, 1, 3, 3), (2,), (4, 2, 3, 3), (4,))


def snapshots(batch: int, seed: int = 0) -> torch.Tensor:
    """Random ±1 snapshots (batch, 1, 16, 16); the first ones ordered (all +1), where pooling windows tie."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (batch, 1, 16, 16), generator=gen).float() * 2 - 1
    x[: max(1, batch // 4)] = 1.0
    return x


def stacked_params(n_models: int, seed: int = 1) -> list[torch.Tensor]:
    """conv1 and conv2 weights and biases (model, ...), scaled like α-multiplied initialisations, with grad."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.linspace(0.3, 3.0, n_models)
    return [(torch.randn(n_models, *shape, generator=gen) * scales.view(-1, *[1] * len(shape)) * 0.4)
            .requires_grad_() for shape in SHAPES]


@pytest.mark.parametrize("n_models", [1, 3, 8])
@pytest.mark.parametrize("batch", [1, 37])
def test_features_and_gradients_match_pytorch(n_models, batch):
    x, params = snapshots(batch), stacked_params(n_models)
    out, expected = conv_stage(x, *params), conv_stage_torch(x, *params)
    assert out.shape == (n_models, batch, 64)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    grads = torch.autograd.grad((out * weights).sum(), params)
    expected_grads = torch.autograd.grad((expected * weights).sum(), params)
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_tied_windows_pass_gradient_to_the_first_position_as_pytorch_does():
    # conv1 reading only its centre tap ties every window holding two +1 spins, while the patches around them
    # differ: conv1's other taps then get a gradient that depends on which tied position the pooling picked.
    x = snapshots(16)
    w1, b1, w2, b2 = stacked_params(2)
    with torch.no_grad():
        w1.zero_()
        w1[:, :, 0, 1, 1] = 1.0
        b1.fill_(0.1)
    params = [w1, b1, w2, b2]
    out, expected = conv_stage(x, *params), conv_stage_torch(x, *params)
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    grads = torch.autograd.grad((out * weights).sum(), params)
    for grad, want in zip(grads, torch.autograd.grad((expected * weights).sum(), params), strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-5)


def test_a_model_with_nan_weights_gives_nan_features_and_leaves_the_others_alone():
    x, params = snapshots(5), stacked_params(3)
    with torch.no_grad():
        params[0][1] = float("nan")
    out, expected = conv_stage(x, *params), conv_stage_torch(x, *params)
    assert torch.isnan(out[1]).all() and torch.isnan(expected[1]).all()
    torch.testing.assert_close(out[[0, 2]], expected[[0, 2]], rtol=1e-5, atol=1e-5)


def test_inputs_needing_their_own_gradient_take_the_pytorch_path():
    x, params = snapshots(4).requires_grad_(), stacked_params(2)
    (grad_x,) = torch.autograd.grad(conv_stage(x, *params).sum(), [x])
    (want,) = torch.autograd.grad(conv_stage_torch(x, *params).sum(), [x])
    torch.testing.assert_close(grad_x, want)


@pytest.mark.parametrize("groups", [2, 3])
def test_each_seed_group_reads_its_own_snapshots(groups):
    # 2 models per group; group g's models must see only x[g]: the same as running each group on its own x.
    xs = torch.stack([snapshots(9, seed=g) for g in range(groups)])
    params = stacked_params(2 * groups)
    out = conv_stage(xs, *params)
    torch.testing.assert_close(out, conv_stage_torch(xs, *params), rtol=1e-5, atol=1e-5)
    for g in range(groups):
        alone = conv_stage(xs[g], *[p[2 * g : 2 * g + 2] for p in params])
        torch.testing.assert_close(out[2 * g : 2 * g + 2], alone, rtol=0, atol=0)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    grads = torch.autograd.grad((out * weights).sum(), params)
    expected = torch.autograd.grad((conv_stage_torch(xs, *params) * weights).sum(), params)
    for grad, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_models_not_divisible_by_groups_are_refused():
    with pytest.raises(ValueError, match="5 models cannot be split evenly over 2"):
        conv_stage(torch.stack([snapshots(3), snapshots(3)]), *stacked_params(5))


@pytest.mark.parametrize("groups", [1, 3])
def test_features_without_gradients_equal_those_of_the_training_pass_bit_for_bit(groups):
    # Evaluation runs its own kernel (no picked positions kept); a NaN model must stay NaN and leave the rest alone.
    xs = torch.stack([snapshots(11, seed=g) for g in range(groups)])
    params = stacked_params(2 * groups)
    with torch.no_grad():
        params[2][1, 3, 1] = float("nan")
        evaluated = conv_stage(xs, *params)
    trained = conv_stage(xs, *params)
    assert trained.requires_grad and not evaluated.requires_grad
    assert torch.isnan(evaluated[1]).any()
    torch.testing.assert_close(evaluated, trained.detach(), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize(("groups", "per_group"), [(1, LANES + 3), (3, LANES // 2 - 2)])
def test_ensembles_larger_than_a_kernel_call_go_through_in_blocks(groups, per_group):
    # (1, LANES + 3): one group split over two calls; (3, ...): two whole groups in the first call, one in the next.
    xs = torch.stack([snapshots(5, seed=g) for g in range(groups)])
    params = stacked_params(groups * per_group)
    out = conv_stage(xs, *params)
    torch.testing.assert_close(out, conv_stage_torch(xs, *params), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(conv_stage(xs, *params), out.detach(), rtol=0, atol=0)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    grads = torch.autograd.grad((out * weights).sum(), params)
    expected = torch.autograd.grad((conv_stage_torch(xs, *params) * weights).sum(), params)
    for grad, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


@pytest.mark.parametrize(("n_models", "groups"), [(0, 1), (1, 1), (40, 5), (LANES, 1), (LANES + 6, 1), (90, 3),
                                                  (3 * LANES, 1), (2 * (LANES + 1), 2), (130, 130)])
def test_blocks_cover_every_model_once_with_its_own_groups_and_at_most_lanes_models(n_models, groups):
    per_group = n_models // groups
    seen = []
    for models, group_range in blocks(n_models, groups):
        count = models.stop - models.start
        assert 0 < count <= LANES
        # the block's models read its groups in order: whole groups, or a part of one
        block_groups = range(group_range.start, group_range.stop)
        assert [m // per_group for m in range(models.start, models.stop)] == sorted(
            g for g in block_groups for _ in range(count // len(block_groups)))
        seen.extend(range(models.start, models.stop))
    assert seen == list(range(n_models))
