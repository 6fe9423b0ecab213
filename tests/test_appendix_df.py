"""Tests of repro.figures.appendix_df: Figures 14-27 drawn from the tiny stores."""

from __future__ import annotations

from collections import Counter

import artists as art
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D

from grokcore.models import PARAM_SHAPES, n_params
from repro.figures import appendix_df, compression, draw, runs
from repro.figures.registry import REGISTRY

NAMES = [f"fig{i:02d}" for i in range(14, 28)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    yield from art.drawn(tiny_context, NAMES)


def test_every_appendix_figure_is_registered_with_notes_where_it_differs():
    assert [n for n in NAMES if n not in REGISTRY] == []
    for name in ("fig17", "fig21", "fig22", "fig23", "fig24", "fig31", "fig32", "fig33", "fig34"):
        assert REGISTRY[name].notes, name
    assert "not referenced" in REGISTRY["fig17"].title.lower()
    assert "NOT renormalised" in REGISTRY["fig21"].notes


@pytest.mark.parametrize("name, experiment", [("fig14", "modadd-bs200"), ("fig18", "modadd-wd")])
def test_setting_figures_have_a_curve_per_alpha_and_a_point_per_run(drawn, tiny_context, name, experiment):
    fractions = compression.pruning_fractions("tiny")  # per-layer curves: Fig. 5's grid
    n_seeds = tiny_context.results(experiment).sizes["seed"]
    for alpha in runs.alpha_values(tiny_context.results(experiment)):
        line = art.one(drawn[name], f"prune {draw.alpha_label(alpha)}", Line2D)
        np.testing.assert_allclose(line.get_xdata(), 100 * fractions)
        points = art.one(drawn[name], f"tradeoff {experiment} {draw.alpha_label(alpha)}", PathCollection)
        assert len(points.get_offsets()) == n_seeds


@pytest.mark.parametrize("name, experiment", [("fig15", "modadd-main"), ("fig16", "modadd-bs200"),
                                              ("fig19", "modadd-wd")])
def test_compression_figures_plot_every_run_against_seven_measures(drawn, tiny_context, name, experiment):
    measures = compression.compression_measures(tiny_context, experiment)
    measures = measures.assign(llc=compression.llc(tiny_context, experiment))
    panels = [p for p, _, _ in appendix_df.COMPRESSION_PANELS if p]
    assert len(panels) == 7
    for measure in panels:
        for alpha in runs.alpha_values(tiny_context.results(experiment)):
            points = art.offsets(art.one(drawn[name], f"{measure} {draw.alpha_label(alpha)}", PathCollection))
            c = draw.finite(measures["compressibility"].sel(alpha=alpha))
            drawn_x = np.where(np.isfinite(c), draw.finite(measures[measure].sel(alpha=alpha)), np.nan)
            assert len(points) == len(c)
            np.testing.assert_allclose(points[:, 0], drawn_x, equal_nan=True)
            np.testing.assert_allclose(points[:, 1], np.where(np.isfinite(drawn_x), c, np.nan), equal_nan=True)


def test_fig17_compares_the_three_settings_at_every_alpha(drawn, tiny_context):
    for experiment, _, _ in appendix_df.SETTINGS:
        for measure in ("compressibility", "ipr_input", "ipr_output"):
            line = art.one(drawn["fig17"], f"{measure} {experiment}", Line2D)
            np.testing.assert_allclose(line.get_xdata(), runs.alpha_values(tiny_context.results(experiment)))
            points = art.one(drawn["fig17"], f"{measure} {experiment} runs", PathCollection)
            sizes = tiny_context.results(experiment).sizes
            assert len(points.get_offsets()) == sizes["alpha"] * sizes["seed"]


def test_fig20_sorted_spectrum_of_every_parameter_per_regime(drawn, tiny_context):
    axes = [ax for ax in drawn["fig20"].get_axes() if ax.get_lines()]
    for ax, (experiment, _) in zip(axes, runs.TASK_ARCHETYPES, strict=True):
        arch = runs.archetypes(tiny_context, experiment)
        task = tiny_context.results(experiment).attrs["task"]
        lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
        assert set(lines) == {f"spectrum {draw.alpha_label(arch.grok)}", f"spectrum {draw.alpha_label(arch.learn)}"}
        for line in lines.values():
            assert len(line.get_ydata()) == n_params(task)
            assert np.all(np.diff(line.get_ydata()) >= 0)
        assert any(np.allclose(line.get_ydata(), 0.1) for line in ax.get_lines() if not line.get_gid())


@pytest.mark.parametrize("name, experiments, tensors", [
    ("fig21", ("ising-main", "modadd-main"), (None,)),
    ("fig22", ("modadd-main",), tuple(t for t, _ in PARAM_SHAPES["modadd"])),
    ("fig23", ("ising-main",), tuple(t for t, _ in PARAM_SHAPES["ising"][:4])),
    ("fig24", ("ising-main",), tuple(t for t, _ in PARAM_SHAPES["ising"][4:])),
])
def test_fisher_pruning_figures_have_accuracy_and_loss_per_alpha(drawn, tiny_context, name, experiments, tensors):
    lines = art.artists(drawn[name], Line2D)
    expected = Counter(f"{kind} {tensor or 'all'} {draw.alpha_label(alpha)}" for experiment in experiments
                       for alpha in runs.alpha_values(tiny_context.results(experiment)) for tensor in tensors
                       for kind in ("acc", "loss"))
    assert Counter({gid: len(found) for gid, found in lines.items()}) == expected
    for line in (line for found in lines.values() for line in found):
        assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 100


@pytest.mark.parametrize("name, rows", [
    ("fig25", (("ising-main", ("per_layer", "global", "global_normalised")),
               ("modadd-main", ("per_layer", "global", "global_normalised")))),
    ("fig26", (("ising-main", ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")),)),
    ("fig27", (("modadd-main", ("fc_in.weight", "fc_out.weight")),)),
])
def test_magnitude_scheme_figures_have_a_curve_per_alpha_in_each_panel(drawn, tiny_context, name, rows):
    panels = [ax for ax in drawn[name].get_axes() if ax.get_lines()]
    expected = [(experiment, series) for experiment, row in rows for series in row]
    assert len(panels) == len(expected)
    for ax, (experiment, series) in zip(panels, expected, strict=True):
        gids = sorted(line.get_gid() for line in ax.get_lines() if line.get_gid())
        alphas = runs.alpha_values(tiny_context.results(experiment))
        assert gids == sorted(f"{series} {draw.alpha_label(alpha)}" for alpha in alphas)
