"""Tests of grokcore.measures.pruning: magnitude pruning (§4.5), compressibility (Eq. 5), Fisher pruning (§4.13)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grokcore.measures._params import tensor_slices
from grokcore.measures.pruning import (
    DEFAULT_FRACTIONS,
    SCHEMES,
    _two_hot_columns,
    compressibility,
    evaluate_thetas,
    fisher_order,
    fisher_pruning_curve,
    fraction_counts,
    magnitude_order,
    prunable_tensors,
    prune,
    pruning_curve,
)
from grokcore.models import init_theta, is_weight, model_at, n_params

GEN = torch.Generator().manual_seed(0)
THETA = init_theta("ising", GEN).numpy()
X = torch.sign(torch.randn(48, 1, 16, 16, generator=GEN))
Y = torch.randint(0, 2, (48,), generator=GEN)
SPANS = tensor_slices("ising")
LAYER_OPTIONS = [(scheme, "fc1.weight" if scheme == "layer" else None) for scheme in SCHEMES]


def _direct_metrics(theta):
    with torch.no_grad():
        logits = model_at("ising", theta)(X)
    return torch.nn.functional.cross_entropy(logits, Y).item(), (logits.argmax(1) == Y).double().mean().item()


def test_evaluate_thetas_matches_the_model_forward():
    thetas = np.stack([THETA, 2 * THETA, -THETA])
    loss, acc = evaluate_thetas("ising", thetas, X, Y)
    for k, theta in enumerate(thetas):
        np.testing.assert_allclose((loss[k], acc[k]), _direct_metrics(theta), rtol=1e-5)


@pytest.mark.parametrize("include_biases", [False, True])
@pytest.mark.parametrize(("scheme", "layer"), LAYER_OPTIONS)
def test_pruning_nothing_changes_nothing(scheme, layer, include_biases):
    curve = pruning_curve("ising", THETA, X, Y, [0.0, 0.5], scheme, layer, include_biases)
    order = magnitude_order("ising", THETA, scheme, layer, include_biases)
    np.testing.assert_array_equal(prune(THETA, order, np.zeros((1, order.group_size.size), int))[0], THETA)
    assert curve.count[0] == 0
    np.testing.assert_allclose((curve.loss[0], curve.acc[0]), _direct_metrics(THETA), rtol=1e-5)


@pytest.mark.parametrize("include_biases", [False, True])
@pytest.mark.parametrize("scheme", ["per_layer", "global", "global_normalised"])
def test_pruning_everything_zeroes_every_prunable_tensor(scheme, include_biases):
    order = magnitude_order("ising", THETA, scheme, None, include_biases)
    pruned = prune(THETA, order, order.group_size[None, :])[0]
    weights = is_weight("ising")
    assert not pruned[weights].any()
    if include_biases:
        assert not pruned.any()
    else:
        np.testing.assert_array_equal(pruned[~weights], THETA[~weights])


@pytest.mark.parametrize("layer", prunable_tensors("ising", include_biases=True))
def test_pruning_all_of_one_layer_zeroes_only_that_layer(layer):
    order = magnitude_order("ising", THETA, "layer", layer, include_biases=True)
    pruned = prune(THETA, order, order.group_size[None, :])[0]
    inside = np.zeros(THETA.size, bool)
    inside[SPANS[layer]] = True
    assert not pruned[inside].any()
    np.testing.assert_array_equal(pruned[~inside], THETA[~inside])


def test_per_layer_counts_floor_each_tensor_without_round_off():
    curve = pruning_curve("ising", THETA, X, Y, [0.29, 1.0], "per_layer")
    sizes = [18, 72, 6400, 200]
    assert curve.count.tolist() == [sum(29 * n // 100 for n in sizes), sum(sizes)]


def _two_scale_theta():
    theta = np.ones(n_params("ising"))
    theta[SPANS["fc1.weight"]] = np.linspace(1, 2, 6400) * 1000  # a large-scale layer
    theta[SPANS["fc2.weight"]] = np.linspace(1, 2, 200)
    return theta


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("per_layer", {"conv1.weight": 9, "conv2.weight": 36, "fc1.weight": 3200, "fc2.weight": 100}),
        # global |w|: the conv weights (1.0) tie with fc2's first and go first by index, then fc2, then fc1
        ("global", {"conv1.weight": 18, "conv2.weight": 72, "fc1.weight": 3345 - 290, "fc2.weight": 200}),
        # |w|/‖W_l‖ is smallest in the large fc1 layer, which holds more than half of the weights
        ("global_normalised", {"conv1.weight": 0, "conv2.weight": 0, "fc1.weight": 3345, "fc2.weight": 0}),
    ],
)
def test_schemes_rank_differently(scheme, expected):
    theta = _two_scale_theta()
    order = magnitude_order("ising", theta, scheme)
    pruned = prune(theta, order, fraction_counts(order, [0.5]))[0] == 0
    assert {name: int(pruned[SPANS[name]].sum()) for name in expected} == expected
    assert not pruned[~is_weight("ising")].any()


def test_ties_are_pruned_in_index_order():
    order = magnitude_order("ising", np.ones(n_params("ising")), "layer", "fc2.weight")
    span = SPANS["fc2.weight"]
    np.testing.assert_array_equal(order.rank[span], np.arange(200))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scheme": "random"}, "random"), ({"scheme": "layer"}, "layer=None"),
     ({"scheme": "layer", "layer": "fc1.bias"}, "fc1.bias"), ({"layer": "fc1.weight"}, "per_layer")],
)
def test_bad_scheme_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        magnitude_order("ising", THETA, **kwargs)


GRID = np.linspace(0, 1, 101)


@pytest.mark.parametrize("p_star", [0.3, 0.5, 0.96])
def test_step_curve_gives_one_over_one_minus_p_star(p_star):
    # with the jump's grid point at half height the trapezoid rule integrates the step exactly
    acc = np.where(GRID < p_star, 1.0, 0.0)
    acc[np.isclose(GRID, p_star)] = 0.5
    assert compressibility(GRID, acc) == pytest.approx(1 / (1 - p_star))
    plain_step = np.where(GRID < p_star - 1e-9, 1.0, 0.0)
    assert compressibility(GRID, plain_step) == pytest.approx(1 / (1 - p_star), rel=0.3)


@pytest.mark.parametrize(
    ("top", "bottom", "variant", "chance", "expected"),
    [(0.8, 0.0, "normalised", None, 1 / (1 - 0.5)), (0.8, 0.0, "raw", None, 1 / (1 - 0.4)),
     (1.0, 0.5, "chance", 0.5, 1 / (1 - 0.5)), (1.0, 0.5, "normalised", None, 1 / (1 - 0.75))],
)
def test_compressibility_variants(top, bottom, variant, chance, expected):
    acc = np.where(GRID < 0.5, top, bottom)
    acc[50] = (top + bottom) / 2
    assert compressibility(GRID, acc, variant, chance) == pytest.approx(expected)


def test_compressibility_guards_and_vectorisation():
    acc = np.stack([np.zeros(101), np.ones(101), np.where(GRID < 0.5, 1.0, 0.0)])
    c = compressibility(GRID, acc[None])
    assert c.shape == (1, 3)
    assert np.isnan(c[0, 0]) and np.isinf(c[0, 1]) and c[0, 2] == pytest.approx(2.0, rel=0.02)


@pytest.mark.parametrize(
    ("fractions", "kwargs", "message"),
    [(np.linspace(0.1, 1, 5), {}, "increase"), (GRID, {"variant": "chance"}, "chance=None"),
     (GRID, {"variant": "fancy"}, "fancy"), (np.linspace(0, 1, 7), {}, "7")],
)
def test_bad_compressibility_arguments_are_rejected(fractions, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compressibility(fractions, np.ones(fractions.size if fractions.size != 7 else 5), **kwargs)


FIM = np.random.default_rng(2).random(n_params("ising"))


def test_fisher_order_is_ascending_over_all_parameters():
    order = fisher_order("ising", FIM)
    np.testing.assert_array_equal(np.argsort(order.rank), np.argsort(FIM, kind="stable"))


@pytest.mark.parametrize("tensor", list(SPANS))
def test_fisher_order_of_a_tensor_stays_inside_it(tensor):
    order = fisher_order("ising", FIM, tensor)
    span = SPANS[tensor]
    pruned = prune(THETA, order, order.group_size[None, :])[0]
    inside = np.zeros(THETA.size, bool)
    inside[span] = True
    assert not pruned[inside].any()
    np.testing.assert_array_equal(pruned[~inside], THETA[~inside])  # no off-by-one into the next tensor
    np.testing.assert_array_equal(np.argsort(order.rank[span]), np.argsort(FIM[span], kind="stable"))


def test_fisher_walk_grid_agrees_with_the_exact_walk():
    exact = fisher_pruning_curve("ising", THETA, FIM, X, Y, tensor="conv2.weight", exact=True)
    grid = fisher_pruning_curve("ising", THETA, FIM, X, Y, n_points=5, tensor="conv2.weight")
    np.testing.assert_array_equal(exact.count, np.arange(73))
    np.testing.assert_array_equal(grid.count, [0, 18, 36, 54, 72])
    np.testing.assert_allclose(grid.acc, exact.acc[grid.count])
    np.testing.assert_allclose(grid.loss, exact.loss[grid.count], rtol=1e-6)
    np.testing.assert_allclose((exact.loss[0], exact.acc[0]), _direct_metrics(THETA), rtol=1e-5)
    assert grid.fraction[-1] == 1.0


def test_fisher_pruning_of_the_whole_model_ends_at_chance_logits():
    curve = fisher_pruning_curve("ising", THETA, FIM, X, Y, n_points=3)
    assert curve.count.tolist() == [0, 3399, 6798]
    assert curve.loss[-1] == pytest.approx(np.log(2))


@pytest.mark.parametrize(("kwargs", "message"), [({"tensor": "fc3.weight"}, "fc3.weight"), ({"n_points": 1}, "1")])
def test_bad_fisher_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fisher_pruning_curve("ising", THETA, FIM, X, Y, **kwargs)


def test_modadd_pruning_curve_endpoints():
    theta = init_theta("modadd", torch.Generator().manual_seed(3)).numpy()
    a, b = torch.randint(0, 113, (2, 40), generator=GEN)
    x = torch.zeros(40, 226)
    x[torch.arange(40), a] = 1
    x[torch.arange(40), 113 + b] = 1
    curve = pruning_curve("modadd", theta, x, (a + b) % 113, [0.0, 1.0])
    with torch.no_grad():
        logits = model_at("modadd", theta)(x)
    assert curve.loss[0] == pytest.approx(torch.nn.functional.cross_entropy(logits, (a + b) % 113).item(), rel=1e-5)
    assert curve.loss[1] == pytest.approx(np.log(113))  # all weights zero, biases zero: uniform logits


@pytest.mark.parametrize("inputs", ["two_hot", "one_hot", "doubled", "dense"])
def test_modadd_evaluation_matches_the_model_forward(inputs):
    """Two-hot inputs take the gather path, any other input the plain forward; both must equal the model."""
    # noise on every entry, so that the (zero-initialised) biases count too
    thetas = np.stack([(init_theta("modadd", torch.Generator().manual_seed(s))
                        + 0.1 * torch.randn(n_params("modadd"), generator=GEN)).numpy() for s in range(3)])
    a, b = torch.randint(0, 113, (2, 30), generator=GEN)
    x = torch.zeros(30, 226)
    x[torch.arange(30), a] = 1
    x[torch.arange(30), 113 + b] = 1
    if inputs in ("one_hot", "doubled"):  # one 1 per row, or one 2 (rows still sum to 2): not pairs
        x[torch.arange(30), 113 + b] = 0
        x[torch.arange(30), a] = 1 if inputs == "one_hot" else 2
    if inputs == "dense":
        x = torch.randn(30, 226, generator=GEN)
    assert (_two_hot_columns(x) is not None) == (inputs == "two_hot")
    y = (a + b) % 113
    loss, acc = evaluate_thetas("modadd", thetas, x, y)
    for k, theta in enumerate(thetas):
        with torch.no_grad():
            logits = model_at("modadd", theta)(x)
        assert loss[k] == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
        assert acc[k] == (logits.argmax(1) == y).double().mean().item()


def test_chunking_the_pruned_copies_changes_nothing():
    one = pruning_curve("ising", THETA, X, Y, np.linspace(0, 1, 7), chunk_size=1)
    all_at_once = pruning_curve("ising", THETA, X, Y, np.linspace(0, 1, 7), chunk_size=16)
    for a, b in zip(one, all_at_once, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_curve_that_never_drops_has_undefined_not_huge_compressibility():
    # the trapezoid sum of a flat 0.9 over 101 points falls short of 0.9 by round-off: c must be inf, not 9e15
    flat = np.full(101, 0.9)
    assert np.trapezoid(flat, DEFAULT_FRACTIONS) < 0.9
    assert np.isposinf(compressibility(DEFAULT_FRACTIONS, flat))
    assert np.isnan(compressibility(DEFAULT_FRACTIONS, np.full(101, np.nan)))
