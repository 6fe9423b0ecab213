"""Tests of grokcore.measures.geometry: Fisher step measures (Eq. 8, 9), stiff/sloppy split, spectrum, Gini."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from grokcore.measures.geometry import (
    discrete_gradient,
    fisher_cosine,
    fisher_norm,
    fisher_spectrum,
    gini,
    origin_cosine,
    sign_change_brackets,
    step_cosine,
    step_magnitude,
    stiff_mask,
    weight_gini,
    weight_norm,
)
from grokcore.models import is_weight, n_params

RNG = np.random.default_rng(0)
SHAPE = (2, 3, 6, 40)  # (alpha, seed, checkpoint, param)
THETA = RNG.normal(size=SHAPE)
FIM = RNG.random(SHAPE) ** 3
MASK = stiff_mask(FIM[..., -1, :], threshold=0.1)
TRAJECTORY_MEASURES = [step_magnitude, step_cosine, origin_cosine, weight_norm]


@pytest.mark.parametrize("fim", [None, FIM])
def test_steps_along_a_straight_line_have_cosine_one(fim):
    direction = RNG.normal(size=SHAPE[:2] + (1, SHAPE[-1]))
    distance = np.cumsum(RNG.random(SHAPE[2]))[:, None]  # unequal positive step lengths
    theta = THETA[..., :1, :] + distance * direction
    np.testing.assert_allclose(step_cosine(theta, fim), 1.0)
    if fim is None:
        np.testing.assert_allclose(step_magnitude(theta), np.diff(distance[:, 0]) * np.linalg.norm(direction, axis=-1))


@pytest.mark.parametrize("fim", [None, FIM])
@pytest.mark.parametrize("mask", [None, MASK])
def test_pure_weight_decay_has_origin_cosine_one(fim, mask):
    theta = THETA[..., :1, :] * (1 - 0.1) ** np.arange(SHAPE[2])[:, None]
    np.testing.assert_allclose(origin_cosine(theta, fim, mask), 1.0)


@pytest.mark.parametrize("measure", TRAJECTORY_MEASURES)
@pytest.mark.parametrize("mask", [None, MASK, ~MASK])
def test_unit_fisher_gives_the_euclidean_measures(measure, mask):
    np.testing.assert_allclose(measure(THETA, np.ones(SHAPE), mask), measure(THETA, None, mask))


@pytest.mark.parametrize("measure", TRAJECTORY_MEASURES)
@pytest.mark.parametrize("subspace", ["stiff", "sloppy"])
def test_masked_measures_equal_the_measures_of_the_sub_vectors(measure, subspace):
    mask = MASK[0, 0] if subspace == "stiff" else ~MASK[0, 0]
    whole = measure(THETA[0, 0], FIM[0, 0], mask)
    np.testing.assert_allclose(whole, measure(THETA[0, 0][:, mask], FIM[0, 0][:, mask]))


def test_magnitude_uses_the_fisher_at_the_step_start():
    theta = np.array([[0.0], [1.0], [3.0]])
    fim = np.array([[4.0], [9.0], [16.0]])
    np.testing.assert_allclose(step_magnitude(theta, fim), [2.0, 6.0])  # √(4·1²), √(9·2²)


def test_consecutive_cosine_uses_the_fisher_at_the_shared_point():
    theta = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]])  # s0 = (1, 0), s1 = (1, 1)
    fim = np.array([[1.0, 0.0], [1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(step_cosine(theta, fim), [1 / 2])  # F1: 1 / √(1 · 4); F0 would give 1


def test_origin_cosine_uses_the_fisher_at_the_step_start():
    theta = np.array([[1.0, 1.0], [0.0, 1.0]])  # s0 = (−1, 0), −θ0 = (−1, −1)
    fim = np.array([[1.0, 3.0], [1.0, 0.0]])
    np.testing.assert_allclose(origin_cosine(theta, fim), [1 / 2])  # F0: 1 / √(1 · 4); F1 would give 1


def test_measure_shapes_and_step_labels():
    assert step_magnitude(THETA, FIM).shape == (2, 3, 5)
    assert step_cosine(THETA, FIM).shape == (2, 3, 4)
    assert origin_cosine(THETA, FIM).shape == (2, 3, 5)
    assert weight_norm(THETA, FIM).shape == (2, 3, 6)


def test_saturated_fisher_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(step_cosine(THETA, np.zeros(SHAPE))).all()
        assert np.isnan(origin_cosine(THETA, np.zeros(SHAPE))).all()
        assert np.isnan(fisher_cosine(np.zeros(3), np.ones(3)))
        np.testing.assert_array_equal(step_magnitude(THETA, np.zeros(SHAPE)), 0.0)


def test_fisher_norm_and_cosine_broadcast():
    u, v, fim = RNG.normal(size=(4, 10)), RNG.normal(size=(4, 10)), RNG.random(10)
    expected = np.sum(fim * u * v, -1) / np.sqrt(np.sum(fim * u * u, -1) * np.sum(fim * v * v, -1))
    np.testing.assert_allclose(fisher_cosine(u, v, fim), expected)
    np.testing.assert_allclose(fisher_norm(u, fim), np.sqrt(np.sum(fim * u * u, -1)))


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="fim has shape"):
        step_magnitude(THETA, FIM[..., :-1, :])
    with pytest.raises(ValueError, match="checkpoint>=2"):
        step_cosine(THETA[..., :1, :])


@pytest.mark.parametrize("threshold", [0.1, 0.01])
def test_stiff_mask_threshold(threshold):
    fim = np.array([0.0, threshold / 2, threshold, 2 * threshold])
    np.testing.assert_array_equal(stiff_mask(fim, threshold), [False, False, True, True])


def test_fisher_spectrum_is_the_seed_mean_of_sorted_diagonals():
    seeds = np.array([[3.0, 1.0, 2.0], [10.0, 30.0, 20.0]])
    np.testing.assert_allclose(fisher_spectrum(seeds), [5.5, 11.0, 16.5])
    assert fisher_spectrum(FIM[..., -1, :]).shape == (2, 40)


def test_magnitude_gradient_root_is_bracketed():
    x = np.arange(11) * 200.0
    m = (np.arange(11) - 5.3) ** 2
    g = discrete_gradient(m, x)
    np.testing.assert_allclose(g, np.diff(m) / 200)
    # forward differences labelled e_k: g_4 = m_5 − m_4 < 0 < g_5 = m_6 − m_5
    np.testing.assert_array_equal(sign_change_brackets(g, x[:-1]), [[800.0, 1000.0]])


def test_sign_change_brackets_handle_exact_zeros_and_nan():
    x = np.arange(6.0)
    np.testing.assert_array_equal(sign_change_brackets([1.0, 0.0, -1.0, np.nan, 1.0, -2.0], x),
                                  [[1.0, 1.0], [4.0, 5.0]])
    assert sign_change_brackets([1.0, 2.0], x[:2]).shape == (0, 2)


@pytest.mark.parametrize("value", [0.3, 7.0])
def test_gini_of_a_constant_vector_is_zero(value):
    assert gini(np.full(50, value)) == pytest.approx(0.0, abs=1e-12)


def test_gini_known_values():
    assert gini(np.eye(1, 10)[0]) == pytest.approx(0.9)  # one non-zero entry: (n − 1)/n
    assert gini([0.0, 1.0]) == pytest.approx(0.5)
    x = RNG.random(30)
    assert gini(5 * x) == pytest.approx(gini(x))
    np.testing.assert_allclose(gini(np.stack([x, x[::-1]])), gini(x))
    assert np.isnan(gini(np.zeros(4)))


def test_gini_rejects_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        gini([1.0, -1.0])


def test_weight_gini_ignores_biases():
    theta = np.zeros(n_params("ising"))
    theta[is_weight("ising")] = 1.0
    theta[~is_weight("ising")] = RNG.random((~is_weight("ising")).sum())
    assert weight_gini("ising", np.stack([theta, -theta])) == pytest.approx([0.0, 0.0], abs=1e-12)
