"""Tests of repro.figures.appendix_claims: the appendix claims, registered and evaluated on the tiny stores."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from repro.figures import appendix_claims as ac
from repro.figures import claims


def _appendix_keys() -> list[str]:
    return [key for key, spec in claims.CLAIMS.items() if inspect.getmodule(spec.evaluate) is ac]


def test_appendix_claims_are_registered_once_with_their_section():
    keys = _appendix_keys()
    assert len(keys) == len(set(keys)) >= 20
    for key in keys:
        spec = claims.CLAIMS[key]
        assert spec.section.startswith("App"), key
        assert spec.paper and spec.tolerance and spec.experiments


def test_every_appendix_claim_gets_a_verdict_on_the_tiny_grid(tiny_context):
    results = claims.evaluate_claims(tiny_context, _appendix_keys())
    assert [r.key for r in results] == _appendix_keys()
    for r in results:
        assert r.verdict in claims.VERDICTS[:3], (r.key, r.verdict, r.detail)
        assert r.ours


@pytest.mark.parametrize("spectrum, size, position", [
    (np.r_[np.full(6, 1e-6), np.full(4, 1e-2)], 4.0, 0.5),
    (np.r_[0.0, 0.0, 1e-3, 1e-2, 1e-1, 1.0], 1.0, 2 / 6),  # zeros are not a gap
    (np.logspace(-4, 0, 5), 1.0, 0.0),
])
def test_spectrum_gap_finds_the_largest_jump_in_decades(spectrum, size, position):
    found = ac.spectrum_gap(spectrum)
    assert found == pytest.approx((size, position))


def test_spectrum_gap_is_undefined_without_two_positive_values():
    assert all(math.isnan(v) for v in ac.spectrum_gap(np.array([0.0, 0.0, 1.0])))


def test_spectrum_gap_spans_a_share_of_the_ranks_and_ignores_the_far_tail():
    # 1000 values: a rise of 3 decades spread over 5 ranks is one gap at 1% of the ranks
    spectrum = np.r_[np.full(500, 1e-3), np.logspace(-3, 0, 7)[1:-1], np.full(495, 1.0)]
    size, position = ac.spectrum_gap(spectrum)
    assert size == pytest.approx(3.0) and 0.49 <= position <= 0.5
    tail = np.r_[1e-30, 1e-20, spectrum[2:]]  # far below 1e-6 of the largest: not a gap
    assert ac.spectrum_gap(tail)[0] == pytest.approx(3.0)


@pytest.mark.parametrize("x, y, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, np.nan, 4, np.inf], [1, 2, 3, 4, 5], 1.0),  # non-finite pairs are left out
])
def test_spearman_over_finite_pairs(x, y, expected):
    rho, n = ac._spearman(x, y)
    assert rho == pytest.approx(expected)
    assert n == np.sum(np.isfinite(x) & np.isfinite(y))


def test_spearman_is_undefined_below_three_points_or_without_spread():
    assert math.isnan(ac._spearman([1, 2], [1, 2])[0])
    assert math.isnan(ac._spearman([1, 1, 1], [1, 2, 3])[0])


@pytest.mark.parametrize("values, last, expected", [
    ([4.0, 3.0, 2.0, 1.0], False, 4.0), ([4.0, 3.0, 2.0, 1.0], True, 1.0),
    ([5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0], True, 5.0), ([2.0], True, 2.0),
])
def test_quarter_means(values, last, expected):
    assert ac._quarter(np.array(values), last) == expected
    assert math.isnan(ac._quarter(np.array([]), last))


def test_ratio_never_raises():
    assert ac._ratio(1.0, 0.0) == math.inf
    assert math.isnan(ac._ratio(math.nan, 0.0))
