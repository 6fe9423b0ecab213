"""Figures 28-34 of Appendix G: Ising feature development and the Fisher geometry of the training steps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from grokcore.measures import ising_features
from repro.figures import draw
from repro.figures.features import FEATURE_CHECKPOINTS, feature_dynamics
from repro.figures.registry import Context, figure
from repro.figures.runs import ARCHETYPE_NOTE, ISING, MODADD_DYNAMICS, TASK_ARCHETYPES, archetypes, transition_epochs
from repro.figures.trajectories import fisher_roots, magnitude_gradient, seed_mean

FEATURE_COLORS = {"energy": "#1b9e77", "magnetization": "#d95f02", "abs_magnetization": "#7570b3"}

# --------------------------------------------------------------------------- Figs 28-30: App. G.1 feature dynamics


G1_MEASURES = (("weighted_correlation", "weighted |ρ| (Eq. 6)"),
               ("best_fraction", "fraction of neurons\nbest correlated with"),
               ("best_share", "share of the pre-activation\nof neurons best with"))
_G1_NOTES = ("The fraction and share measures are read from the App. G.1 text (spec §4.4, inferred): a neuron "
             "counts for the feature of its largest |ρ|; a conv neuron is one (channel, y, x) unit. Evaluated at "
             f"~{FEATURE_CHECKPOINTS} checkpoints per run (all of them when fewer), shared with Fig. 7. "
             + ARCHETYPE_NOTE + " Seed means.")


def _feature_dynamics_figure(ctx: Context, layer: str) -> plt.Figure:
    arch = archetypes(ctx, ISING)
    values = feature_dynamics(ctx, ISING, (arch.grok, arch.learn)).sel(layer=layer).mean("seed")
    epochs = values["checkpoint"].values
    fig, axes = draw.subplots(3, 2, figsize=(11, 8.5), sharex=True, sharey="row")
    for col, (_, kind, alpha) in enumerate(arch.columns()):
        for row, (name, ylabel) in enumerate(G1_MEASURES):
            ax = axes[row, col]
            for feature in ising_features.FEATURES:
                ax.plot(epochs, values[name].sel(alpha=alpha, feature=feature).values, color=FEATURE_COLORS[feature],
                        label=draw.FEATURE_LABELS[feature], gid=f"{name} {feature} {draw.alpha_label(alpha)}")
            ax.set_ylabel(ylabel, fontsize=9)
            ax.set_ylim(-0.02, 1.02)
        axes[0, col].set_title(f"{kind} {draw.alpha_label(alpha)}", fontsize=10)
        axes[-1, col].set_xlabel("epoch")
        draw.transition_lines(axes[0, col], transition_epochs(ctx, ISING, alpha))
    axes[0, 0].legend(title="feature", fontsize=8)
    draw.panel_labels(axes)
    fig.suptitle(f"Ising, {draw.LAYER_LABELS[layer]} layer: feature development during training (seed means; "
                 f"dashed: the column's α reaches 90% of its max train, then test accuracy)", fontsize=10)
    return fig


@figure("fig28", "Ising conv1: weighted correlation, fraction of neurons by best feature and share of "
        "pre-activation for E, M, |M| against epoch, grokking vs learning", (ISING,), notes=_G1_NOTES)
def fig28(ctx: Context) -> plt.Figure:
    return _feature_dynamics_figure(ctx, "conv1")


@figure("fig29", "Ising conv2: weighted correlation, fraction of neurons by best feature and share of "
        "pre-activation for E, M, |M| against epoch, grokking vs learning", (ISING,), notes=_G1_NOTES)
def fig29(ctx: Context) -> plt.Figure:
    return _feature_dynamics_figure(ctx, "conv2")


@figure("fig30", "Ising FC layer: weighted correlation, fraction of neurons by best feature and share of "
        "pre-activation for E, M, |M| against epoch, grokking vs learning", (ISING,), notes=_G1_NOTES)
def fig30(ctx: Context) -> plt.Figure:
    return _feature_dynamics_figure(ctx, "fc1")


# --------------------------------------------------------------------------- Figs 31-34: Fisher step geometry


_GEOMETRY_NOTES = ("The Fisher diagonal is evaluated at exactly each stored θ_k (the authors' lagged the checkpoint "
                   "by one epoch, a whole sample at mod-add's per-epoch spacing) and each value is drawn at its own "
                   "epoch (the authors' plots shifted the origin-cosine and gradient series by one sample); window "
                   "as the paper's plots (Ising ≤ 50,000, mod-add ≤ 200 epochs). Dashed: the authors' get_times "
                   "lines (0.9 of the max seed-mean train/test accuracy of the grokking α). " + ARCHETYPE_NOTE
                   + " Seed means.")


def _regime_lines(ax, ctx: Context, experiment: str, measure: str, metric: str = "fisher", subspace: str = "all",
                  **kwargs) -> None:
    """One seed-mean line per regime (gid "<measure> <subspace> α=a") against the epoch of its checkpoint."""
    for regime, kind, alpha in archetypes(ctx, experiment).columns():
        values = seed_mean(ctx, experiment, measure, alpha, metric, subspace)
        ax.plot(values["checkpoint"].values, values.values, color=draw.REGIME_COLORS[regime],
                gid=f"{measure} {subspace} {draw.alpha_label(alpha)}",
                label=f"{kind} {draw.alpha_label(alpha)}" + ("" if subspace == "all" else f", {subspace}"), **kwargs)


@figure("fig31", "Ising step magnitudes: Fisher |s_k|_F (Eq. 8) vs Euclidean ‖s_k‖, grokking vs learning",
        (ISING,), notes=_GEOMETRY_NOTES)
def fig31(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, ylabel in ((axes[0], "fisher", "Fisher step magnitude |s_k|_F"),
                               (axes[1], "euclid", "Euclidean step magnitude ‖s_k‖")):
        _regime_lines(ax, ctx, ISING, "magnitude", metric)
        draw.transition_lines(ax, transition_epochs(ctx, ISING))
        draw.log_scale(ax, "y")
        ax.set_xlabel("epoch e_k (start of the step)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    draw.panel_labels(axes)
    fig.suptitle("Ising: length of the step between consecutive checkpoints, Fisher vs Euclidean metric (seed means)",
                 fontsize=10)
    return fig


@figure("fig32", "Fisher step magnitudes without and with the stiff/sloppy split (final Fisher ≥ 0.1), grokking "
        "vs learning; Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig32(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, title) in enumerate(TASK_ARCHETYPES):
        _regime_lines(axes[row, 0], ctx, experiment, "magnitude")
        _regime_lines(axes[row, 1], ctx, experiment, "magnitude", subspace="stiff")
        _regime_lines(axes[row, 1], ctx, experiment, "magnitude", subspace="sloppy", ls=":")
        for ax, what in zip(axes[row], ("all parameters", "stiff (solid) and sloppy (dotted) subspaces"), strict=True):
            draw.transition_lines(ax, transition_epochs(ctx, experiment))
            draw.log_scale(ax, "y")
            ax.set_title(f"{title}: {what}", fontsize=10)
            ax.set_xlabel("epoch e_k (start of the step)")
            ax.set_ylabel("Fisher step magnitude |s_k|_F")
            ax.legend(fontsize=7)
    draw.panel_labels(axes)
    fig.suptitle("Fisher step magnitudes (Eq. 8) on the whole model and on the stiff / sloppy subspaces (seed means)",
                 fontsize=10)
    return fig


@figure("fig33", "Discrete gradient of the seed-mean Fisher step magnitude with its roots marked, grokking vs "
        "learning; Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig33(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(1, 2, figsize=(12, 4.6))
    for ax, (experiment, title) in zip(axes, TASK_ARCHETYPES, strict=True):
        largest, grok_roots = 0.0, []
        for regime, kind, alpha in archetypes(ctx, experiment).columns():
            color, label = draw.REGIME_COLORS[regime], f"{kind} {draw.alpha_label(alpha)}"
            x, g = magnitude_gradient(ctx, experiment, alpha)
            roots = fisher_roots(ctx, experiment, alpha)
            ax.plot(x, g, color=color, marker=".", ms=3, label=label, gid=f"gradient {draw.alpha_label(alpha)}")
            if regime == "grok":  # shade the epochs between which the gradient changes sign
                for lo, hi in roots:
                    ax.axvspan(lo, hi, color=color, alpha=0.25, lw=1.5,
                               gid=f"root {experiment} {draw.alpha_label(alpha)}")
            else:  # the learning curve's many small oscillations would hide the shading: mark them
                ax.plot(roots.mean(axis=1), np.zeros(len(roots)), ls="none", marker="x", ms=6, color=color,
                        gid=f"roots {experiment} {draw.alpha_label(alpha)}")
            largest = max(largest, float(np.nanmax(np.abs(g), initial=0.0)))
            grok_roots = roots if regime == "grok" else grok_roots
        draw.transition_lines(ax, transition_epochs(ctx, experiment))
        ax.axhline(0, color="0.4", lw=0.8)
        if largest > 0:
            ax.set_yscale("symlog", linthresh=largest / 1e3)
        ax.set_xlabel("epoch e_k")
        ax.set_ylabel("(|s_{k+1}|_F − |s_k|_F) / (e_{k+1} − e_k)")
        first = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in grok_roots[:3])
        ax.set_title(f"{title}: " + (f"first grokking roots between epochs {first}" if first else
                                     "no grokking root"), fontsize=9)
        ax.legend(fontsize=8)
    draw.panel_labels(axes)
    fig.suptitle("Discrete gradient of the seed-mean Fisher step magnitude; a root (sign change between consecutive "
                 "samples) is shaded (grokking) or marked × (learning); symlog y", fontsize=10)
    return fig


@figure("fig34", "Consecutive-step Fisher cosine (Eq. 9) on the stiff and sloppy subspaces, grokking vs learning; "
        "Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig34(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 7.5), sharey=True)
    for row, (experiment, title) in enumerate(TASK_ARCHETYPES):
        for col, subspace in enumerate(("stiff", "sloppy")):
            ax = axes[row, col]
            _regime_lines(ax, ctx, experiment, "cosine", subspace=subspace)
            draw.transition_lines(ax, transition_epochs(ctx, experiment))
            ax.axhline(0, color="0.7", lw=0.6)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"{title}: {subspace} subspace", fontsize=10)
            ax.set_xlabel("epoch e_k (checkpoint shared by the two steps)")
            ax.set_ylabel("S_F(s_{k−1}, s_k)")
            ax.legend(fontsize=7)
    draw.panel_labels(axes)
    fig.suptitle("Fisher cosine of consecutive steps on the stiff / sloppy subspaces (final Fisher ≥ / < 0.1; seed "
                 "means)", fontsize=10)
    return fig

