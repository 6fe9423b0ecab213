"""Shared look of the figures: α colours (redder = larger, as in the paper), panel labels."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

# Blue → purple → red with no pale middle, so every α of a grid stays visible on white (redder = larger).
ALPHA_CMAP = mpl.colors.LinearSegmentedColormap.from_list("alpha", ["#2b5fad", "#7d3c98", "#d62728"])
GROK_COLOR, LEARN_COLOR = "#c0392b", "#2e6bb0"


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
