"""Tests of repro.figures.appendix_ac, appendix_df and appendix_g: Figures 9-34 drawn from the tiny stores."""

from __future__ import annotations

import math
from collections import Counter

import artists as art
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D

from grokcore.measures import ising_features, pruning
from grokcore.models import PARAM_SHAPES, n_params
from repro.figures import appendix_df, appendix_g, compression, draw, features, runs, trajectories
from repro.figures.registry import REGISTRY, render

NAMES = [f"fig{i:02d}" for i in range(9, 35)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    with plt.rc_context({"figure.max_open_warning": 0}):
        figures = {name: REGISTRY[name].draw(tiny_context) for name in NAMES}
    yield figures
    for fig in figures.values():
        plt.close(fig)




def test_every_appendix_figure_is_registered_with_notes_where_it_differs():
    assert [n for n in NAMES if n not in REGISTRY] == []
    for name in ("fig17", "fig21", "fig22", "fig23", "fig24", "fig31", "fig32", "fig33", "fig34"):
        assert REGISTRY[name].notes, name
    assert "not referenced" in REGISTRY["fig17"].title.lower()
    assert "NOT renormalised" in REGISTRY["fig21"].notes


@pytest.mark.parametrize("name", NAMES)
def test_render_writes_png_pdf_and_caption(tiny_context, tmp_path, name):
    paths = render(name, tiny_context, str(tmp_path))
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf", f"{name}.txt"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert "scale tiny" in paths[2].read_text()


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
        checkpoints = trajectories.step_measures(tiny_context, experiment)["checkpoint"].values
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


@pytest.mark.parametrize("experiment", ["ising-main", "modadd-main"])
def test_unpruned_scheme_curves_start_at_the_final_test_accuracy(tiny_context, experiment):
    final = runs.final_metrics(tiny_context, experiment)
    for scheme in ("global", "global_normalised"):
        curves = compression.magnitude_pruning(tiny_context, experiment, scheme)
        np.testing.assert_allclose(curves["acc"].isel(fraction=0).transpose("alpha", "seed"),
                                   final["test_acc"].transpose("alpha", "seed"), atol=1e-6)
        np.testing.assert_allclose(curves["loss"].isel(fraction=0).transpose("alpha", "seed"),
                                   final["test_loss"].transpose("alpha", "seed"), rtol=1e-4)


@pytest.mark.parametrize("experiment, classes", [("ising-main", 2), ("modadd-main", 113)])
def test_fisher_pruning_of_every_parameter_leaves_the_zero_network(tiny_context, experiment, classes):
    curves = compression.fisher_pruning(tiny_context, experiment)
    assert curves["fraction"].values[0] == 0 and curves["fraction"].values[-1] == 1
    np.testing.assert_allclose(curves["loss"].isel(point=-1), math.log(classes), rtol=1e-6)
    for seed in tiny_context.results(experiment)["seed"].values:
        _, y = runs.seed_test_set(tiny_context, experiment, int(seed))
        # all logits 0: argmax picks class 0
        np.testing.assert_allclose(curves["acc"].sel(seed=seed).isel(point=-1), float((y == 0).double().mean()))


def test_per_tensor_fisher_pruning_zeroes_only_that_tensor(tiny_context):
    experiment, tensor = "ising-main", "fc1.bias"
    curves = compression.fisher_pruning(tiny_context, experiment, tensor)
    ds = tiny_context.results(experiment)
    alpha, seed = runs.alpha_values(ds)[0], int(ds["seed"].values[0])
    theta = runs.final_theta(tiny_context, experiment, alpha, seed).copy()
    theta[np.asarray(tiny_context.results(experiment)["param_tensor"].values) == tensor] = 0
    loss, acc = pruning.evaluate_thetas("ising", theta[None], *runs.seed_test_set(tiny_context, experiment, seed))
    np.testing.assert_allclose(curves["loss"].sel(alpha=alpha, seed=seed).isel(point=-1), loss[0], rtol=1e-5)
    np.testing.assert_allclose(curves["acc"].sel(alpha=alpha, seed=seed).isel(point=-1), acc[0])


def test_llc_is_finite_for_every_run_and_reproducible(tiny_context):
    values = compression.llc(tiny_context, "modadd-bs200")
    assert values.dims == ("alpha", "seed") and np.isfinite(values).all()
    tiny_context.forget(("llc", "modadd-bs200"))
    np.testing.assert_array_equal(compression.llc(tiny_context, "modadd-bs200"), values)


def test_domain_walls_are_the_ordered_snapshots_below_half_magnetisation(tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    index, share = features.domain_walls(tiny_context, n=10_000)
    ordered = source["phase"].values == 1
    m_abs = np.abs(source["magnetization"].values) / 256
    assert sorted(index) == sorted(np.flatnonzero(ordered & (m_abs < 0.5)))
    assert share == pytest.approx(len(index) / ordered.sum())
