"""Ising CNN pre-activations and their correlation with physical features (Eq. 6, App. G.1; Figs 3, 7, 12-13, 28-30)."""

from __future__ import annotations

import numpy as np
import torch

from grokcore.models import model_at

FEATURES = ("energy", "magnetization", "abs_magnetization")
LAYERS = ("conv1", "conv2", "fc1")
CONV_NEURONS = ("unit", "channel")
RANKINGS = ("absmean", "mean", "variance")


def feature_matrix(energy, magnetization) -> np.ndarray:
    """Stack the features of FEATURES: energy (sample,), magnetization (sample,) -> (sample, 3) = (E, M, |M|)."""
    energy, magnetization = np.asarray(energy, dtype=float), np.asarray(magnetization, dtype=float)
    if energy.shape != magnetization.shape or energy.ndim != 1:
        raise ValueError(f"energy {energy.shape} and magnetization {magnetization.shape} must be equal 1-d shapes")
    return np.stack([energy, magnetization, np.abs(magnetization)], axis=-1)


def pre_activations(theta, x, conv_neuron: str = "unit") -> dict[str, np.ndarray]:
    """Pre-ReLU outputs of conv1, conv2 and fc1 of the Ising CNN with parameters θ (param,) on inputs x.

    x (sample, 1, 16, 16). Returns {layer: (sample, neuron)}: conv1 512 = 2×16×16 and conv2 256 = 4×8×8 units
    in (channel, y, x) order when conv_neuron="unit"; 2 and 4 spatially summed channels when "channel";
    fc1 100 (the paper's "final layer").
    """
    if conv_neuron not in CONV_NEURONS:
        raise ValueError(f"unknown conv_neuron {conv_neuron!r}: expected one of {CONV_NEURONS}")
    model = model_at("ising", theta).eval()
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(model, name).register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
        for name in LAYERS
    ]
    try:
        with torch.no_grad():
            model(torch.as_tensor(np.asarray(x), dtype=torch.float32))
    finally:
        for hook in hooks:
            hook.remove()
    return {
        name: (a.sum((2, 3)) if a.ndim == 4 and conv_neuron == "channel" else a.flatten(1)).numpy()
        for name, a in captured.items()
    }


def zero_variance_units(pre) -> np.ndarray:
    """Neurons whose pre-activation is constant over the samples (e.g. dead): pre (..., sample, neuron) -> bool."""
    pre = np.asarray(pre)
    return pre.max(axis=-2) == pre.min(axis=-2)


def feature_correlations(pre, features) -> np.ndarray:
    """Pearson ρ_i^{l,f} over samples between each neuron's pre-activation and each feature (§4.4).

    pre (..., sample, neuron), features (..., sample, feature) -> (..., neuron, feature). NaN for zero-variance
    neurons or features.
    """
    a = np.asarray(pre, dtype=float)
    f = np.asarray(features, dtype=float)
    if a.shape[-2] != f.shape[-2]:
        raise ValueError(f"pre has {a.shape[-2]} samples, features {f.shape[-2]}")
    a_c = a - a.mean(axis=-2, keepdims=True)
    f_c = f - f.mean(axis=-2, keepdims=True)
    cov = np.einsum("...sn,...sf->...nf", a_c, f_c)
    norm = np.sqrt(np.einsum("...sn,...sn->...n", a_c, a_c))[..., :, None] * np.sqrt(
        np.einsum("...sf,...sf->...f", f_c, f_c)
    )[..., None, :]
    # detect constants exactly: mean subtraction leaves round-off that would give spurious ρ = ±1
    constant = zero_variance_units(a)[..., :, None] | zero_variance_units(f)[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, cov / norm)


def activation_weights(pre) -> np.ndarray:
    """w_i^l = Σ_x |a_i(x)| / Σ_j Σ_x |a_j(x)| (Eq. 6 weights): pre (..., sample, neuron) -> (..., neuron)."""
    total = np.abs(np.asarray(pre, dtype=float)).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / total.sum(axis=-1, keepdims=True)


def weighted_correlation(rho, weights) -> np.ndarray:
    """Pre-activation weighted correlation ρ̄^{l,f} = Σ_i w_i |ρ_i^{l,f}| (Eq. 6).

    rho (..., neuron, feature) from `feature_correlations`, weights (..., neuron) from `activation_weights`
    -> (..., feature). NaN ρ (zero-variance neurons) count as 0.
    """
    return np.einsum("...n,...nf->...f", np.asarray(weights), np.nan_to_num(np.abs(rho), nan=0.0))


def best_feature(rho) -> np.ndarray:
    """Index of the feature with the largest |ρ| per neuron: rho (..., neuron, feature) -> (..., neuron) int.

    −1 for neurons with no defined correlation (all NaN); ties go to the earlier feature.
    """
    magnitude = np.nan_to_num(np.abs(rho), nan=-1.0)
    return np.where(np.isnan(rho).all(axis=-1), -1, magnitude.argmax(axis=-1))


def best_feature_fraction(rho) -> np.ndarray:
    """(1/n_l)·#{i : argmax_g |ρ_i^g| = f} (App. G.1): rho (..., neuron, feature) -> (..., feature).

    Neurons without a defined correlation count in n_l but for no feature.
    """
    best = best_feature(rho)
    features = np.arange(np.shape(rho)[-1])
    return (best[..., None] == features).mean(axis=-2)


def best_feature_share(rho, weights) -> np.ndarray:
    """Share of the total pre-activation held by neurons whose best feature is f (App. G.1): Σ_{i: best=f} w_i.

    rho (..., neuron, feature), weights (..., neuron) -> (..., feature).
    """
    best = best_feature(rho)
    features = np.arange(np.shape(rho)[-1])
    return np.einsum("...n,...nf->...f", np.asarray(weights), (best[..., None] == features).astype(float))


def most_activated_neuron(pre, by: str = "absmean") -> np.ndarray:
    """The neuron ranked first over the samples (Fig. 3 top row): pre (..., sample, neuron) -> (...,) int.

    by: "absmean" = largest mean |a| (default), "mean" = largest mean a, "variance" = largest variance of a.
    """
    pre = np.asarray(pre, dtype=float)
    scores = {"absmean": lambda: np.abs(pre).mean(-2), "mean": lambda: pre.mean(-2), "variance": lambda: pre.var(-2)}
    if by not in scores:
        raise ValueError(f"unknown ranking {by!r}: expected one of {RANKINGS}")
    return scores[by]().argmax(axis=-1)
