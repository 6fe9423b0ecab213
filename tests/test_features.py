"""Tests of repro.figures.features: domain walls and the data Figs 1, 3, 4 and 11 draw."""

from __future__ import annotations

import numpy as np
import pytest

from grokcore.measures import fourier
from repro.figures import features


def test_domain_walls_are_the_ordered_snapshots_below_half_magnetisation(tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    index, share = features.domain_walls(tiny_context, n=10_000)
    ordered = source["phase"].values == 1
    m_abs = np.abs(source["magnetization"].values) / 256
    assert sorted(index) == sorted(np.flatnonzero(ordered & (m_abs < 0.5)))
    assert share == pytest.approx(len(index) / ordered.sum())


def test_wall_snapshots_are_the_domain_walls(tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    index, _ = features.domain_walls(tiny_context)
    walls = features.wall_snapshots(tiny_context)
    np.testing.assert_array_equal(walls["spins"].values, source["spins"].values[index])
    np.testing.assert_array_equal(walls["energy"].values, source["energy"].values[index])


def test_temperature_snapshots_have_the_median_magnetisation_of_their_temperature(tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    snapshots = features.temperature_snapshots(tiny_context, "ising-main")
    assert 2 <= snapshots.sizes["temperature"] <= 6
    for t in snapshots["temperature"].values:
        at_t = np.abs(source["magnetization"].values[source["temperature"].values == t])
        m = float(snapshots["magnetization"].sel(temperature=t))
        assert (at_t < m).sum() <= len(at_t) // 2 <= (at_t <= m).sum()


def test_energy_scatter_is_the_most_activated_fc_neuron_against_energy(tiny_context):
    alpha = float(tiny_context.results("ising-main")["alpha"][0])
    scatter = features.energy_scatter(tiny_context, "ising-main", alpha, 0)
    x, _ = features.seed_test_set(tiny_context, "ising-main", 0)
    assert scatter.sizes["sample"] == len(x)
    pre, energy = scatter["pre_activation"].values, scatter["energy"].values
    assert scatter.attrs["rho"] == pytest.approx(np.corrcoef(pre, energy)[0, 1], abs=1e-6)


def test_fourier_drawing_data_is_float32_and_complete(tiny_context):
    alpha = float(tiny_context.results("modadd-main")["alpha"][0])
    spectrum = features.unembedding_spectrum(tiny_context, "modadd-main", alpha, 0)
    full = fourier.neuron_spectrum(features.final_theta(tiny_context, "modadd-main", alpha, 0), "output")
    assert spectrum.dtype == np.float32 and spectrum.shape == (full.shape[0], fourier.P_MODADD // 2 + 1)
    np.testing.assert_allclose(np.sort(spectrum.max(axis=1)), np.sort(full[:, :57].max(axis=1)), rtol=1e-6)
    iprs = features.neuron_iprs(tiny_context, "modadd-main", alpha)
    seeds = tiny_context.results("modadd-main").sizes["seed"]
    assert iprs["output"].dtype == np.float32 and iprs.sizes["output_neuron"] == seeds * full.shape[0]
