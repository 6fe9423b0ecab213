"""Tests of the stacked-parameter networks against the single-model networks of grokcore.models."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from grokcore.ensemble import StackedNet, memory_order, output_logits, two_hot_tokens
from grokcore.ising_conv import conv_stage
from grokcore.models import P_MODADD, PARAM_SHAPES, IsingCNN, ModAddMLP, flat_params, init_theta, model_at

ALPHAS = (0.5, 1.0, 3.0)


def stacked_theta(task: str, seed: int = 0) -> torch.Tensor:
    """θ (model, param): independent base inits scaled by ALPHAS."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([alpha * init_theta(task, gen) for alpha in ALPHAS])


def inputs(task: str, batch: int, seed: int = 1) -> torch.Tensor:
    """Random ±1 snapshots (batch, 1, 16, 16) or two-hot rows (batch, 226)."""
    gen = torch.Generator().manual_seed(seed)
    if task == "ising":
        return torch.randint(0, 2, (batch, 1, 16, 16), generator=gen).float() * 2 - 1
    a, b = torch.randint(0, P_MODADD, (2, batch), generator=gen)
    return torch.cat([F.one_hot(a, P_MODADD), F.one_hot(b, P_MODADD)], dim=1).float()


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_parameters_have_stacked_shapes_and_names(task):
    net = StackedNet.from_theta(task, stacked_theta(task))
    names_shapes = [(name, tuple(p.shape)) for name, p in net.named_parameters()]
    assert names_shapes == [(name, (len(ALPHAS), *shape)) for name, shape in PARAM_SHAPES[task]]
    assert all(isinstance(p, torch.nn.Parameter) for p in net.parameters())


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_theta_round_trip_is_exact(task):
    theta = stacked_theta(task)
    assert torch.equal(StackedNet.from_theta(task, theta).theta(), theta)
    assert torch.equal(StackedNet.from_theta(task, theta.numpy()).theta(), theta)


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_member_is_the_single_model_at_its_theta(task):
    theta = stacked_theta(task)
    net = StackedNet.from_theta(task, theta)
    for i in range(len(ALPHAS)):
        member = net.member(i)
        assert isinstance(member, IsingCNN if task == "ising" else ModAddMLP)
        assert torch.equal(flat_params(member), theta[i])


@pytest.mark.parametrize("task", ["ising", "modadd"])
@pytest.mark.parametrize("batch", [1, 37])
def test_forward_matches_each_member(task, batch):
    theta, x = stacked_theta(task), inputs(task, batch)
    logits = StackedNet.from_theta(task, theta)(x)
    expected = torch.stack([model_at(task, theta[i])(x) for i in range(len(ALPHAS))])
    assert logits.shape == expected.shape == (len(ALPHAS), batch, 2 if task == "ising" else P_MODADD)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("task", "as_tokens"), [("ising", False), ("modadd", False), ("modadd", True)])
def test_gradient_of_summed_losses_is_each_members_gradient(task, as_tokens):
    theta, x = stacked_theta(task), inputs(task, 23)
    y = torch.arange(23) % (2 if task == "ising" else P_MODADD)
    net = StackedNet.from_theta(task, theta)
    logits = net(two_hot_tokens(x) if as_tokens else x)
    sum(F.cross_entropy(logits[i], y) for i in range(len(ALPHAS))).backward()
    stacked_grad = torch.cat([p.grad.reshape(len(ALPHAS), -1) for p in net.parameters()], dim=1)
    for i in range(len(ALPHAS)):
        member = model_at(task, theta[i])
        F.cross_entropy(member(x), y).backward()
        grad = torch.cat([p.grad.flatten() for p in member.parameters()])
        torch.testing.assert_close(stacked_grad[i], grad, rtol=1e-5, atol=1e-6)


def test_modadd_token_input_equals_two_hot_input():
    theta, x = stacked_theta("modadd"), inputs("modadd", 50)
    net = StackedNet.from_theta("modadd", theta)
    torch.testing.assert_close(net(two_hot_tokens(x)), net(x), rtol=1e-6, atol=1e-6)


def test_two_hot_tokens_recovers_the_pair():
    a, b = torch.tensor([0, 5, 112]), torch.tensor([112, 5, 0])
    x = torch.cat([F.one_hot(a, P_MODADD), F.one_hot(b, P_MODADD)], dim=1).float()
    assert torch.equal(two_hot_tokens(x), torch.stack([a, b], dim=1))


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(3, 2 * P_MODADD),  # no ones
        torch.ones(3, 2 * P_MODADD),  # all ones
        torch.zeros(3, 2 * P_MODADD + 1),  # wrong width
        torch.zeros(3, 1, 16, 16),  # not a matrix
    ],
)
def test_two_hot_tokens_rejects_other_inputs(x):
    assert two_hot_tokens(x) is None


def test_two_hot_tokens_rejects_a_scaled_row():
    x = inputs("modadd", 4)
    x[2] *= 2
    assert two_hot_tokens(x) is None


@pytest.mark.parametrize("shape", [(6798,), (2, 6797), (2, 3, 6798)])
def test_from_theta_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        StackedNet.from_theta("ising", torch.zeros(shape))


def test_from_theta_rejects_unknown_task():
    with pytest.raises(ValueError, match="'mnist'"):
        StackedNet.from_theta("mnist", torch.zeros(2, 10))


@pytest.mark.parametrize("index", [-1, 3])
def test_member_rejects_out_of_range_index(index):
    net = StackedNet.from_theta("ising", stacked_theta("ising"))
    with pytest.raises(ValueError, match=str(index)):
        net.member(index)


