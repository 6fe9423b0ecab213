"""Grokking time (Def. 1, Eq. 3), the grok/steady classification (Def. 2) and final metrics of training curves."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MODES = ("relative", "absolute")


class GrokkingTimes(NamedTuple):
    """t_train, t_test and Δt_grok = t_test − t_train (Eq. 3), each of shape (...)."""

    t_train: np.ndarray
    t_test: np.ndarray
    delta: np.ndarray


def _epochs_of(values: np.ndarray, epochs) -> np.ndarray:
    n = values.shape[-1]
    epochs = np.arange(n) if epochs is None else np.asarray(epochs, dtype=float)
    if epochs.shape != (n,):
        raise ValueError(f"epochs has shape {epochs.shape}, expected ({n},) to match the epoch axis")
    return epochs


def threshold_epoch(acc, within: float = 0.05, mode: str = "relative", epochs=None,
                    strict: bool = False) -> np.ndarray:
    """First epoch at which the accuracy is within `within` of its maximum over training (Def. 1).

    acc (..., epoch), NaN where not evaluated (those epochs are skipped). mode "relative": acc ≥ (1−within)·max
    (the paper's "within 5%", our reading); "absolute": acc ≥ max − within. strict=True uses ">" instead of
    "≥" (the authors' plotting lines used acc > 0.9·max, i.e. within=0.1, strict=True). epochs (epoch,): the
    epoch number of each column, default 0..n−1. Returns (...,) float epochs, NaN where acc is all NaN.
    """
    acc = np.asarray(acc, dtype=float)
    epochs = _epochs_of(acc, epochs)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: expected one of {MODES}")
    if not 0 <= within <= 1:
        raise ValueError(f"within must lie in [0, 1], got {within!r}")
    peak = np.fmax.reduce(acc, axis=-1, keepdims=True)  # NaN-skipping max, NaN only if all NaN
    level = (1 - within) * peak if mode == "relative" else peak - within
    with np.errstate(invalid="ignore"):
        hit = acc > level if strict else acc >= level
    return np.where(hit.any(axis=-1), epochs[hit.argmax(axis=-1)], np.nan)


def grokking_time(train_acc, test_acc, within: float = 0.05, mode: str = "relative", epochs=None,
                  strict: bool = False) -> GrokkingTimes:
    """Δt_grok = t_test − t_train (Def. 1, Eq. 3) per run.

    train_acc, test_acc (..., epoch) with NaN at unevaluated epochs (the test set may be evaluated every k
    epochs only). Both thresholds use the same `within`, `mode` and `strict` (see `threshold_epoch`).
    Returns GrokkingTimes of (...,) float arrays in units of `epochs` (default: the epoch index).
    """
    t_train = threshold_epoch(train_acc, within, mode, epochs, strict)
    t_test = threshold_epoch(test_acc, within, mode, epochs, strict)
    return GrokkingTimes(t_train, t_test, t_test - t_train)


def classify_regime(delta, threshold: float = 0.0, t_train=None) -> np.ndarray:
    """Def. 2: "grok" where Δt_grok > threshold, else "steady"; "undetermined" where Δt is NaN.

    delta (...,). With t_train (...,) given, the threshold is a fraction of t_train (Δt > threshold·t_train,
    e.g. threshold=0.05 for "more than 5% of t_train"). Returns a (...,) str array.
    """
    delta = np.asarray(delta, dtype=float)
    limit = threshold if t_train is None else threshold * np.asarray(t_train, dtype=float)
    with np.errstate(invalid="ignore"):
        groks = delta > limit
    return np.where(np.isnan(delta + limit), "undetermined", np.where(groks, "grok", "steady"))


def final_value(values) -> np.ndarray:
    """Last non-NaN value along the last axis: values (..., epoch) -> (...,), NaN where all are NaN.

    Use it for the final train/test accuracy and loss of a run whose metrics are NaN at unevaluated epochs.
    """
    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    last = values.shape[-1] - 1 - present[..., ::-1].argmax(axis=-1)
    picked = np.take_along_axis(values, last[..., None], axis=-1)[..., 0]
    return np.where(present.any(axis=-1), picked, np.nan)
