"""The shared look of the figures: α colours, per-α lines and points, seed bands, panel and transition lines.

α colours are redder for larger α, as in the paper. Every function takes arrays, never a Context.

Drawn artists carry a `gid` naming the series ("prune α=10", "global α=0.1", ...), so that tests can count them.
"""

from __future__ import annotations

import warnings

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator

# Blue → purple → red with no pale middle, so every α of a grid stays visible on white (redder = larger).
ALPHA_CMAP = mpl.colors.LinearSegmentedColormap.from_list("alpha", ["#2b5fad", "#7d3c98", "#d62728"])
REGIME_COLORS = {"grok": "#c0392b", "learn": "#2e6bb0"}
LAYER_LABELS = {"conv1": "conv1", "conv2": "conv2", "fc1": "FC"}
FEATURE_LABELS = {"energy": "E", "magnetization": "M", "abs_magnetization": "|M|"}  # ising_features.FEATURES


def subplots(*args, **kwargs):
    """plt.subplots with constrained layout, leaving a strip at the bottom for render()'s provenance line."""
    fig, axes = plt.subplots(*args, layout="constrained", **kwargs)
    fig.get_layout_engine().set(rect=(0, 0.02, 1, 0.98))
    return fig, axes


def alpha_label(alpha: float) -> str:
    return f"α={alpha:g}"


def alpha_norm(alphas) -> mpl.colors.Normalize:
    """Log colour scale over the α values of a grid (the paper's grids span 0.1-10)."""
    alphas = np.asarray(alphas, dtype=float)
    low, high = alphas.min(), alphas.max()
    return mpl.colors.LogNorm(low, high if high > low else low * 10)


def alpha_colors(alphas) -> list:
    """One RGBA colour per α: blue for small α, red for large α."""
    norm = alpha_norm(alphas)
    return [ALPHA_CMAP(norm(a)) for a in alphas]


def alpha_colorbar(fig, axes, alphas, label: str = "weight multiplier α") -> None:
    """A colour bar for the α colours next to `axes`."""
    mappable = mpl.cm.ScalarMappable(norm=alpha_norm(alphas), cmap=ALPHA_CMAP)
    fig.colorbar(mappable, ax=axes, label=label)


def panel_labels(axes) -> None:
    """(a), (b), … in the top-left corner of each axis, as in the paper."""
    for i, ax in enumerate(np.ravel(axes)):
        ax.text(0.02, 0.97, f"({chr(97 + i)})", transform=ax.transAxes, va="top", fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8, "edgecolor": "none"})


def finite(values) -> np.ndarray:
    """float array with ±inf (e.g. c of a curve that never drops) replaced by NaN, which matplotlib skips."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def seed_x(alphas, n_seeds: int) -> np.ndarray:
    """x positions (alpha, seed) on a log-α axis, each seed slightly offset so that equal values stay visible."""
    offsets = np.exp(0.05 * (np.arange(n_seeds) - (n_seeds - 1) / 2))
    return np.asarray(alphas, dtype=float)[:, None] * offsets[None, :]


def points(ax, x, y, alphas, name: str, hollow: bool = False, **kwargs) -> None:
    """One scatter per α (gid "<name> α=a") of its seeds' points: x, y (alpha, seed); open markers if hollow."""
    x, y = finite(x), finite(y)
    for i, (alpha, color) in enumerate(zip(alphas, alpha_colors(alphas), strict=True)):
        colors = {"facecolors": "none", "edgecolors": [color]} if hollow else {"color": color}
        ax.scatter(x[i], y[i], gid=f"{name} {alpha_label(alpha)}", **colors, **kwargs)


def lines(ax, x, values, alphas, name: str, **kwargs) -> None:
    """One line per α (gid "<name> α=a"): x (point,), values (alpha, point)."""
    values = finite(values)
    for i, (alpha, color) in enumerate(zip(alphas, alpha_colors(alphas), strict=True)):
        ax.plot(x, values[i], color=color, gid=f"{name} {alpha_label(alpha)}", **kwargs)


def band(ax, x, values, color, label, gid, **kwargs) -> None:
    """Seed mean (line) ± one standard deviation (band) of values (seed, n) against x (n,)."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (undefined steps) stay NaN
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    ax.plot(x, mean, color=color, label=label, gid=gid, **kwargs)
    if values.shape[0] > 1:
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def accuracy_twin(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], alpha: float):
    """Seed-mean train (dashed) and test (solid) accuracy of α on a right-hand axis, in grey: curves
    {"train_acc": (epochs, values), "test_acc": (epochs, values)}."""
    twin = ax.twinx()
    for name, dash in (("train_acc", "--"), ("test_acc", "-")):
        epochs, values = curves[name]
        twin.plot(epochs, 100 * values, dash, color="0.55", lw=1, gid=f"{name} α={alpha:g}")
    twin.set_ylabel("accuracy (%) (grey)")
    twin.set_ylim(0, 105)
    return twin


def alpha_axis(ax, alphas) -> None:
    """A log α axis ticked at the grid's α values."""
    log_scale(ax, "x")
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.xaxis.set_minor_locator(NullLocator())


def log_scale(ax, axis: str) -> None:
    """Log scale on `axis` ("x" or "y") where the drawn data span a decade or more; linear where they span less
    (log ticks would crowd) or nothing finite and positive was drawn (e.g. all-NaN measures of tiny runs)."""
    low, high = (ax.dataLim.x0, ax.dataLim.x1) if axis == "x" else (ax.dataLim.y0, ax.dataLim.y1)
    if np.isfinite(low) and np.isfinite(high) and high > 0 and (low <= 0 or high >= 10 * low):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def transition_lines(ax, epochs, limit: float | None = None) -> None:
    """Dashed verticals at the transition epochs (runs.transition_epochs) up to `limit` (default: the drawn
    data's right end)."""
    limit = ax.dataLim.x1 if limit is None else limit
    for epoch in epochs:
        if np.isfinite(epoch) and epoch <= limit:
            ax.axvline(epoch, color="0.4", ls="--", lw=0.8)
