"""The statistical tests behind the claims' verdicts: correlation confidence intervals and the absence test."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

# An "absent" relationship (the paper's "no trade-off", "no relationship") is one whose correlation is
# confidently weaker than ABSENCE_MARGIN: |ρ| < 0.5 means under a quarter of the variance explained.
ABSENCE_MARGIN = 0.5
CONFIDENCE = 0.95


class Correlation(NamedTuple):
    """A correlation coefficient over n finite pairs with its two-sided confidence interval [low, high]."""

    rho: float
    low: float
    high: float
    n: int

    def text(self, name: str = "r") -> str:
        if not math.isfinite(self.rho):
            return f"{name} undefined (n = {self.n})"
        interval = f"[{self.low:+.2f}, {self.high:+.2f}]"
        return f"{name} = {self.rho:+.2f}, {100 * CONFIDENCE:.0f}% CI {interval} (n = {self.n})"


def correlation(x, y, rank: bool = False) -> Correlation:
    """Pearson (or, rank=True, Spearman) correlation of the finite pairs of x, y (...,) with its Fisher-z
    confidence interval: tanh(atanh ρ ± z·s), s = 1/√(n−3) (Pearson) or √(1.06/(n−3)) (Spearman, Fieller et
    al. 1957). NaN (interval included) with fewer than 4 pairs or a constant side."""
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    kept = np.isfinite(x) & np.isfinite(y)
    x, y, n = x[kept], y[kept], int(kept.sum())
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(math.nan, math.nan, math.nan, n)
    rho = float((stats.spearmanr(x, y) if rank else stats.pearsonr(x, y)).statistic)
    spread = math.sqrt((1.06 if rank else 1.0) / (n - 3))
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2) * spread
    centre = math.atanh(min(max(rho, -0.999999), 0.999999))
    return Correlation(rho, math.tanh(centre - z), math.tanh(centre + z), n)


def spearman(x, y, least: int = 3) -> tuple[float, int]:
    """Spearman's rank correlation of the finite pairs of x, y (...,) and their number; NaN with fewer than
    `least` pairs or a constant side."""
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    kept = np.isfinite(x) & np.isfinite(y)
    n = int(kept.sum())
    if n < least or np.ptp(x[kept]) == 0 or np.ptp(y[kept]) == 0:
        return math.nan, n
    return float(stats.spearmanr(x[kept], y[kept]).statistic), n


def ratio_interval(x, y, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """CONFIDENCE percentile-bootstrap interval of mean(x) / mean(y) over the finite values of x and y (each
    resampled on its own, e.g. over seeds); (nan, nan) with fewer than 2 values on a side. Seeded: the same
    data give the same interval."""
    x, y = (np.ravel(np.asarray(v, dtype=float)) for v in (x, y))
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = [rng.choice(v, (n_resamples, v.size)).mean(axis=1) for v in (x, y)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = means[0] / means[1]
    low, high = np.percentile(ratios, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return float(low), float(high)


def absence_verdict(found: Correlation, margin: float = ABSENCE_MARGIN) -> bool | None:
    """Whether the data show a relationship to be absent: True if the whole confidence interval lies inside
    (−margin, margin); False if it excludes 0 and reaches past ±margin (a real relationship that may be
    strong); None (not testable) where the interval is too wide to tell or the correlation is undefined."""
    if not math.isfinite(found.rho):
        return None
    if -margin < found.low and found.high < margin:
        return True
    if (found.low > 0 or found.high < 0) and max(abs(found.low), abs(found.high)) >= margin:
        return False
    return None


ABSENCE_RULE = (f"absent if the {100 * CONFIDENCE:.0f}% Fisher-z confidence interval of the correlation lies "
                f"inside ±{ABSENCE_MARGIN}; present (differs) if it excludes 0 and reaches ±{ABSENCE_MARGIN}; "
                "otherwise not testable (the data cannot tell)")
