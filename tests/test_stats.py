"""Tests of repro.figures.stats: correlation confidence intervals and the absence test behind the claims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repro.figures import stats

RNG = np.random.default_rng(0)
X = RNG.normal(size=200)


def test_pearson_interval_contains_the_estimate_and_narrows_with_n():
    y = X + RNG.normal(size=X.size)
    wide, narrow = stats.correlation(X[:10], y[:10]), stats.correlation(X, y)
    for found in (wide, narrow):
        assert found.low < found.rho < found.high
    assert narrow.high - narrow.low < wide.high - wide.low
    assert narrow.rho == pytest.approx(np.corrcoef(X, y)[0, 1])
    # Fisher z: half-width 1.96/√(n−3) on the z scale
    assert math.atanh(narrow.high) - math.atanh(narrow.rho) == pytest.approx(1.959964 / math.sqrt(197), rel=1e-5)


def test_correlation_is_undefined_below_four_pairs_or_without_spread():
    assert math.isnan(stats.correlation([1, 2, 3], [1, 2, 3]).rho)
    assert math.isnan(stats.correlation([1, 1, 1, 1], [1, 2, 3, 4]).rho)
    assert stats.correlation([1, 2, np.nan, 4, 5], [1, 2, 3, np.inf, 5]).n == 3


@pytest.mark.parametrize(("y", "n", "expected"), [
    (RNG.normal(size=200), 200, True),  # no relationship, many points: the interval sits inside ±0.5
    (X + 0.3 * RNG.normal(size=200), 200, False),  # a strong one: the interval excludes 0 and passes 0.5
    (-X + 0.3 * RNG.normal(size=200), 200, False),  # a strong negative one
    (RNG.normal(size=200), 6, None),  # too few points to tell
])
def test_absence_verdict_can_come_out_every_way(y, n, expected):
    assert stats.absence_verdict(stats.correlation(X[:n], y[:n])) is expected


def test_a_weak_but_real_relationship_counts_as_absent():
    found = stats.Correlation(0.2, 0.1, 0.3, 500)
    assert stats.absence_verdict(found) is True
    assert stats.absence_verdict(stats.Correlation(math.nan, math.nan, math.nan, 2)) is None


@pytest.mark.parametrize("x, y, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, np.nan, 4, np.inf], [1, 2, 3, 4, 5], 1.0),  # non-finite pairs are left out
])
def test_spearman_over_finite_pairs(x, y, expected):
    rho, n = stats.spearman(x, y)
    assert rho == pytest.approx(expected)
    assert n == np.sum(np.isfinite(x) & np.isfinite(y))


def test_spearman_is_undefined_below_three_points_or_without_spread():
    assert math.isnan(stats.spearman([1, 2], [1, 2])[0])
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3])[0])
    assert stats.spearman([1, 2], [2, 1], least=2)[0] == pytest.approx(-1.0)


def test_ratio_interval_covers_the_ratio_of_means_and_narrows_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 1000):
        x, y = rng.normal(2.0, 0.5, n), rng.normal(1.0, 0.25, n)
        low, high = stats.ratio_interval(x, y)
        assert low < x.mean() / y.mean() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
    assert stats.ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0]) == stats.ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0])
    assert all(math.isnan(v) for v in stats.ratio_interval([1.0], [1.0, 2.0]))
