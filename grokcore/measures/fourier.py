"""Fourier spectra of the mod-add MLP's embedding/unembedding and the Gromov Fourier IPR (Eq. 4, Eq. 7; Fig. 4)."""

from __future__ import annotations

import numpy as np

from grokcore.measures._params import unflatten
from grokcore.models import P_MODADD

SIDES = ("output", "input", "input_a", "input_b", "input_concat")
# The normalisations of Eq. 4/7, which the paper leaves open: "two_sided" sums |û(ω)|² over ω = 0..P−1 as
# printed (a real vector's power sits on ±ω, so IPR ≤ 1/2 for any non-constant vector, and a pure sinusoid
# has exactly 1/2); "one_sided" folds ±ω into one frequency first (a pure sinusoid has 1); "real" uses the
# orthonormal cos/sin basis, whose cos and sin coefficients count separately (cos(ωj + φ) has cos⁴φ + sin⁴φ).
BASES = ("two_sided", "one_sided", "real")
NEURON_SETS = ("all", "alive")


def fourier_spectrum(u) -> np.ndarray:
    """|û(ω)| of real vectors u (..., P): the full complex DFT over the token axis, ω = 0..P−1, DC included."""
    return np.abs(np.fft.fft(np.asarray(u, dtype=float), axis=-1))


def basis_power(u, basis: str = "two_sided") -> np.ndarray:
    """Power of real vectors u (..., P) per basis function of `basis` (see BASES), (..., K); Σ_K = Σ_ω |û|².

    two_sided: |û(ω)|², ω = 0..P−1 (K = P). one_sided: |û(0)|², |û(ω)|² + |û(P−ω)|² for 0 < ω < P/2, and
    |û(P/2)|² for even P (K = ⌊P/2⌋ + 1). real: the squared coefficients on √(2/P)·cos(ωj) and √(2/P)·sin(ωj)
    scaled to the same total, i.e. |û(0)|², 2·Re û(ω)², 2·Im û(ω)² for 0 < ω < P/2, and |û(P/2)|² (K = P).
    """
    if basis not in BASES:
        raise ValueError(f"unknown Fourier basis {basis!r}: expected one of {BASES}")
    u = np.asarray(u, dtype=float)
    n = u.shape[-1]
    coefficients = np.fft.fft(u, axis=-1)
    if basis == "two_sided":
        return np.abs(coefficients) ** 2
    half = (n - 1) // 2  # frequencies with a distinct partner −ω
    paired = coefficients[..., 1 : half + 1]
    nyquist = np.abs(coefficients[..., n // 2 : n // 2 + 1]) ** 2 if n % 2 == 0 else paired[..., :0].real
    dc = np.abs(coefficients[..., :1]) ** 2
    if basis == "one_sided":
        return np.concatenate([dc, 2 * np.abs(paired) ** 2, nyquist], axis=-1)
    return np.concatenate([dc, 2 * paired.real**2, 2 * paired.imag**2, nyquist], axis=-1)


def _ipr_of_power(power: np.ndarray, r: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        # 0/0 for an all-zero vector (a neuron whose weights vanish) → NaN
        return np.sum(power**r, axis=-1) / np.sum(power, axis=-1) ** r


def fourier_ipr(u, r: float = 2, basis: str = "two_sided") -> np.ndarray:
    """IPR_r(u) = Σ_k p_k^r / (Σ_k p_k)^r of real vectors u (..., P) (Eq. 4), p the power per basis function
    of `basis` (`basis_power`), shape (...,). NaN for an all-zero vector.

    r = 2: a constant vector has 1 in every basis; a pure sinusoid at 0 < ω < P/2 has 1/2 (two_sided, as
    Eq. 7 is printed: no real vector other than a constant exceeds 1/2), 1 (one_sided) and cos⁴φ + sin⁴φ for
    phase φ (real); white noise has about 2/P (two_sided), 4/P (one_sided) or 3/P (real).
    """
    return _ipr_of_power(basis_power(u, basis), r)


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


def neuron_ipr(theta, side: str = "output", r: float = 2, basis: str = "two_sided") -> np.ndarray:
    """Fourier IPR (Eq. 4) of every hidden neuron, θ (..., param) -> (..., neuron=512).

    side: "output" (W_out[:, k]); "input" = mean of the operand-a and operand-b IPRs (default for the embedding);
    "input_a" / "input_b": one half; "input_concat": IPR of the concatenated a|b power. basis: see BASES.
    """
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}: expected one of {SIDES}")
    if side == "input":
        return (neuron_ipr(theta, "input_a", r, basis) + neuron_ipr(theta, "input_b", r, basis)) / 2
    weights = neuron_weights(theta)
    if side == "input_concat":
        power = np.concatenate([basis_power(weights["input_a"], basis), basis_power(weights["input_b"], basis)], -1)
        return _ipr_of_power(power, r)
    return _ipr_of_power(basis_power(weights[side], basis), r)


def alive_neurons(theta) -> np.ndarray:
    """Whether each hidden neuron is active (ReLU input > 0) on at least one input pair (a, b), θ (..., param)
    -> (..., neuron=512) bool. Its largest pre-activation over the P² two-hot inputs is max_a W_in[k, a] +
    max_b W_in[k, P + b] + b_in[k]; a neuron that never fires passes no gradient and keeps decaying."""
    named = unflatten("modadd", np.asarray(theta))
    w_in = named["fc_in.weight"]
    return w_in[..., :P_MODADD].max(-1) + w_in[..., P_MODADD:].max(-1) + named["fc_in.bias"] > 0


def mean_ipr(theta, side: str = "output", r: float = 2, basis: str = "two_sided",
             neurons: str = "all") -> np.ndarray:
    """Layer-mean Fourier IPR (Eq. 7): (1/N)·Σ_k IPR(k) over the neuron set, θ (..., param) -> (...,).

    neurons "all" (Eq. 7's 512) or "alive" (`alive_neurons`: dead neurons' decayed weights carry a flat noise
    spectrum that pulls the mean towards 2/P). Neurons whose weights are all zero (IPR undefined) are left
    out; NaN where no neuron is counted.
    """
    if neurons not in NEURON_SETS:
        raise ValueError(f"unknown neuron set {neurons!r}: expected one of {NEURON_SETS}")
    iprs = neuron_ipr(theta, side, r, basis)
    counted = ~np.isnan(iprs)
    if neurons == "alive":
        counted &= alive_neurons(theta)
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
