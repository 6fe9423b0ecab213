"""Tests of repro.figures.appendix_ac: Figures 9-13 drawn from the tiny stores."""

from __future__ import annotations

import artists as art
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from grokcore.measures import ising_features
from repro.figures import draw, features, runs

NAMES = [f"fig{i:02d}" for i in range(9, 14)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    yield from art.drawn(tiny_context, NAMES)


@pytest.mark.parametrize("name, experiment", [("fig09", "ising-main"), ("fig10", "modadd-main")])
def test_seed_summary_has_one_point_per_alpha_and_seed(drawn, tiny_context, name, experiment):
    metrics, times = runs.final_metrics(tiny_context, experiment), runs.regimes(tiny_context, experiment)
    for source, names in ((metrics, ("train_acc", "test_acc", "train_loss", "test_loss")),
                          (times, ("delta", "t_train", "t_test"))):
        for metric in names:
            for alpha in runs.alpha_values(tiny_context.results(experiment)):
                points = art.offsets(art.one(drawn[name], f"{metric} {draw.alpha_label(alpha)}", PathCollection))
                expected = source[metric].sel(alpha=alpha)
                if metric == "delta":  # runs that did not learn are crosses of their own, not Δt points
                    expected = expected.where(times["regime"].sel(alpha=alpha) != "did-not-learn")
                np.testing.assert_allclose(points[:, 1], expected.values, equal_nan=True)
                x = points[np.isfinite(points[:, 0]), 0]  # matplotlib masks a point whose y is NaN
                assert np.all(np.diff(x) > 0)  # seeds side by side around α
                assert x.size < 2 or x.min() < alpha < x.max()
    unlearned = int((times["regime"] == "did-not-learn").sum())
    crosses = [c for ax in drawn[name].get_axes() for c in ax.collections if c.get_gid() == "did-not-learn"]
    assert len(crosses) == (1 if unlearned else 0) and sum(len(c.get_offsets()) for c in crosses) == unlearned


def test_fig11_shows_ordered_low_magnetisation_snapshots_lowest_first(drawn, tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    images = art.artists(drawn["fig11"])
    index = [int(gid.split()[1]) for gid in images]
    m_abs = np.abs(source["magnetization"].values[index]) / 256
    assert 0 < len(index) <= 8
    assert np.all(source["phase"].values[index] == 1)
    assert np.all(source["temperature"].values[index] < source.attrs["critical_temperature"])
    assert np.all(m_abs < 0.5) and np.all(np.diff(m_abs) >= 0)
    for gid, k in zip(images, index, strict=True):
        np.testing.assert_array_equal(images[gid][0].get_array(), source["spins"].values[k])


@pytest.mark.parametrize("name, regime", [("fig12", "grok"), ("fig13", "learn")])
def test_correlation_figures_show_every_neuron_of_every_seed(drawn, tiny_context, name, regime):
    arch = runs.archetypes(tiny_context, "ising-main")
    by_seed = features.final_correlations(tiny_context, "ising-main", getattr(arch, regime))
    neurons = {"conv1": 512, "conv2": 256, "fc1": 100}
    for seed, layers in by_seed.items():
        for layer, count in neurons.items():
            for f, feature in enumerate(ising_features.FEATURES):
                points = art.offsets(art.one(drawn[name], f"rho {layer} {feature} seed={seed}", PathCollection))
                assert len(points) == count
                np.testing.assert_allclose(points[:, 1], layers[layer][0][:, f], equal_nan=True)
