"""Tests of grokcore.measures._params: named views of flattened parameter vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokcore.measures._params import tensor_slices, unflatten
from grokcore.models import PARAM_SHAPES, TASKS, model_at, n_params


@pytest.mark.parametrize("task", TASKS)
def test_slices_tile_the_parameter_vector(task):
    spans = list(tensor_slices(task).values())
    assert spans[0].start == 0 and spans[-1].stop == n_params(task)
    assert all(a.stop == b.start for a, b in zip(spans, spans[1:], strict=False))
    assert [s.stop - s.start for s in spans] == [math.prod(shape) for _, shape in PARAM_SHAPES[task]]


@pytest.mark.parametrize("task", TASKS)
def test_unflatten_matches_the_model_parameters(task):
    theta = torch.randn(n_params(task), generator=torch.Generator().manual_seed(0))
    model = model_at(task, theta)
    named = unflatten(task, theta.numpy())
    for name, parameter in model.named_parameters():
        np.testing.assert_array_equal(named[name], parameter.detach().numpy())


@pytest.mark.parametrize("as_torch", [False, True])
def test_unflatten_is_vectorised_over_leading_axes(as_torch):
    theta = np.random.default_rng(1).normal(size=(2, 3, n_params("ising"))).astype(np.float32)
    batch = unflatten("ising", torch.as_tensor(theta) if as_torch else theta)
    single = unflatten("ising", theta[1, 2])
    for name, shape in PARAM_SHAPES["ising"]:
        assert tuple(batch[name].shape) == (2, 3) + shape
        np.testing.assert_array_equal(np.asarray(batch[name][1, 2]), single[name])


def test_unflatten_rejects_a_wrong_length():
    with pytest.raises(ValueError, match="6797"):
        unflatten("ising", np.zeros(6797))
