"""Grokking time (Def. 1, Eq. 3), the grok/steady classification (Def. 2) and final metrics of training curves."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MODES = ("relative", "absolute")
REGIMES = ("grok", "steady", "did-not-learn", "undetermined")
# A run "did not learn" when its final test accuracy is not clearly above chance: below chance + LEARN_MARGIN
# of the way from chance to perfect (Ising: 0.55, mod-add: 0.109). Def. 1 measures against the run's own
# maximum, so a curve flat at chance passes its own threshold at once and would otherwise be classified.
LEARN_MARGIN = 0.1


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

    Two clocks, as in the authors' code: the train accuracy of epoch e is the running accuracy over its
    mini-batches *during* the epoch, the test accuracy is measured *after* its last update. A run that
    generalises as soon as it fits therefore has Δt_grok ≈ +1 epoch, not 0; with the test set evaluated every
    k epochs (`eval_every`) t_test, and so Δt_grok, is resolved to k epochs only (t_test is the first
    evaluated epoch past the threshold). Def. 2's threshold (classify_regime) sits far above both biases.
    """
    t_train = threshold_epoch(train_acc, within, mode, epochs, strict)
    t_test = threshold_epoch(test_acc, within, mode, epochs, strict)
    return GrokkingTimes(t_train, t_test, t_test - t_train)


def convergence_epoch(loss, within: float = 0.05, epochs=None) -> np.ndarray:
    """First epoch from which the loss stays within `within` (relative) of its final value: loss (..., epoch)
    with NaN at unevaluated epochs -> (...,) float, NaN where all are NaN. The time a run takes to finish
    training, as opposed to Def. 1's time to saturate the accuracy (App A's "training time", our reading)."""
    loss = np.asarray(loss, dtype=float)
    epochs = _epochs_of(loss, epochs)
    final = final_value(loss)[..., None]
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(loss) & (np.abs(loss - final) > within * np.abs(final))
    # the first epoch after the last one outside the band
    last_out = np.where(outside.any(axis=-1), loss.shape[-1] - 1 - outside[..., ::-1].argmax(axis=-1), -1)
    inside = np.isfinite(loss) & (np.arange(loss.shape[-1]) > last_out[..., None])
    return np.where(inside.any(axis=-1), epochs[inside.argmax(axis=-1)], np.nan)


def learned(final_acc, chance: float, margin: float = LEARN_MARGIN) -> np.ndarray:
    """Whether a run's final test accuracy is clearly above chance: acc ≥ chance + margin·(1 − chance).

    final_acc (...,) -> (...,) bool (False for NaN). chance: the accuracy of a constant guess (Ising 0.5,
    mod-add 1/113); margin in [0, 1), a fraction of the way from chance to perfect.
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    with np.errstate(invalid="ignore"):
        return np.asarray(final_acc, dtype=float) >= chance + margin * (1 - chance)


def classify_regime(delta, threshold: float = 0.0, t_train=None, final_acc=None, chance: float | None = None,
                    margin: float = LEARN_MARGIN) -> np.ndarray:
    """Def. 2: "grok" where Δt_grok > threshold, else "steady"; "undetermined" where Δt is NaN.

    delta (...,). With t_train (...,) given, the threshold is a fraction of t_train (Δt > threshold·t_train,
    e.g. threshold=0.05 for "more than 5% of t_train"). With final_acc (...,) and chance given, a run that
    did not learn (`learned` is False) is "did-not-learn" whatever its Δt: it is neither grokking nor steady
    learning. Returns a (...,) str array of REGIMES.
    """
    delta = np.asarray(delta, dtype=float)
    limit = threshold if t_train is None else threshold * np.asarray(t_train, dtype=float)
    with np.errstate(invalid="ignore"):
        groks = delta > limit
    regime = np.where(np.isnan(delta + limit), "undetermined", np.where(groks, "grok", "steady"))
    if (final_acc is None) != (chance is None):
        raise ValueError("final_acc and chance must be given together")
    if final_acc is not None:
        regime = np.where(learned(final_acc, chance, margin), regime, "did-not-learn")
    return regime


def final_value(values) -> np.ndarray:
    """Last non-NaN value along the last axis: values (..., epoch) -> (...,), NaN where all are NaN.

    Use it for the final train/test accuracy and loss of a run whose metrics are NaN at unevaluated epochs.
    """
    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    last = values.shape[-1] - 1 - present[..., ::-1].argmax(axis=-1)
    picked = np.take_along_axis(values, last[..., None], axis=-1)[..., 0]
    return np.where(present.any(axis=-1), picked, np.nan)
