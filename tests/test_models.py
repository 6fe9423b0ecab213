"""Tests of the two networks: parameter counts, layout, initialisation and the weight multiplier."""

import math

import numpy as np
import pytest
import torch

from grokcore.models import (
    PARAM_SHAPES,
    build_model,
    check_groups,
    check_task,
    flat_params,
    init_theta,
    is_weight,
    model_at,
    n_params,
    param_tensor_names,
    scaled_init,
)


def test_parameter_counts_match_the_paper():
    assert n_params("ising") == 6798
    assert n_params("modadd") == 174193
    for task in ("ising", "modadd"):
        assert sum(p.numel() for p in build_model(task).parameters()) == n_params(task)


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_layout_matches_module_parameter_order(task):
    names = [name for name, _ in build_model(task).named_parameters()]
    assert names == [name for name, _ in PARAM_SHAPES[task]]
    tensor_names = param_tensor_names(task)
    assert tensor_names.shape == (n_params(task),)
    assert tensor_names[0] == names[0] and tensor_names[-1] == names[-1]
    assert is_weight(task).sum() == sum(math.prod(s) for n, s in PARAM_SHAPES[task] if n.endswith("weight"))


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_flat_round_trip(task):
    theta = init_theta(task, torch.Generator().manual_seed(1))
    assert torch.equal(flat_params(model_at(task, theta)), theta)


def test_ising_init_is_pytorch_default_uniform():
    theta = init_theta("ising", torch.Generator().manual_seed(0)).numpy()
    names = param_tensor_names("ising")
    for tensor, fan_in in [("conv1", 9), ("conv2", 18), ("fc1", 64), ("fc2", 100)]:
        values = theta[np.char.startswith(names, tensor)]
        assert np.abs(values).max() <= 1 / math.sqrt(fan_in)
        assert np.abs(values).max() > 0.8 / math.sqrt(fan_in)


def test_modadd_init_is_xavier_normal_with_zero_bias():
    theta = init_theta("modadd", torch.Generator().manual_seed(0)).numpy()
    names = param_tensor_names("modadd")
    assert np.all(theta[names == "fc_in.bias"] == 0) and np.all(theta[names == "fc_out.bias"] == 0)
    assert theta[names == "fc_in.weight"].std() == pytest.approx(math.sqrt(2 / (226 + 512)), rel=0.02)
    assert theta[names == "fc_out.weight"].std() == pytest.approx(math.sqrt(2 / (512 + 113)), rel=0.02)


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_weight_multiplier_scales_every_parameter(alpha):
    base = init_theta("ising", torch.Generator().manual_seed(3))
    scaled = scaled_init("ising", alpha, torch.Generator().manual_seed(3))
    torch.testing.assert_close(scaled, alpha * base)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_non_positive_weight_multiplier_is_refused(alpha):
    with pytest.raises(ValueError, match="weight multiplier"):
        scaled_init("modadd", alpha, torch.Generator())


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="'mnist'"):
        check_task("mnist")


def test_forward_shapes():
    assert build_model("ising")(torch.zeros(5, 1, 16, 16)).shape == (5, 2)
    assert build_model("modadd")(torch.zeros(5, 226)).shape == (5, 113)


@pytest.mark.parametrize(("n_models", "groups", "ok"), [(6, 1, True), (6, 3, True), (6, 4, False), (2, 0, False)])
def test_models_split_over_input_groups_only_evenly(n_models, groups, ok):
    if ok:
        check_groups(n_models, groups)
    else:
        with pytest.raises(ValueError, match=f"{n_models} models cannot be split evenly over {groups} input groups"):
            check_groups(n_models, groups)
