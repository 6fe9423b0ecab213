"""Tests of grokcore.measures.fourier: Fourier spectra and the Fourier IPR (Eq. 4, Eq. 7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grokcore.measures.fourier import (
    BASES,
    alive_neurons,
    basis_power,
    dominant_frequency,
    fourier_ipr,
    fourier_spectrum,
    mean_ipr,
    neuron_ipr,
    neuron_spectrum,
)
from grokcore.models import P_MODADD as P
from grokcore.models import ModAddMLP, flat_params

TOKENS = np.arange(P)


@pytest.mark.parametrize("r", [2, 3, 1.5])
@pytest.mark.parametrize(("frequency", "phase"), [(1, 0.0), (5, 0.3), (56, 1.2)])
def test_pure_sinusoid_has_ipr_two_to_the_one_minus_r(r, frequency, phase):
    u = np.cos(2 * np.pi * frequency * TOKENS / P + phase)
    assert fourier_ipr(u, r) == pytest.approx(2.0 ** (1 - r))  # 0.5 for r = 2


@pytest.mark.parametrize("r", [2, 3])
def test_delta_spectrum_has_ipr_one(r):
    assert fourier_ipr(np.full(P, -0.7), r) == pytest.approx(1.0)


def test_delta_in_token_space_has_flat_spectrum_and_minimal_ipr():
    u = np.zeros(P)
    u[17] = 2.0
    np.testing.assert_allclose(fourier_spectrum(u), 2.0)
    assert fourier_ipr(u) == pytest.approx(1 / P)


def test_zero_vector_has_undefined_ipr():
    assert np.isnan(fourier_ipr(np.zeros(P)))


def _theta(frequencies, zero_neurons=()):
    """Mod-add θ whose neuron k has W_in[k,:P] = cos(ω_k j), W_in[k,P:] = 1/√2 and W_out[:,k] = sin(ω_k j)."""
    model = ModAddMLP()
    with torch.no_grad():
        for k, f in enumerate(frequencies):
            wave = 2 * np.pi * f * TOKENS / P
            model.fc_in.weight[k, :P] = torch.as_tensor(np.cos(wave))
            model.fc_in.weight[k, P:] = 1 / np.sqrt(2)
            model.fc_out.weight[:, k] = torch.as_tensor(np.sin(wave))
        for k in zero_neurons:
            model.fc_in.weight[k] = 0
            model.fc_out.weight[:, k] = 0
    return flat_params(model).numpy()


FREQUENCIES = np.arange(512) % 56 + 1


@pytest.mark.parametrize(
    ("side", "expected"),
    [("output", 0.5), ("input_a", 0.5), ("input_b", 1.0), ("input", 0.75), ("input_concat", 3 / 8)],
)
def test_neuron_ipr_of_each_side(side, expected):
    # input_concat: the a half puts P²/4 on ±ω, the b half P²/2 on ω=0 → (2/16 + 1/4) / 1 = 3/8
    np.testing.assert_allclose(neuron_ipr(_theta(FREQUENCIES), side), expected, rtol=1e-5)


def test_mean_ipr_leaves_out_zero_neurons():
    theta = _theta(FREQUENCIES, zero_neurons=range(0, 512, 2))
    assert np.isnan(neuron_ipr(theta)).sum() == 256
    assert mean_ipr(theta) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("side", ["output", "input_a"])
def test_dominant_frequency_is_the_planted_one(side):
    np.testing.assert_array_equal(dominant_frequency(_theta(FREQUENCIES), side), FREQUENCIES)


def test_output_spectrum_is_the_fft_of_each_unembedding_column():
    model = ModAddMLP()
    theta = flat_params(model).numpy()
    spectrum = neuron_spectrum(theta, "output")
    assert spectrum.shape == (512, P)
    column = model.fc_out.weight[:, 7].detach().double().numpy()
    np.testing.assert_allclose(spectrum[7], np.abs(np.fft.fft(column)), rtol=1e-5)


@pytest.mark.parametrize("side", ["output", "input", "input_concat"])
def test_measures_are_vectorised_over_leading_axes(side):
    thetas = np.stack([_theta(FREQUENCIES), flat_params(ModAddMLP()).numpy()])[None]
    batch = mean_ipr(thetas, side)
    assert batch.shape == (1, 2)
    assert batch[0, 1] == pytest.approx(mean_ipr(thetas[0, 1], side))
    assert neuron_spectrum(thetas, "output").shape == (1, 2, 512, P)


@pytest.mark.parametrize("call", [neuron_ipr, neuron_spectrum, dominant_frequency])
def test_unknown_side_is_rejected(call):
    with pytest.raises(ValueError, match="middle"):
        call(_theta([]), side="middle")


SINUSOID_IPR = {"two_sided": 0.5, "one_sided": 1.0}


@pytest.mark.parametrize("basis", ["two_sided", "one_sided", "real"])
@pytest.mark.parametrize(("frequency", "phase"), [(1, 0.0), (5, 0.3), (56, 1.2)])
def test_pure_sinusoid_in_each_basis(basis, frequency, phase):
    u = np.cos(2 * np.pi * frequency * TOKENS / P + phase)
    expected = SINUSOID_IPR.get(basis, np.cos(phase) ** 4 + np.sin(phase) ** 4)  # real: split over cos and sin
    assert fourier_ipr(u, basis=basis) == pytest.approx(expected)


@pytest.mark.parametrize("basis", BASES)
def test_basis_power_keeps_the_total_power(basis):
    u = np.random.default_rng(0).normal(size=(3, 64))  # even length: the Nyquist bin stands alone
    np.testing.assert_allclose(basis_power(u, basis).sum(-1), (np.abs(np.fft.fft(u)) ** 2).sum(-1))


@pytest.mark.parametrize(("basis", "expected"), [("two_sided", 1 / 3), ("one_sided", 2 / 3), ("real", 2 / 3)])
def test_square_wave_ipr(basis, expected):
    # odd harmonics n with power ∝ 1/n²: Σ n⁻⁴ / (Σ n⁻²)² = (π⁴/96)/(π²/8)² = 2/3 on one side of the spectrum
    n = 20_001
    u = np.sign(np.sin(2 * np.pi * np.arange(n) / n + 1e-9))
    assert fourier_ipr(u, basis=basis) == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize(("basis", "expected"), [("two_sided", 2), ("one_sided", 4), ("real", 3)])
def test_white_noise_ipr_is_a_few_over_p(basis, expected):
    # exponential |û|²: E p² = 2(E p)² over P bins → 2/P; folding doubles each of P/2 bins (û(−ω) = û(ω)*) → 4/P;
    # Gaussian real coefficients: E x⁴ = 3(E x²)² over P → 3/P
    n = 4096
    u = np.random.default_rng(1).normal(size=(400, n))
    assert fourier_ipr(u, basis=basis).mean() * n == pytest.approx(expected, rel=0.03)


def test_unknown_basis_and_neuron_set_are_rejected():
    with pytest.raises(ValueError, match="folded"):
        fourier_ipr(np.ones(P), basis="folded")
    with pytest.raises(ValueError, match="living"):
        mean_ipr(_theta([1]), neurons="living")


def _with_biases(theta, bias):
    model = ModAddMLP()
    with torch.no_grad():
        for tensor, values in zip(model.parameters(), unflatten_model(theta), strict=True):
            tensor.copy_(values)
        model.fc_in.bias.fill_(bias)
    return flat_params(model).numpy()


def unflatten_model(theta):
    from grokcore.measures._params import unflatten

    return [torch.as_tensor(v) for v in unflatten("modadd", theta).values()]


def test_alive_neurons_fire_on_some_input_pair():
    # neuron k: W_in[k,:P] = cos(ω j) (max 1), W_in[k,P:] = 1/√2; it fires somewhere iff 1 + 1/√2 + b > 0
    theta = _theta(FREQUENCIES, zero_neurons=range(0, 512, 2))
    assert alive_neurons(_with_biases(theta, 0.0)).tolist() == [k % 2 == 1 for k in range(512)]
    assert alive_neurons(_with_biases(theta, 0.1)).all()  # a zero-weight neuron with b > 0 is always on
    assert not alive_neurons(_with_biases(theta, -1.8)).any()  # below −(1 + 1/√2) nothing fires


def test_alive_mean_ipr_leaves_out_dead_neurons():
    # half the neurons pure sinusoids (0.5), half dead with a flat token spectrum (1/P) that never fires
    theta = _theta(FREQUENCIES)
    model = ModAddMLP()
    with torch.no_grad():
        for tensor, values in zip(model.parameters(), unflatten_model(theta), strict=True):
            tensor.copy_(values)
        model.fc_in.bias.zero_()
        model.fc_in.weight[::2] = -1.0  # never fires
        model.fc_out.weight[:, ::2] = 0.0
        model.fc_out.weight[0, ::2] = 1e-3  # a decayed delta in token space: flat spectrum, IPR 1/P
    theta = flat_params(model).numpy()
    assert mean_ipr(theta) == pytest.approx((0.5 + 1 / P) / 2, rel=1e-4)
    assert mean_ipr(theta, neurons="alive") == pytest.approx(0.5, rel=1e-5)
