"""Fourier spectra of the mod-add MLP's embedding/unembedding and the Gromov Fourier IPR (Eq. 4, Eq. 7; Fig. 4)."""

from __future__ import annotations

import numpy as np

from grokcore.measures._params import unflatten
from grokcore.models import P_MODADD

SIDES = ("output", "input", "input_a", "input_b", "input_concat")


def fourier_spectrum(u) -> np.ndarray:
    """|û(ω)| of real vectors u (..., P): the full complex DFT over the token axis, ω = 0..P−1, DC included."""
    return np.abs(np.fft.fft(np.asarray(u, dtype=float), axis=-1))


def _ipr_of_spectrum(spectrum: np.ndarray, r: float) -> np.ndarray:
    power = spectrum**2
    with np.errstate(invalid="ignore", divide="ignore"):
        # 0/0 for an all-zero vector (a neuron whose weights vanish) → NaN
        return np.sum(power**r, axis=-1) / np.sum(power, axis=-1) ** r


def fourier_ipr(u, r: float = 2) -> np.ndarray:
    """IPR_r(u) = Σ_ω |û(ω)|^{2r} / (Σ_ω |û(ω)|²)^r of real vectors u (..., P) (Eq. 4), shape (...,).

    Lies in [1/P, 1] for r = 2: 1 for a delta spectrum, 1/2 for a pure sinusoid at ω ≠ 0 (power on ±ω).
    NaN for an all-zero vector.
    """
    return _ipr_of_spectrum(fourier_spectrum(u), r)


def neuron_weights(theta) -> dict[str, np.ndarray]:
    """Per-neuron token-axis weight vectors of the mod-add MLP from θ (..., param).

    "input_a" = W_in[k, :113] and "input_b" = W_in[k, 113:] (embedding of operand a and b), "output" =
    W_out[:, k] (unembedding): each (..., neuron=512, token=113).
    """
    named = unflatten("modadd", np.asarray(theta))
    w_in, w_out = named["fc_in.weight"], named["fc_out.weight"]
    return {
        "input_a": w_in[..., :P_MODADD],
        "input_b": w_in[..., P_MODADD:],
        "output": np.swapaxes(w_out, -1, -2),
    }


def neuron_spectrum(theta, side: str = "output") -> np.ndarray:
    """|û_k(ω)| for every hidden neuron k, θ (..., param) -> (..., neuron=512, frequency=113) (Fig. 4a-b heatmap).

    side: "output" (unembedding, the paper's heatmap), "input_a" or "input_b"; "input_concat" returns the a and
    b spectra side by side (..., 512, 226).
    """
    weights = neuron_weights(theta)
    if side == "input_concat":
        return np.concatenate([fourier_spectrum(weights["input_a"]), fourier_spectrum(weights["input_b"])], -1)
    if side not in weights:
        raise ValueError(f"unknown side {side!r} for a spectrum: expected output, input_a, input_b, input_concat")
    return fourier_spectrum(weights[side])


def neuron_ipr(theta, side: str = "output", r: float = 2) -> np.ndarray:
    """Fourier IPR (Eq. 4) of every hidden neuron, θ (..., param) -> (..., neuron=512).

    side: "output" (W_out[:, k]); "input" = mean of the operand-a and operand-b IPRs (default for the embedding);
    "input_a" / "input_b": one half; "input_concat": IPR of the concatenated 2P-point a|b spectrum.
    """
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}: expected one of {SIDES}")
    if side == "input":
        return (neuron_ipr(theta, "input_a", r) + neuron_ipr(theta, "input_b", r)) / 2
    return _ipr_of_spectrum(neuron_spectrum(theta, side), r)


def mean_ipr(theta, side: str = "output", r: float = 2) -> np.ndarray:
    """Layer-mean Fourier IPR (Eq. 7): (1/512)·Σ_k IPR(k), θ (..., param) -> (...,).

    Neurons whose weights are all zero (IPR undefined) are left out of the mean.
    """
    iprs = neuron_ipr(theta, side, r)
    counted = ~np.isnan(iprs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted, iprs, 0).sum(-1) / counted.sum(-1)


def dominant_frequency(theta, side: str = "output") -> np.ndarray:
    """Frequency ω ∈ {0..56} carrying the most power of each neuron, θ (..., param) -> (..., neuron) int.

    ±ω are folded together (a real vector has |û(ω)| = |û(P−ω)|); ties go to the lower frequency. Sorting the
    rows of the Fig. 4 heatmap by it is an aesthetic choice.
    """
    if side not in ("output", "input_a", "input_b"):
        raise ValueError(f"unknown side {side!r} for a dominant frequency: expected output, input_a, input_b")
    power = neuron_spectrum(theta, side) ** 2
    half = P_MODADD // 2
    folded = power[..., : half + 1].copy()
    folded[..., 1:] += power[..., :half:-1]
    return folded.argmax(axis=-1)
