"""Figures 9-13 of Appendices A-C: seed distributions, extended domain walls, per-layer correlations."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from grokcore.measures import ising_features
from repro.figures import draw
from repro.figures.features import domain_walls, final_correlations, wall_snapshots
from repro.figures.registry import Context, figure
from repro.figures.runs import (
    ARCHETYPE_NOTE,
    ISING,
    MODADD,
    REGIME_LABELS,
    alpha_values,
    archetypes,
    final_metrics,
    regimes,
)

# ---------------------------------------------------------------------------- Figs 9-10: seed distributions


def _seed_summary(ctx: Context, experiment: str, task_label: str) -> plt.Figure:
    metrics, times = final_metrics(ctx, experiment), regimes(ctx, experiment)
    alphas = alpha_values(metrics)
    x = draw.seed_x(alphas, metrics.sizes["seed"])
    fig, axes = draw.subplots(2, 2, figsize=(11, 7.5))
    panels = ((axes[0, 0], metrics, ("train_acc", "test_acc"), "final accuracy"),
              (axes[0, 1], metrics, ("train_loss", "test_loss"), "final cross-entropy loss"),
              (axes[1, 1], times, ("t_train", "t_test"), "first epoch within 5% of the max accuracy"))
    for ax, source, (train, test), ylabel in panels:
        draw.points(ax, x, source[train].transpose("alpha", "seed"), alphas, train, hollow=True, linewidths=1.2)
        draw.points(ax, x, source[test].transpose("alpha", "seed"), alphas, test)
        ax.set_ylabel(ylabel)
    draw.log_scale(axes[0, 1], "y")
    learned = times["regime"].transpose("alpha", "seed") != "did-not-learn"
    delta = times["delta"].transpose("alpha", "seed")
    draw.points(axes[1, 0], x, delta.where(learned), alphas, "delta", marker="D")
    if not learned.all():  # Def. 1 is meaningless for them: marked apart, left out of every statistic
        axes[1, 0].scatter(x[~learned.values], delta.values[~learned.values], marker="x", color="0.4",
                           gid="did-not-learn", label=f"did not learn ({int((~learned).sum())} runs)")
        axes[1, 0].legend(fontsize=7)
    axes[1, 0].axhline(0, color="0.5", lw=0.8)
    axes[1, 0].set_ylabel(f"Δt_grok = t_test − t_train (Eq. 3; epochs, test every {times.attrs['eval_every']})")
    for ax in axes.flat:
        draw.alpha_axis(ax, alphas)
        ax.set_xlabel("weight multiplier α (seeds side by side)")
    axes[0, 0].set_title("open: train · filled: test", fontsize=9)
    draw.alpha_colorbar(fig, axes, alphas)
    draw.panel_labels(axes)
    fig.suptitle(f"{task_label}: every seed's end of training and grokking time ({metrics.sizes['seed']} seeds per α)")
    return fig


@figure("fig09", "Ising: per-seed final train/test accuracy and loss, and grokking times (Def. 1), against α",
        (ISING,),
        notes="t_train, t_test by Def. 1 read as 'within 5% of the maximum, relative'; the Ising test set is "
              "evaluated every eval_every epochs, so t_test has that resolution. Runs that did not learn (final "
              "test accuracy < 0.55) are crosses in the Δt panel and count as neither grokking nor learning. "
              "α grid and seed count per scale (the paper's grid is not published).")
def fig09(ctx: Context) -> plt.Figure:
    return _seed_summary(ctx, ISING, "Ising")


@figure("fig10", "Mod-add: per-seed final train/test accuracy and loss, and grokking times (Def. 1), against α",
        (MODADD,),
        notes="Def. 1 read as 'within 5% of the maximum, relative'. Test metrics are whole-test-set means (the "
              "authors' code divided inside its batch loop). Runs that did not learn (final test accuracy below "
              "chance + 10% of the way to 1) are crosses in the Δt panel. α grid and seed count per scale.")
def fig10(ctx: Context) -> plt.Figure:
    return _seed_summary(ctx, MODADD, "Modular addition")


# ------------------------------------------------------------------------------ Fig 11: extended domain walls


@figure("fig11", "Extended domain-wall snapshots: ordered (T < T_c) Ising snapshots with |m| < 0.5",
        (ISING,),
        notes="From this artifact's Glauber Monte Carlo data (temperature range and update count guessed, spec "
              "§2.3), not the authors' Zenodo data; the lowest-|m| examples are shown.")
def fig11(ctx: Context) -> plt.Figure:
    index, share = domain_walls(ctx)
    walls = wall_snapshots(ctx)
    n_sites = walls.sizes["y"] * walls.sizes["x"]
    fig, axes = draw.subplots(2, 4, figsize=(10, 5.6))
    for ax, k, wall in zip(axes.flat, index, range(walls.sizes["wall"]), strict=False):
        snapshot = walls.isel(wall=wall)
        ax.imshow(snapshot["spins"].values, cmap="gray", vmin=-1, vmax=1, interpolation="nearest", gid=f"wall {k}")
        ax.set_title(f"T = {float(snapshot['temperature']):.2f}, m = "
                     f"{float(snapshot['magnetization']) / n_sites:+.2f}\nE = {float(snapshot['energy']):.0f}",
                     fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    fig.suptitle(f"Extended domain walls: {100 * share:.1f}% of the ordered snapshots have |m| < 0.5 "
                 f"({len(index)} shown, lowest |m| first; white = +1)", fontsize=10)
    return fig


# ------------------------------------------------------------------- Figs 12-13: per-layer correlations, seeds


def _correlation_figure(ctx: Context, regime: str) -> plt.Figure:
    arch = archetypes(ctx, ISING)
    alpha = arch.alpha(regime)
    by_seed = final_correlations(ctx, ISING, alpha)
    features = [ising_features.FEATURES.index(f) for f in ("energy", "abs_magnetization", "magnetization")]
    color = draw.REGIME_COLORS[regime]
    fig, axes = draw.subplots(3, 3, figsize=(11, 9), sharey=True)
    jitter = np.random.default_rng(0)
    for row, layer in enumerate(ising_features.LAYERS):
        for col, f in enumerate(features):
            ax = axes[row, col]
            for j, (seed, layers) in enumerate(by_seed.items()):
                rho, weights = layers[layer]
                ax.scatter(j + jitter.uniform(-0.3, 0.3, len(rho)), rho[:, f], s=4, alpha=0.35, color=color,
                           rasterized=True, gid=f"rho {layer} {ising_features.FEATURES[f]} seed={seed}")
                bar = ising_features.weighted_correlation(rho, weights)[f]
                ax.plot([j - 0.4, j + 0.4], [bar, bar], color="k", lw=1.5)
                if np.isnan(rho[:, f]).any():
                    ax.text(j, -1.13, f"{int(np.isnan(rho[:, f]).sum())}∅", ha="center", fontsize=6, color="0.4")
            ax.set_xticks(range(len(by_seed)), [str(s) for s in by_seed])
            ax.set_ylim(-1.18, 1.05)
            ax.axhline(0, color="0.6", lw=0.6)
            ax.set_title(f"{draw.LAYER_LABELS[layer]}: ρ with {draw.FEATURE_LABELS[ising_features.FEATURES[f]]}",
                         fontsize=10)
            if col == 0:
                ax.set_ylabel("ρ per neuron")
            if row == 2:
                ax.set_xlabel("seed")
    draw.panel_labels(axes)
    kind = REGIME_LABELS[regime]
    fig.suptitle(f"Ising, {kind} α = {alpha:g}: Pearson ρ of every neuron's pre-activation with the feature at the "
                 f"end of training, per seed\n({arch.reason}); black bar: weighted |ρ| (Eq. 6); n∅: neurons with a "
                 "constant pre-activation", fontsize=10)
    return fig


_CORRELATION_NOTES = ("A conv 'neuron' is one (channel, y, x) unit (spec §4.4); ρ over each seed's own test "
                      "snapshots. " + ARCHETYPE_NOTE + " The paper's App. C cites fig. 13 for both regimes; we "
                      "take Fig. 12 as the grokking one.")


@figure("fig12", "Ising grokking regime: per-layer (conv1, conv2, FC) correlations of every neuron with E, |M| and "
        "M, for every seed", (ISING,), notes=_CORRELATION_NOTES)
def fig12(ctx: Context) -> plt.Figure:
    return _correlation_figure(ctx, "grok")


@figure("fig13", "Ising learning regime: per-layer (conv1, conv2, FC) correlations of every neuron with E, |M| and "
        "M, for every seed", (ISING,), notes=_CORRELATION_NOTES)
def fig13(ctx: Context) -> plt.Figure:
    return _correlation_figure(ctx, "learn")

