"""Tests of repro.figures.main_text: Figures 1-8 drawn from the tiny stores, their series matching the grid."""

from __future__ import annotations

import artists as art
import matplotlib.pyplot as plt
import numpy as np
import pytest
import synthetic as syn
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from repro.figures import compression, features, main_text, runs, trajectories
from repro.figures.registry import REGISTRY, Context, MissingResults

NAMES = [f"fig0{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    yield from art.drawn(tiny_context, NAMES)


def test_fig01_one_labelled_snapshot_per_temperature(drawn, tiny_context):
    source = features.ising_source(tiny_context, "ising-main")
    temperatures = np.unique(source["temperature"].values)
    axes = [ax for ax in drawn["fig01"].get_axes() if ax.images]
    assert len(axes) == min(6, len(temperatures))
    tc = source.attrs["critical_temperature"]
    for ax in axes:
        t = float(ax.get_title().split("T = ")[1].split(" ")[0])
        assert ("(ordered)" if t < tc else "(disordered)") in ax.get_title()
        assert ax.images[0].get_array().shape == (16, 16)
        assert set(np.unique(ax.images[0].get_array())) <= {-1, 1}


def test_fig02_one_train_and_one_test_line_per_alpha_per_panel(drawn, tiny_context):
    fig = drawn["fig02"]
    panels = [ax for ax in fig.get_axes() if ax.get_lines() and ax.get_xscale() == "log"]
    assert len(panels) == 4
    experiments = ["ising-main"] * 2 + ["modadd-main"] * 2
    for ax, experiment in zip(panels, experiments, strict=True):
        gids = sorted(line.get_gid() for line in ax.get_lines() if line.get_gid() not in (None, "did-not-learn"))
        alphas = runs.alpha_values(tiny_context.results(experiment))
        assert gids == sorted(f"{kind} α={a:g}" for a in alphas for kind in ("train", "test"))
    for ax, experiment in zip(panels[::2], experiments[::2], strict=True):  # the legend names unlearned α
        unlearned = "did-not-learn" in runs.majority_regime(tiny_context, experiment).values()
        assert unlearned == any(line.get_gid() == "did-not-learn" for line in ax.get_lines())
        dashed = [line for line in ax.get_lines() if line.get_gid() and line.get_gid().startswith("train")]
        assert all(line.get_linestyle() == "--" for line in dashed)


def test_fig03_scatter_of_every_test_snapshot_and_correlations_of_every_neuron(drawn, tiny_context):
    fig = drawn["fig03"]
    arch = runs.archetypes(tiny_context, "ising-main")
    n_test = len(tiny_context.task_data("ising-main", 0).y_test)
    n_seeds = tiny_context.results("ising-main").sizes["seed"]
    for alpha in (arch.grok, arch.learn):
        assert len(art.one(fig, f"scatter α={alpha:g}").get_offsets()) == n_test
        bars = [p for ax in fig.get_axes() for p in ax.patches if p.get_gid() == f"rho α={alpha:g}"]
        by_seed = features.final_correlations(tiny_context, "ising-main", alpha).values()
        rho = [layers["fc1"][0][:, 0] for layers in by_seed]
        assert len(rho) == n_seeds and all(r.shape == (100,) for r in rho)
        assert sum(bar.get_height() for bar in bars) == np.isfinite(np.concatenate(rho)).sum()
    assert f"learning α = {arch.learn:g}" in fig.get_suptitle()


def test_fig04_heatmap_is_neurons_by_frequency_and_ipr_counts_every_neuron(drawn, tiny_context):
    fig = drawn["fig04"]
    arch = runs.archetypes(tiny_context, "modadd-main")
    n_seeds = tiny_context.results("modadd-main").sizes["seed"]
    for alpha in (arch.grok, arch.learn):
        image = art.one(fig, f"spectrum α={alpha:g}")
        assert isinstance(image, AxesImage) and image.get_array().shape == (512, 57)
        # rows sorted by dominant frequency (±ω folded: ω ≥ 1 carries the power of ω and 113 − ω)
        power = np.asarray(image.get_array()) ** 2
        power[:, 1:] *= 2
        assert np.all(np.diff(power.argmax(axis=1)) >= 0)
        bars = [p for ax in fig.get_axes() for p in ax.patches if p.get_gid() == f"ipr α={alpha:g}"]
        assert sum(bar.get_height() for bar in bars) == 512 * n_seeds


def test_fig05_one_pruning_curve_per_alpha_and_one_point_per_run(drawn, tiny_context):
    fig = drawn["fig05"]
    n_fractions = len(compression.pruning_fractions("tiny"))
    for experiment in ("modadd-main", "modadd-wd", "ising-main"):
        alphas = runs.alpha_values(tiny_context.results(experiment))
        curves = [g for g in art.gids(fig) if g.startswith(f"prune {experiment} ")]
        assert sorted(curves) == sorted(f"prune {experiment} α={a:g}" for a in alphas)
        assert all(len(art.one(fig, g).get_xdata()) == n_fractions for g in curves)
    for experiment in ("modadd-main", "ising-main"):
        n_seeds = tiny_context.results(experiment).sizes["seed"]
        for alpha in runs.alpha_values(tiny_context.results(experiment)):
            points = art.one(fig, f"tradeoff {experiment} α={alpha:g}")
            assert isinstance(points, PathCollection) and len(points.get_offsets()) == n_seeds


def test_fig06_ipr_at_every_checkpoint_and_compressibility_per_regime(drawn, tiny_context):
    fig = drawn["fig06"]
    checkpoints = tiny_context.results("modadd-dynamics")["checkpoint"].values
    arch = runs.archetypes(tiny_context, "modadd-dynamics")
    for alpha in (arch.grok, arch.learn):
        np.testing.assert_array_equal(art.one(fig, f"ipr α={alpha:g}").get_xdata(), checkpoints)
        # c is drawn only where a run has learned (tiny runs may not have)
        assert set(art.one(fig, f"compressibility α={alpha:g}").get_xdata()) <= set(checkpoints)
        assert len([g for g in art.gids(fig) if g == f"test_acc α={alpha:g}"]) == 2


def test_fig07_nine_correlation_series_per_regime(drawn, tiny_context):
    fig = drawn["fig07"]
    rho = [g for g in art.gids(fig) if g.startswith("rho ")]
    assert len(rho) == 2 * 9 and len(set(rho)) == 9
    arch = runs.archetypes(tiny_context, "ising-main")
    for alpha in (arch.grok, arch.learn):
        art.one(fig, f"compressibility α={alpha:g}")
        art.one(fig, f"test_acc α={alpha:g}")


def test_fig08_grok_and_learn_curves_in_every_panel(drawn, tiny_context):
    fig = drawn["fig08"]
    for experiment in ("ising-main", "modadd-dynamics"):
        arch = runs.archetypes(tiny_context, experiment)
        checkpoints = tiny_context.results(experiment)["checkpoint"].values
        for measure in ("cosine", "origin_cosine"):
            for alpha in (arch.grok, arch.learn):
                line = art.one(fig, f"{measure} {experiment} α={alpha:g}")
                limit = trajectories.TRAJECTORY_LIMIT[tiny_context.results(experiment).attrs["task"]]
                np.testing.assert_array_equal(line.get_xdata(), checkpoints[checkpoints <= limit])
                values = line.get_ydata()
                assert np.all((np.abs(values) <= 1 + 1e-9) | np.isnan(values))


@pytest.mark.parametrize("name, experiment", [("fig01", "ising-main"), ("fig02", "ising-main"),
                                              ("fig04", "modadd-main"), ("fig06", "modadd-dynamics")])
def test_missing_experiment_names_the_run_command(tmp_path, name, experiment):
    ctx = Context(scale="tiny", results_dir=str(tmp_path / "results"), data_dir=str(tmp_path / "data"))
    with pytest.raises(MissingResults, match=f"repro run {experiment} --scale tiny"):
        REGISTRY[name].draw(ctx)


def test_the_tradeoff_fit_line_spans_only_the_runs_it_fits(tmp_path):
    ctx = syn.context(tmp_path)
    syn.ising(ctx)
    syn.final_pruning(ctx, syn.ISING, syn.ISING_ALPHAS, [np.nan, 4.0, 6.0, 8.0])  # the first α: c undefined
    syn.final_metrics(ctx, syn.ISING, train_loss=syn.per_run(syn.ISING_ALPHAS, [0.69, 0.1, 0.15, 0.2]))
    fig, ax = plt.subplots()
    main_text.tradeoff_panel(fig, ax, ctx, syn.ISING, "Ising", syn.ISING_ALPHAS)
    (line,) = [line for line in ax.get_lines() if line.get_label().startswith("linear fit")]
    assert line.get_xdata().min() == pytest.approx(0.1) and line.get_xdata().max() == pytest.approx(0.2)
    plt.close(fig)
