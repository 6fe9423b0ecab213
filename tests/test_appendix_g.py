"""Tests of repro.figures.appendix_g: Figures 28-34 drawn from the tiny stores."""

from __future__ import annotations

import artists as art
import numpy as np
import pytest
from matplotlib.lines import Line2D

from grokcore.measures import ising_features
from repro.figures import appendix_g, draw, features, runs, trajectories

NAMES = [f"fig{i:02d}" for i in range(28, 35)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    yield from art.drawn(tiny_context, NAMES)


@pytest.mark.parametrize("name, layer", [("fig28", "conv1"), ("fig29", "conv2"), ("fig30", "fc1")])
def test_feature_dynamics_figures_have_three_features_per_measure_and_regime(drawn, tiny_context, name, layer):
    arch = runs.archetypes(tiny_context, "ising-main")
    values = features.feature_dynamics(tiny_context, "ising-main", (arch.grok, arch.learn))
    for measure, _ in appendix_g.G1_MEASURES:
        for alpha in (arch.grok, arch.learn):
            for feature in ising_features.FEATURES:
                line = art.one(drawn[name], f"{measure} {feature} {draw.alpha_label(alpha)}", Line2D)
                np.testing.assert_array_equal(line.get_xdata(), values["checkpoint"].values)
                expected = values[measure].sel(alpha=alpha, layer=layer, feature=feature).mean("seed").values
                np.testing.assert_allclose(line.get_ydata(), expected)


@pytest.mark.parametrize("name, series", [
    ("fig31", ("magnitude all",)),
    ("fig32", ("magnitude all", "magnitude stiff", "magnitude sloppy")),
    ("fig34", ("cosine stiff", "cosine sloppy")),
])
def test_geometry_figures_have_a_line_per_regime_at_every_checkpoint(drawn, tiny_context, name, series):
    lines = art.artists(drawn[name], Line2D)
    experiments = ("ising-main",) if name == "fig31" else ("ising-main", "modadd-dynamics")
    for experiment in experiments:
        arch = runs.archetypes(tiny_context, experiment)
        checkpoints = trajectories.step_measures(tiny_context, experiment, [arch.grok])["checkpoint"].values
        for prefix in series:
            for alpha in (arch.grok, arch.learn):
                found = [line for line in lines[f"{prefix} {draw.alpha_label(alpha)}"]
                         if len(line.get_xdata()) == len(checkpoints)
                         and np.array_equal(line.get_xdata(), checkpoints)]
                assert found, f"{name}: no {prefix} line of α={alpha:g} over {experiment}'s checkpoints"
    if name == "fig31":
        grok = runs.archetypes(tiny_context, "ising-main").grok
        assert len(lines[f"magnitude all {draw.alpha_label(grok)}"]) == 2  # Fisher and Euclidean panels


def test_fig33_marks_the_roots_of_the_gradient_it_draws(drawn, tiny_context):
    lines, spans = art.artists(drawn["fig33"], Line2D), art.artists(drawn["fig33"])
    for experiment, _ in runs.TASK_ARCHETYPES:
        arch = runs.archetypes(tiny_context, experiment)
        for alpha in (arch.grok, arch.learn):
            x, g = trajectories.magnitude_gradient(tiny_context, experiment, alpha)
            assert any(np.array_equal(line.get_ydata(), g) for line in lines[f"gradient {draw.alpha_label(alpha)}"])
            roots = trajectories.fisher_roots(tiny_context, experiment, alpha)
            if alpha == arch.grok:
                assert len(spans.get(f"root {experiment} {draw.alpha_label(alpha)}", [])) == len(roots)
            else:
                marks = art.one(drawn["fig33"], f"roots {experiment} {draw.alpha_label(alpha)}")
                assert len(marks.get_xdata()) == len(roots)
            for lo, hi in roots:
                g_lo, g_hi = g[np.searchsorted(x, lo)], g[np.searchsorted(x, hi)]
                assert g_lo * g_hi <= 0
