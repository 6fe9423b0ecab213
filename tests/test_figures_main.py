"""Tests of repro.figures.main_text: Figures 1-8 drawn from the tiny stores, their series matching the grid."""

from __future__ import annotations

import artists as art
import matplotlib.pyplot as plt
import numpy as np
import pytest
import synthetic as syn
import xarray as xr
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from grokcore.measures import pruning
from repro.figures import compression, features, runs, trajectories
from repro.figures.registry import REGISTRY, Context, MissingResults, render

NAMES = [f"fig0{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def drawn(tiny_context):
    figures = {name: REGISTRY[name].draw(tiny_context) for name in NAMES}
    yield figures
    for fig in figures.values():
        plt.close(fig)



@pytest.mark.parametrize("name", NAMES)
def test_render_writes_png_pdf_and_caption(tiny_context, tmp_path, name):
    paths = render(name, tiny_context, str(tmp_path))
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf", f"{name}.txt"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert "scale tiny" in paths[2].read_text()


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


def test_final_pruning_uses_each_seeds_own_test_set(tiny_context):
    curves = compression.magnitude_pruning(tiny_context, "modadd-main")
    alpha, seed = runs.alpha_values(tiny_context.results("modadd-main"))[0], 1
    x, y = runs.seed_test_set(tiny_context, "modadd-main", seed)
    theta = runs.final_theta(tiny_context, "modadd-main", alpha, seed)
    direct = pruning.pruning_curve("modadd", theta, x, y, compression.pruning_fractions("tiny"))
    np.testing.assert_allclose(curves["acc"].sel(alpha=alpha, seed=seed).values, direct.acc)
    c = compression.final_compressibility(tiny_context, "modadd-main").sel(alpha=alpha, seed=seed)
    np.testing.assert_allclose(float(c), pruning.compressibility(direct.fraction, direct.acc))


def test_archetypes_of_a_two_alpha_modadd_grid_are_its_ends(tiny_context):
    arch = runs.archetypes(tiny_context, "modadd-dynamics")
    alphas = runs.alpha_values(tiny_context.results("modadd-dynamics"))
    assert (arch.grok, arch.learn) == (max(alphas), min(alphas))


def test_ising_learning_alpha_is_below_the_grokking_alpha(tiny_context):
    arch = runs.archetypes(tiny_context, "ising-main")
    assert arch.grok == max(runs.alpha_values(tiny_context.results("ising-main"))) and arch.learn < arch.grok


def test_linear_fit_recovers_an_exact_line_and_needs_three_points():
    fit = runs.linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(1) and fit.r2 == pytest.approx(1)
    assert fit.n == 4
    assert np.isnan(runs.linear_fit([0, 1, np.nan], [1, 2, 3]).r2)
    assert runs.linear_fit([1, 2, 3], [1, 3, 2]).r2 == pytest.approx(0.25)


@pytest.mark.parametrize("n", [5, 40])
def test_thin_checkpoints_keeps_ends_and_at_most_about_n(n):
    epochs = np.concatenate([np.arange(500), np.arange(500, 1001, 10)])
    index = runs.thin_checkpoints(epochs, n)
    assert index[0] == 0 and index[-1] == len(epochs) - 1
    assert np.all(np.diff(index) > 0) and len(index) <= n + 2
    np.testing.assert_array_equal(runs.thin_checkpoints(epochs[:4], n), np.arange(4))


def test_pruning_fractions_run_from_zero_to_one():
    for scale, trajectory, size in (("full", False, 101), ("quick", True, 21), ("tiny", False, 11),
                                    ("tiny", True, 6)):
        grid = compression.pruning_fractions(scale, trajectory)
        assert len(grid) == size and grid[0] == 0 and grid[-1] == 1


def test_learned_is_the_last_evaluated_test_accuracy_halfway_above_chance():
    acc = np.full((1, 1, 10), np.nan)
    acc[0, 0, 1::2] = [0.5, 0.6, 0.8, 0.9, 1.0]  # evaluated after epochs 2, 4, 6, 8, 10; chance 0.5 (Ising)
    coords = {"alpha": [1.0], "seed": [0], "epoch": np.arange(10), "checkpoint": [0, 3, 6, 7, 10]}
    ds = xr.Dataset({"test_acc": (("alpha", "seed", "epoch"), acc)}, coords=coords, attrs={"task": "ising"})
    # level 0.75: reached by the evaluation after epoch 6, which also holds at checkpoint 7
    np.testing.assert_array_equal(runs.learned(ds).values[0, 0], [False, False, True, True, True])


def test_dynamics_compressibility_is_nan_before_a_run_has_learned(tiny_context):
    arch = runs.archetypes(tiny_context, "modadd-dynamics")
    c = compression.dynamics_compressibility(tiny_context, "modadd-dynamics", (arch.grok, arch.learn))
    done = runs.learned(tiny_context.results("modadd-dynamics"))
    done = done.sel(checkpoint=c["checkpoint"], alpha=c["alpha"])
    assert c.dims == ("alpha", "seed", "checkpoint")
    assert np.isnan(c.values[~done.transpose(*c.dims).values]).all()
    assert np.isfinite(c.values[done.transpose(*c.dims).values]).all() or not done.any()


@pytest.mark.parametrize(("per_alpha", "grok", "learn"), [
    (("steady", "steady", "grok", "grok"), 3.0, 0.1),
    (("did-not-learn", "steady", "grok", "did-not-learn"), 1.0, 0.3),  # neither archetype may be unlearned
    (("did-not-learn", "did-not-learn", "did-not-learn", "did-not-learn"), 3.0, 0.1),  # nothing learned
    (("steady", "did-not-learn", "did-not-learn", "did-not-learn"), 3.0, 0.1),  # grok ≠ learn
])
def test_ising_archetypes_skip_runs_that_did_not_learn(per_alpha, grok, learn, tmp_path):
    ctx = syn.context(tmp_path)
    syn.ising(ctx, per_alpha)
    assert runs.archetypes(ctx, "ising-main")[:2] == (grok, learn)
    assert runs.majority_regime(ctx, "ising-main") == dict(zip(syn.ISING_ALPHAS, per_alpha, strict=True))
