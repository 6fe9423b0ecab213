"""Tests of grokcore.measures.ising_features: pre-activations and feature correlations (Eq. 6, App. G.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grokcore.measures.ising_features import (
    activation_weights,
    best_feature,
    best_feature_fraction,
    best_feature_share,
    feature_correlations,
    feature_matrix,
    most_activated_neuron,
    pre_activations,
    weighted_correlation,
    zero_variance_units,
)
from grokcore.models import init_theta, model_at

RNG = np.random.default_rng(0)
FEATURES = feature_matrix(RNG.normal(size=200), RNG.normal(size=200))


def test_feature_matrix_columns():
    features = feature_matrix([-2.0, -1.5], [0.5, -0.25])
    np.testing.assert_array_equal(features, [[-2.0, 0.5, 0.5], [-1.5, -0.25, 0.25]])


def test_a_feature_correlates_perfectly_with_itself():
    rho = feature_correlations(FEATURES, FEATURES)
    np.testing.assert_allclose(np.diag(rho), 1.0)
    np.testing.assert_allclose(rho, rho.T)


def test_affine_images_correlate_with_plus_or_minus_one():
    energy = FEATURES[:, :1]
    pre = np.hstack([3 * energy + 2, -0.5 * energy + 7])
    np.testing.assert_allclose(feature_correlations(pre, energy)[:, 0], [1.0, -1.0])


def test_correlations_match_numpy_and_are_vectorised():
    pre = RNG.normal(size=(2, 200, 5)) + FEATURES[None, :, :1]
    rho = feature_correlations(pre, FEATURES)
    assert rho.shape == (2, 5, 3)
    expected = np.corrcoef(pre[1].T, FEATURES.T)[:5, 5:]
    np.testing.assert_allclose(rho[1], expected, atol=1e-12)


def test_zero_variance_neuron_is_nan_counted_and_zero_in_averages():
    energy = FEATURES[:, :1]
    pre = np.hstack([energy, np.full((200, 1), 0.1)])  # 0.1 is not exact in binary: mean leaves round-off
    rho = feature_correlations(pre, energy)
    assert np.isnan(rho[1, 0]) and not np.isnan(rho[0, 0])
    np.testing.assert_array_equal(zero_variance_units(pre), [False, True])
    weights = activation_weights(pre)
    assert weighted_correlation(rho, weights)[0] == pytest.approx(weights[0])


def test_eq6_of_perfectly_correlated_neurons_is_one():
    energy = FEATURES[:, 0]
    pre = np.stack([c * energy + d for c, d in [(1.0, 0.0), (-2.0, 1.0), (0.3, -5.0)]], axis=-1)
    rho = feature_correlations(pre, FEATURES)
    assert weighted_correlation(rho, activation_weights(pre))[0] == pytest.approx(1.0)


def test_eq6_weights_by_share_of_absolute_pre_activation():
    feature = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    correlated = feature[:, 0] + 10  # Σ|a| = 40, ρ = 1
    uncorrelated = np.array([1.0, 1.0, -1.0, -1.0])  # Σ|a| = 4, ρ = 0
    pre = np.stack([correlated, uncorrelated], axis=-1)
    weights = activation_weights(pre)
    np.testing.assert_allclose(weights, [40 / 44, 4 / 44])
    assert weighted_correlation(feature_correlations(pre, feature), weights)[0] == pytest.approx(40 / 44)


RHO = np.array([[0.9, -0.95, 0.1], [0.2, 0.1, -0.3], [np.nan, np.nan, np.nan], [-0.5, 0.4, 0.5]])


def test_best_feature_per_neuron():
    # ties (|−0.5| = |0.5|) go to the earlier feature; an undefined neuron gets −1
    np.testing.assert_array_equal(best_feature(RHO), [1, 2, -1, 0])


def test_best_feature_fraction_and_share():
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(best_feature_fraction(RHO), [0.25, 0.25, 0.25])
    np.testing.assert_allclose(best_feature_share(RHO, weights), [0.1, 0.4, 0.3])


def test_best_feature_measures_are_vectorised():
    rho = np.stack([RHO, -RHO[::-1]])
    weights = np.full((2, 4), 0.25)
    np.testing.assert_allclose(best_feature_share(rho, weights)[1], best_feature_share(-RHO[::-1], weights[1]))


@pytest.mark.parametrize(("by", "expected"), [("absmean", 1), ("mean", 0), ("variance", 2)])
def test_most_activated_neuron_rankings(by, expected):
    wiggle = np.array([0.1, -0.1, 0.1, -0.1])
    pre = np.stack([5 + wiggle, -8 + wiggle, 30 * wiggle], axis=-1)
    assert most_activated_neuron(pre, by) == expected


def test_unknown_ranking_is_rejected():
    with pytest.raises(ValueError, match="median"):
        most_activated_neuron(np.ones((3, 2)), by="median")


@pytest.fixture(scope="module")
def model_and_inputs():
    theta = init_theta("ising", torch.Generator().manual_seed(0)).numpy()
    x = torch.sign(torch.randn(32, 1, 16, 16, generator=torch.Generator().manual_seed(1)))
    return theta, x


@pytest.mark.parametrize(("conv_neuron", "widths"), [("unit", (512, 256, 100)), ("channel", (2, 4, 100))])
def test_pre_activation_shapes(model_and_inputs, conv_neuron, widths):
    theta, x = model_and_inputs
    pre = pre_activations(theta, x, conv_neuron)
    assert {name: a.shape for name, a in pre.items()} == dict(zip(("conv1", "conv2", "fc1"), [(32, w) for w in widths],
                                                                 strict=True))


def test_pre_activations_are_taken_before_the_relu(model_and_inputs):
    theta, x = model_and_inputs
    model = model_at("ising", theta)
    pre = pre_activations(theta, x)
    with torch.no_grad():
        conv1 = model.conv1(x)
        pooled = torch.nn.functional.max_pool2d(torch.relu(conv1), 2)
        pooled = torch.nn.functional.max_pool2d(torch.relu(model.conv2(pooled)), 2)
        fc1 = model.fc1(pooled.flatten(1))
    np.testing.assert_allclose(pre["conv1"], conv1.flatten(1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(pre["fc1"], fc1.numpy(), rtol=1e-5, atol=1e-6)
    assert (pre["fc1"] < 0).any()
    per_channel = pre_activations(theta, x, "channel")["conv1"]
    np.testing.assert_allclose(per_channel, pre["conv1"].reshape(32, 2, 256).sum(-1), rtol=1e-4, atol=1e-4)


def test_unknown_conv_neuron_is_rejected(model_and_inputs):
    theta, x = model_and_inputs
    with pytest.raises(ValueError, match="pixel"):
        pre_activations(theta, x, "pixel")