@pytest.mark.parametrize(("task", "as_tokens"), [("ising", False), ("modadd", False), ("modadd", True)])
def test_each_seed_group_reads_its_own_inputs(task, as_tokens):
    # 2 groups × 2 models: models 0, 1 read x[0] and models 2, 3 read x[1], values and gradients as alone.
    gen = torch.Generator().manual_seed(5)
    theta = torch.stack([alpha * init_theta(task, gen) for alpha in (0.5, 2.0, 1.0, 3.0)])
    xs = torch.stack([inputs(task, 19, seed=g) for g in range(2)])
    y = torch.arange(19) % (2 if task == "ising" else P_MODADD)
    net = StackedNet.from_theta(task, theta)
    logits = net(torch.stack([two_hot_tokens(x) for x in xs]) if as_tokens else xs)
    F.cross_entropy(logits.flatten(0, 1), y.repeat(4), reduction="sum").backward()
    stacked_grad = torch.cat([p.grad.reshape(4, -1) for p in net.parameters()], dim=1)
    for m in range(4):
        member = model_at(task, theta[m])
        torch.testing.assert_close(logits[m], member(xs[m // 2]), rtol=1e-5, atol=1e-5)
        F.cross_entropy(member(xs[m // 2]), y, reduction="sum").backward()
        grad = torch.cat([p.grad.flatten() for p in member.parameters()])
        torch.testing.assert_close(stacked_grad[m], grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_models_not_divisible_by_input_groups_are_refused(task):
    net = StackedNet.from_theta(task, stacked_theta(task))
    with pytest.raises(ValueError, match="3 models cannot be split evenly over 2 input groups"):
        net(torch.stack([inputs(task, 4), inputs(task, 4)]))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("n_rows", [19, 64])
def test_hand_written_modadd_pass_gives_autograds_bits(groups, n_rows):
    # For token pairs StackedModAddMLP writes forward and backward out by hand; StackedNet's loss_grads (autograd
    # through forward) is the reference, bit for bit, for one input group and for several.
    gen = torch.Generator().manual_seed(3)
    theta = torch.stack([alpha * init_theta("modadd", gen) for alpha in (0.5, 2.0, 1.0, 3.0)])
    x = torch.stack([two_hot_tokens(inputs("modadd", 19, seed=g)) for g in range(groups)])
    y = torch.randint(0, P_MODADD, (4, 19), generator=gen)
    net = StackedNet.from_theta("modadd", theta)
    ce, logits, grads = net.loss_grads(x, y, n_rows)
    ce_ref, logits_ref, grads_ref = StackedNet.loss_grads(net, x, y, n_rows)
    assert torch.equal(ce, ce_ref) and torch.equal(logits, logits_ref)
    assert [g.shape for g in grads] == [p.shape for p in net.parameters()]
    assert all(torch.equal(g, ref) for g, ref in zip(grads, grads_ref, strict=True))


def test_memory_order_names_a_stored_transposed_parameters_layout():
    net = StackedNet.from_theta("modadd", stacked_theta("modadd"))
    assert memory_order(net.fc_out.weight) == (0, 1, 2)
    assert memory_order(net.fc_in.weight) == (0, 2, 1)  # W_in lives as its (model, 2p, hidden) transpose
    assert net.fc_in.weight.permute(memory_order(net.fc_in.weight)).is_contiguous()


@pytest.mark.parametrize("batch", [5, 300])
def test_ising_fc1_fused_with_its_relu_gives_baddbmm_and_relus_bits(batch):
    # fc1's product, then bias and ReLU in one pass: the numbers of baddbmm and an in-place ReLU, with their
    # gradients (a model with NaN weights included: its NaNs kept, its neighbours untouched).
    theta = stacked_theta("ising")
    theta[1, 200] = float("nan")  # one of fc1's weights
    net, x = StackedNet.from_theta("ising", theta), inputs("ising", batch)
    logits = net(x)
    h = conv_stage(x, net.conv1.weight, net.conv1.bias, net.conv2.weight, net.conv2.bias)
    hidden = torch.baddbmm(net.fc1.bias.unsqueeze(1), h, net.fc1.weight.transpose(1, 2)).relu_()
    expected = torch.baddbmm(net.fc2.bias.unsqueeze(1), hidden, net.fc2.weight.transpose(1, 2))
    assert torch.isnan(logits[1]).all() and torch.equal(logits[[0, 2]], expected[[0, 2]])
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(6))
    grads = torch.autograd.grad((logits[[0, 2]] * weights[[0, 2]]).sum(), list(net.parameters()))
    wanted = torch.autograd.grad((expected[[0, 2]] * weights[[0, 2]]).sum(), list(net.parameters()))
    for grad, want in zip(grads, wanted, strict=True):  # model 1's are NaN (zero gradients times NaN weights)
        torch.testing.assert_close(grad, want, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("rows", [1, 15, 16, 64, 128, 129, 512])  # both forms of the product, and their edges
def test_output_logits_are_the_layers_product_in_row_layout(rows):
    gen = torch.Generator().manual_seed(7)
    r = torch.relu(torch.randn(11, rows, 512, generator=gen))
    weight, bias = torch.randn(11, P_MODADD, 512, generator=gen) * 0.05, torch.randn(11, P_MODADD, generator=gen)
    logits = output_logits(r, weight, bias)
    assert logits.is_contiguous()
    torch.testing.assert_close(logits, torch.baddbmm(bias.unsqueeze(1), r, weight.transpose(1, 2)),
                               rtol=1e-6, atol=1e-6)
