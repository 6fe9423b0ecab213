"""Information-geometric trajectory measures (Eq. 8, 9; App. F-G) and Gini coefficients (App. D, §4.14)."""

from __future__ import annotations

import numpy as np

from grokcore.models import is_weight


def _weights(fim, mask):
    """Per-parameter weights of the inner product: F (Fisher) or 1 (Euclidean), times the subspace mask."""
    w = 1.0 if fim is None else np.asarray(fim, dtype=float)
    return w if mask is None else w * np.asarray(mask, dtype=bool)


def fisher_norm(v, fim=None, mask=None) -> np.ndarray:
    """|v|_F = √(Σ_i F_i v_i²) over the last (param) axis: v (..., param) -> (...,) (Eq. 8 for v = a step).

    fim and mask broadcast against v; fim=None gives the Euclidean norm; mask restricts the sum to a subspace.
    """
    v = np.asarray(v, dtype=float)
    return np.sqrt(np.sum(_weights(fim, mask) * v * v, axis=-1))


def fisher_cosine(u, v, fim=None, mask=None) -> np.ndarray:
    """S_F(u, v) = Σ F u v / √(Σ F u² · Σ F v²) over the last (param) axis (Eq. 9): (..., param) -> (...,).

    fim=None gives the Euclidean cosine. 0/0 (a zero vector, or a Fisher that vanishes on the support,
    e.g. saturated softmax) gives NaN.
    """
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    w = _weights(fim, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(w * u * v, axis=-1) / np.sqrt(np.sum(w * u * u, axis=-1) * np.sum(w * v * v, axis=-1))


def _trajectory(theta, fim, mask):
    theta = np.asarray(theta, dtype=float)
    if theta.ndim < 2 or theta.shape[-2] < 2:
        raise ValueError(f"theta must have shape (..., checkpoint>=2, param), got {theta.shape}")
    if fim is not None and np.shape(fim) != theta.shape:
        raise ValueError(f"fim has shape {np.shape(fim)}, theta {theta.shape}")
    run_mask = None if mask is None else np.asarray(mask, dtype=bool)[..., None, :]
    return theta, np.diff(theta, axis=-2), run_mask


def step_magnitude(theta, fim=None, mask=None) -> np.ndarray:
    """|s_k|_F = √(Σ_i F_{k,i} s_{k,i}²), s_k = θ_{k+1} − θ_k, with F at the step's start (Eq. 8).

    theta, fim (..., checkpoint K, param) -> (..., K−1); step k belongs at epoch e_k. fim=None: Euclidean ‖s_k‖.
    mask (..., param): a fixed subspace (e.g. `stiff_mask` of the final Fisher) applied to every checkpoint.
    """
    _, s, run_mask = _trajectory(theta, fim, mask)
    return fisher_norm(s, None if fim is None else np.asarray(fim)[..., :-1, :], run_mask)


def step_cosine(theta, fim=None, mask=None) -> np.ndarray:
    """S_F(s_k, s_{k+1}) with the Fisher at the shared point θ_{k+1} (Eq. 9): (..., K, param) -> (..., K−2).

    Value k belongs at epoch e_{k+1}. fim=None: Euclidean cosine; mask (..., param) as in `step_magnitude`.
    """
    _, s, run_mask = _trajectory(theta, fim, mask)
    return fisher_cosine(s[..., :-1, :], s[..., 1:, :], None if fim is None else np.asarray(fim)[..., 1:-1, :],
                         run_mask)


def origin_cosine(theta, fim=None, mask=None) -> np.ndarray:
    """S_F(s_k, −θ_k) with F_k (§4.9): (..., K, param) -> (..., K−1); value k belongs at epoch e_k.

    +1 means a step straight towards the origin (e.g. pure weight decay). fim, mask as in `step_magnitude`.
    """
    theta, s, run_mask = _trajectory(theta, fim, mask)
    return fisher_cosine(s, -theta[..., :-1, :], None if fim is None else np.asarray(fim)[..., :-1, :], run_mask)


def weight_norm(theta, fim=None, mask=None) -> np.ndarray:
    """√(θ_kᵀ F_k θ_k) (or ‖θ_k‖ with fim=None) per checkpoint: (..., K, param) -> (..., K) (§4.10)."""
    theta, _, run_mask = _trajectory(theta, fim, mask)
    return fisher_norm(theta, fim, run_mask)


def discrete_gradient(values, x) -> np.ndarray:
    """g_k = (m_{k+1} − m_k)/(x_{k+1} − x_k) (Fig. 33; m = the seed-mean step magnitude): (..., n) -> (..., n−1).

    x (n,): the epochs of the values (e_k for step k); g_k belongs at x_k.
    """
    values, x = np.asarray(values, dtype=float), np.asarray(x, dtype=float)
    if x.shape != values.shape[-1:]:
        raise ValueError(f"x has shape {x.shape}, expected ({values.shape[-1]},)")
    return np.diff(values, axis=-1) / np.diff(x)


def sign_change_brackets(gradient, x) -> np.ndarray:
    """Epochs bracketing each root of a 1-d series g (n,) sampled at x (n,): (root, 2) array of (x_k, x_{k+1})
    where g_k·g_{k+1} < 0, and (x_k, x_k) where g_k is exactly 0. NaN samples never bracket a root."""
    g, x = np.asarray(gradient, dtype=float), np.asarray(x, dtype=float)
    if g.ndim != 1 or x.shape != g.shape:
        raise ValueError(f"gradient {g.shape} and x {x.shape} must be equal 1-d shapes")
    crossing = np.flatnonzero(g[:-1] * g[1:] < 0)
    zero = np.flatnonzero(g == 0)
    brackets = [(x[k], x[k + 1]) for k in crossing] + [(x[k], x[k]) for k in zero]
    return np.array(sorted(brackets), dtype=float).reshape(-1, 2)


def stiff_mask(fim_final, threshold: float = 0.1) -> np.ndarray:
    """Stiff parameters F_{K−1,i} ≥ threshold of the final Fisher diagonal (§4.11): (..., param) -> bool.

    The sloppy subspace is its complement (~mask).
    """
    return np.asarray(fim_final) >= threshold


def fisher_spectrum(fim_final) -> np.ndarray:
    """Seed-mean of the per-seed ascending sort of the final Fisher diagonal (Fig. 20): (..., seed, param) ->
    (..., rank=param). NaN in a seed propagates."""
    return np.sort(np.asarray(fim_final, dtype=float), axis=-1).mean(axis=-2)


def gini(x) -> np.ndarray:
    """Gini coefficient G = Σ_i (2i − n − 1) x_(i) / (n Σ_i x_(i)) of x ≥ 0 sorted ascending (§4.14).

    x (..., n) -> (...,): 0 for a constant vector, (n−1)/n for a single non-zero entry, NaN for all zeros.
    """
    x = np.sort(np.asarray(x, dtype=float), axis=-1)
    if np.any(x < 0):
        raise ValueError("gini needs non-negative values (use magnitudes |w|)")
    n = x.shape[-1]
    i = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum((2 * i - n - 1) * x, axis=-1) / (n * np.sum(x, axis=-1))


def weight_gini(task: str, theta) -> np.ndarray:
    """Gini of the weight magnitudes |w| over all weight tensors (biases excluded): θ (..., param) -> (...,)."""
    return gini(np.abs(np.asarray(theta)[..., is_weight(task)]))
