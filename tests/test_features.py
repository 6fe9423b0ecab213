"""Tests of repro.figures.features: the Ising data set's domain walls."""

from __future__ import annotations

import numpy as np
import pytest

from repro.figures import features


def test_domain_walls_are_the_ordered_snapshots_below_half_magnetisation(tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    index, share = features.domain_walls(tiny_context, n=10_000)
    ordered = source["phase"].values == 1
    m_abs = np.abs(source["magnetization"].values) / 256
    assert sorted(index) == sorted(np.flatnonzero(ordered & (m_abs < 0.5)))
    assert share == pytest.approx(len(index) / ordered.sum())
