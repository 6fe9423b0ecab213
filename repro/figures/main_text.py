"""Figures 1-8 of the main text: Ising data, training curves, features, Fourier IPR, pruning and dynamics."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from repro.figures import draw
from repro.figures.compression import (
    COMPRESSIBILITY_CHECKPOINTS,
    compressibility_fit,
    dynamics_compressibility,
    final_compressibility,
    magnitude_pruning,
)
from repro.figures.features import (
    FEATURE_CHECKPOINTS,
    PAPER_IPR,
    energy_scatter,
    feature_dynamics,
    final_correlations,
    ipr_dynamics,
    neuron_iprs,
    temperature_snapshots,
    unembedding_spectrum,
)
from repro.figures.registry import Context, figure
from repro.figures.runs import (
    ISING,
    MODADD,
    MODADD_DYNAMICS,
    MODADD_WD,
    Archetypes,
    alpha_values,
    alphas_in,
    archetypes,
    final_metrics,
    seed_mean_curve,
    transition_epochs,
)
from repro.figures.trajectories import step_measures


def _regime_title(kind: str, alpha: float) -> str:
    return f"{kind} α = {alpha:g}"


@figure("fig01", "Ising snapshots at increasing temperature through T_c, labelled with T and phase",
        (ISING,), notes="one snapshot per temperature (the one with the median |M| there); "
                               "temperatures spread over the data's range")
def fig01(ctx: Context) -> plt.Figure:
    snapshots = temperature_snapshots(ctx, ISING)
    picked = snapshots["temperature"].values
    tc = snapshots.attrs["critical_temperature"]
    fig, axes = draw.subplots(1, len(picked), figsize=(2.2 * len(picked), 2.8), squeeze=False)
    for ax, t in zip(axes[0], picked, strict=True):
        spins = snapshots["spins"].sel(temperature=t).values
        ax.imshow(spins, cmap="gray", vmin=-1, vmax=1, interpolation="nearest", gid=f"snapshot T={t:.3f}")
        phase = "ordered" if t < tc else "disordered"
        m = float(snapshots["magnetization"].sel(temperature=t)) / spins.size
        ax.set_title(f"T = {t:.2f} ({phase})\n|m| = {m:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Ising snapshots {spins.shape[0]}×{spins.shape[1]} (white = +1, black = −1); "
                 f"T_c = {tc:.3f} (J = k_B = 1)", fontsize=10)
    return fig


def _training_panels(fig, axes, ctx: Context, experiment: str, task_label: str, not_learned=()) -> None:
    """Seed-mean accuracy and loss curves per α; α in `not_learned` (most seeds did not learn) drawn thin and
    faint, with their own legend entry, since their Def. 1 times are meaningless."""
    alphas = alpha_values(ctx.results(experiment))
    colors = draw.alpha_colors(alphas)
    for alpha, color in zip(alphas, colors, strict=True):
        faint = {"lw": 0.7, "alpha": 0.45} if alpha in not_learned else {"lw": 1.2}
        for (kind, dash), ax_index in ((("train", "--"), 0), (("test", "-"), 0), (("train", "--"), 1),
                                       (("test", "-"), 1)):
            metric = ("acc", "loss")[ax_index]
            epochs, values = seed_mean_curve(ctx, experiment, f"{kind}_{metric}", alpha)
            scale = 100 if metric == "acc" else 1
            axes[ax_index].plot(epochs, scale * values, dash, color=color, **faint,
                                gid=f"{kind} α={alpha:g}")
    if not_learned:
        axes[0].plot([], [], "-", color="0.6", lw=0.7, gid="did-not-learn",
                     label="did not learn: α=" + ", ".join(f"{a:g}" for a in not_learned))
    for ax, label in zip(axes, ("accuracy (%)", "cross-entropy loss (nats)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{task_label}: {label.split(' (')[0]}", fontsize=10)
    axes[1].set_yscale("log")
    axes[0].plot([], [], "k--", label="train")
    axes[0].plot([], [], "k-", label="test")
    axes[0].legend(loc="lower right", fontsize=8)
    draw.alpha_colorbar(fig, list(axes), alphas)


@figure("fig02", "Train (dashed) and test (solid) accuracy and loss vs epoch, seed mean, colour = α; "
        "(a) Ising (b) modular addition", (ISING, MODADD),
        notes="mean over all seeds of the grid (the paper: 5 Ising seeds); x = epochs completed, log scale; α "
              "whose seeds mostly did not learn (final test accuracy below chance + 10% of the way to 1) are "
              "drawn thin and faint and named in the legend")
def fig02(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, label) in enumerate(((ISING, "(a) Ising"), (MODADD, "(b) mod-add"))):
        ds = ctx.results(experiment)
        not_learned = alphas_in(ctx, experiment, "did-not-learn")
        _training_panels(fig, axes[row], ctx, experiment, f"{label}, {ds.sizes['seed']} seeds", not_learned)
    return fig


@figure("fig03", "Ising: energy vs pre-activation of the most activated FC neuron (top) and the distribution "
        "of per-neuron correlations with energy over all FC neurons (bottom), grokking vs learning α",
        (ISING,),
        notes="most activated = largest mean |pre-activation| over the test set (spec §4.4 default); top: "
              "first seed; bottom: all seeds pooled; learning α chosen by Def. 1-2 (see the title)")
def fig03(ctx: Context) -> plt.Figure:
    ds = ctx.results(ISING)
    arch = archetypes(ctx, ISING)
    seeds = [int(s) for s in ds["seed"].values]
    fig, axes = draw.subplots(2, 2, figsize=(10, 8))
    for col, (regime, kind, alpha) in enumerate(arch.columns()):
        color = draw.REGIME_COLORS[regime]
        scatter = energy_scatter(ctx, ISING, alpha, seeds[0])
        neuron, rho = scatter.attrs["neuron"], scatter.attrs["rho"]
        ax = axes[0, col]
        points = ax.scatter(scatter["pre_activation"].values, scatter["energy"].values,
                            c=scatter["temperature"].values, cmap="viridis", s=6, gid=f"scatter α={alpha:g}")
        fig.colorbar(points, ax=ax, label="temperature T")
        ax.set_xlabel(f"pre-activation of FC neuron {neuron}")
        ax.set_ylabel("energy E (units of J)")
        ax.set_title(f"{_regime_title(kind, alpha)}, seed {seeds[0]}: ρ(E) = {rho:+.3f}", fontsize=10)
        by_seed = final_correlations(ctx, ISING, alpha).values()
        rhos = np.concatenate([layers["fc1"][0][:, 0] for layers in by_seed])
        ax = axes[1, col]
        ax.hist(rhos[np.isfinite(rhos)], bins=np.linspace(-1, 1, 41), color=color, gid=f"rho α={alpha:g}")
        ax.set_xlabel("correlation ρ of FC pre-activation with E")
        ax.set_ylabel("neurons")
        ax.set_title(f"{_regime_title(kind, alpha)}: {rhos.size} neurons ({len(seeds)} seeds), "
                     f"{int(np.isnan(rhos).sum())} constant", fontsize=10)
    fig.suptitle(f"Ising FC layer at the end of training: grokking α = {arch.grok:g}, learning α = "
                 f"{arch.learn:g} ({arch.reason})", fontsize=10)
    draw.panel_labels(axes)
    return fig


def _ipr_panel(ax, neurons: xr.Dataset, alpha, regime, color):
    iprs, iprs_in = neurons["output"].values, neurons["input"].values
    bins = np.linspace(0, 1, 41)
    ax.hist(iprs[np.isfinite(iprs)], bins=bins, color=color, alpha=0.8, gid=f"ipr α={alpha:g}",
            label=f"unembedding W_out, mean {np.nanmean(iprs):.2f}")
    ax.hist(iprs_in[np.isfinite(iprs_in)], bins=bins, histtype="step", color="k", gid=f"ipr-in α={alpha:g}",
            label=f"embedding W_in (a, b mean), mean {np.nanmean(iprs_in):.2f}")
    ax.axvline(np.nanmean(iprs), color="k", lw=1)
    ax.axvline(PAPER_IPR[regime], color="k", ls=":", lw=1, label=f"paper mean {PAPER_IPR[regime]:.2f}")
    ax.set_xlabel("Fourier IPR per neuron (Eq. 4, r = 2)")
    ax.set_ylabel("neurons")
    ax.set_ylim(0, 1.35 * ax.get_ylim()[1])  # room for the legend above the bars
    ax.legend(fontsize=7, loc="upper right")


@figure("fig04", "Mod-add: |Fourier transform| of the unembedding per neuron and frequency (top) and the "
        "per-neuron IPR distribution (bottom), grokking (α=10) vs learning (α=0.1)", (MODADD,),
        notes="heatmap of the first seed, rows sorted by dominant frequency, ω ≤ 56 shown (|û(ω)| = "
              "|û(113−ω)|); IPR histograms pool all seeds; the embedding IPR is overlaid (black outline). IPR "
              "as Eq. 7 is printed (two-sided DFT over ω = 0..112): a real vector's power sits on ±ω, so no "
              "non-constant neuron exceeds 0.5 and the paper's learning mean 0.53 (dotted) is above that ceiling; "
              "the claims report gives the one-sided and real-basis variants and the alive-neuron mean too")
def fig04(ctx: Context) -> plt.Figure:
    ds = ctx.results(MODADD)
    arch = archetypes(ctx, MODADD)
    seeds = [int(s) for s in ds["seed"].values]
    fig, axes = draw.subplots(2, 2, figsize=(11, 9), gridspec_kw={"height_ratios": [1.5, 1]})
    for col, (regime, kind, alpha) in enumerate(arch.columns()):
        color = draw.REGIME_COLORS[regime]
        ax = axes[0, col]
        image = ax.imshow(unembedding_spectrum(ctx, MODADD, alpha, seeds[0]), aspect="auto", cmap="magma",
                          interpolation="nearest", gid=f"spectrum α={alpha:g}")
        fig.colorbar(image, ax=ax, label="|û(ω)|")
        ax.set_xlabel("frequency ω")
        ax.set_ylabel("hidden neuron (sorted by dominant ω)")
        ax.set_title(f"{_regime_title(kind, alpha)}: unembedding W_out, seed {seeds[0]}", fontsize=10)
        _ipr_panel(axes[1, col], neuron_iprs(ctx, MODADD, alpha), alpha, regime, color)
        axes[1, col].set_title(f"{_regime_title(kind, alpha)}: {len(seeds)} seeds × 512 neurons", fontsize=10)
    fig.suptitle(f"Mod-add Fourier features at the end of training ({arch.reason})", fontsize=10)
    draw.panel_labels(axes)
    return fig


def _pruning_panel(fig, ax, ctx: Context, experiment: str, title: str, legend: bool = True) -> None:
    acc = magnitude_pruning(ctx, experiment)["acc"]
    alphas = alpha_values(acc)
    for alpha, color in zip(alphas, draw.alpha_colors(alphas), strict=True):
        ax.plot(100 * acc["fraction"].values, 100 * acc.sel(alpha=alpha).mean("seed").values, color=color,
                lw=1.3, gid=f"prune {experiment} α={alpha:g}")
    ax.set_xlabel("weights pruned in each layer (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    if legend:
        draw.alpha_colorbar(fig, ax, alphas)


def tradeoff_panel(fig, ax, ctx: Context, experiment: str, title: str, fit_alphas) -> None:
    c = final_compressibility(ctx, experiment)
    loss = final_metrics(ctx, experiment)["train_loss"]
    alphas = alpha_values(c)
    for alpha, color in zip(alphas, draw.alpha_colors(alphas), strict=True):
        ax.scatter(loss.sel(alpha=alpha).values, c.sel(alpha=alpha).values, color=color, s=22, edgecolor="k",
                   linewidth=0.3, gid=f"tradeoff {experiment} α={alpha:g}")
    fit = compressibility_fit(ctx, experiment, "train_loss", fit_alphas)
    if np.isfinite(fit.slope):
        fitted = loss.sel(alpha=list(fit_alphas)).where(np.isfinite(c.sel(alpha=list(fit_alphas))))
        x = np.linspace(*np.nanpercentile(fitted.values, [0, 100]), 20)  # over the runs fitted: c defined
        ax.plot(x, fit.slope * x + fit.intercept, "k--", lw=1,
                label=f"linear fit, {'steady α' if len(fit_alphas) < len(alphas) else 'all α'}: "
                      f"slope {fit.slope:.3g}, R² = {fit.r2:.2f} (n = {fit.n})")
        ax.legend(fontsize=7)
    ax.set_xlabel("final train loss (nats)")
    ax.set_ylabel("compressibility c (Eq. 5)")
    ax.set_title(title, fontsize=10)


@figure("fig05", "Per-layer magnitude pruning: test accuracy vs fraction pruned per α (seed mean), inset at "
        "ten-fold weight decay; compressibility vs final train loss for every α × seed; mod-add and Ising",
        (MODADD, ISING, MODADD_WD),
        notes="panels follow the paper's text: (a) mod-add with the wd=3e-4 inset, (b) Ising, (c) mod-add "
              "and (d) Ising trade-off (the caption says (a) Ising, (b) mod-add; spec §4.19 item 10); the "
              "mod-add line is fitted over the α that learn steadily (Def. 2), the Ising one over all runs")
def fig05(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 9))
    _pruning_panel(fig, axes[0, 0], ctx, MODADD, "mod-add, weight decay 3e-5")
    inset = axes[0, 0].inset_axes([0.1, 0.1, 0.42, 0.42])
    _pruning_panel(fig, inset, ctx, MODADD_WD, "weight decay 3e-4", legend=False)
    inset.set_xlabel("pruned (%)", fontsize=7)
    inset.set_ylabel("test acc. (%)", fontsize=7)
    inset.tick_params(labelsize=6)
    _pruning_panel(fig, axes[0, 1], ctx, ISING, "Ising")
    tradeoff_panel(fig, axes[1, 0], ctx, MODADD, "mod-add: compressibility vs end train loss",
                    alphas_in(ctx, MODADD, "steady"))
    tradeoff_panel(fig, axes[1, 1], ctx, ISING, "Ising: compressibility vs end train loss",
                    alpha_values(ctx.results(ISING)))
    draw.panel_labels(axes)
    return fig


def _dynamics_column(axes, ctx, experiment, alpha, kind, rows, accuracy: bool = True) -> None:
    """One column of Figs 6-7: each row (DataArray (alpha, seed, checkpoint, ...), ylabel, plot) vs epoch,
    with the seed-mean accuracy on a twin axis if `accuracy`."""
    ds = ctx.results(experiment)
    for ax, (values, ylabel, plot) in zip(axes, rows, strict=True):
        plot(ax, values.sel(alpha=alpha))
        ax.set_ylabel(ylabel)
        ax.set_xlabel("epoch")
        ax.set_title(_regime_title(kind, alpha), fontsize=10)
        ax.set_xscale("symlog", linthresh=max(float(ds["checkpoint"].values[1]), 1.0))
        ax.set_xlim(0, float(ds["checkpoint"].values[-1]))
        if accuracy:
            draw.accuracy_twin(ax, {name: seed_mean_curve(ctx, experiment, name, alpha)
                                    for name in ("train_acc", "test_acc")}, alpha)


def _seed_band(label: str, gid: str, color: str):
    def plot(ax, values):
        values = values.dropna("checkpoint", how="all")
        x, seeds = values["checkpoint"].values, values.transpose("seed", "checkpoint").values
        draw.band(ax, x, seeds, color, label, gid)
    return plot


@figure("fig06", "Mod-add dynamics: mean Fourier IPR (top) and compressibility (bottom) vs epoch with "
        "accuracy, grokking vs learning α", (MODADD_DYNAMICS,),
        notes=f"seed mean ± std; IPR of the unembedding at every checkpoint; compressibility at "
              f"~{COMPRESSIBILITY_CHECKPOINTS} checkpoints (21-point pruning grid) from the point where the "
              "test accuracy is halfway from chance to its maximum; grey: train (dashed) and test (solid) "
              "accuracy; symlog x")
def fig06(ctx: Context) -> plt.Figure:
    arch = archetypes(ctx, MODADD_DYNAMICS)
    alphas = (arch.grok, arch.learn)
    ipr = ipr_dynamics(ctx, MODADD_DYNAMICS, alphas)
    comp = dynamics_compressibility(ctx, MODADD_DYNAMICS, alphas)
    fig, axes = draw.subplots(2, 2, figsize=(11, 8))
    for col, (regime, kind, alpha) in enumerate(arch.columns()):
        color = draw.REGIME_COLORS[regime]
        rows = [(ipr, "mean IPR (Eq. 7)", _seed_band("mean IPR", f"ipr α={alpha:g}", color)),
                (comp, "compressibility c (Eq. 5)", _seed_band("c", f"compressibility α={alpha:g}", color))]
        _dynamics_column(axes[:, col], ctx, MODADD_DYNAMICS, alpha, kind, rows)
    fig.suptitle(f"Mod-add model development ({arch.reason}; mean ± std over "
                 f"{ipr.sizes['seed']} seeds)", fontsize=10)
    draw.panel_labels(axes)
    return fig


def _feature_lines(ax, values):
    """Weighted correlation per layer (colour) and feature (line style), values (seed, checkpoint, ...)."""
    layer_colors = {"conv1": "#2ca02c", "conv2": "#1f77b4", "fc1": "#d62728"}
    mean = values.mean("seed")
    for layer in mean["layer"].values:
        for feature, dash in zip(mean["feature"].values, ("-", "--", ":"), strict=True):
            symbol = draw.FEATURE_LABELS[str(feature)]
            label = f"{draw.LAYER_LABELS[str(layer)]}, {symbol}"
            ax.plot(mean["checkpoint"].values, mean.sel(layer=layer, feature=feature).values, dash,
                    color=layer_colors[str(layer)], lw=1.2, label=label, gid=f"rho {layer} {feature}")
    ax.set_ylim(0, 1.02)


@figure("fig07", "Ising dynamics: weighted correlation (Eq. 6) per layer and feature (top), compressibility "
        "(middle) and accuracy (bottom) vs epoch, grokking vs learning α", (ISING,),
        notes=f"seed mean (± std for c); correlations at ~{FEATURE_CHECKPOINTS} checkpoints, c at "
              f"~{COMPRESSIBILITY_CHECKPOINTS} from the point where the test accuracy is halfway from chance "
              "(50%) to its maximum; learning α chosen by Def. 1-2 (title); symlog x")
def fig07(ctx: Context) -> plt.Figure:
    ds = ctx.results(ISING)
    arch = archetypes(ctx, ISING)
    alphas = (arch.grok, arch.learn)
    rho = feature_dynamics(ctx, ISING, alphas)["weighted_correlation"]
    comp = dynamics_compressibility(ctx, ISING, alphas)
    fig, axes = draw.subplots(3, 2, figsize=(11, 11))
    for col, (regime, kind, alpha) in enumerate(arch.columns()):
        color = draw.REGIME_COLORS[regime]
        rows = [(rho, "weighted |ρ| (Eq. 6)", _feature_lines),
                (comp, "compressibility c (Eq. 5)", _seed_band("c", f"compressibility α={alpha:g}", color))]
        _dynamics_column(axes[:2, col], ctx, ISING, alpha, kind, rows, accuracy=False)
        ax = axes[2, col]
        for name, dash in (("train_acc", "--"), ("test_acc", "-")):
            epochs, values = seed_mean_curve(ctx, ISING, name, alpha)
            ax.plot(epochs, 100 * values, dash, color=color, gid=f"{name} α={alpha:g}",
                    label=name.replace("_acc", ""))
        ax.set_xscale("symlog", linthresh=max(float(ds["checkpoint"].values[1]), 1.0))
        ax.set_xlim(0, float(ds["checkpoint"].values[-1]))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=5, fontsize=7)
    fig.suptitle(f"Ising model development: grokking α = {arch.grok:g}, learning α = {arch.learn:g} "
                 f"({arch.reason}; {ds.sizes['seed']} seeds)", fontsize=10)
    draw.panel_labels(axes)
    return fig


def _cosine_panel(ax, ctx: Context, experiment: str, measure: str, arch: Archetypes, title: str) -> None:
    values = step_measures(ctx, experiment, (arch.grok, arch.learn))[measure].sel(metric="fisher", subspace="all")
    for regime, kind, alpha in arch.columns():
        color = draw.REGIME_COLORS[regime]
        series = values.sel(alpha=alpha).transpose("seed", "checkpoint")
        draw.band(ax, series["checkpoint"].values, series.values, color, _regime_title(kind, alpha),
                  f"{measure} {experiment} α={alpha:g}")
    draw.transition_lines(ax, transition_epochs(ctx, experiment), values["checkpoint"].values[-1])
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("Fisher cosine similarity (Eq. 9)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")


@figure("fig08", "Fisher cosine similarity of consecutive steps (a Ising, b mod-add) and of each step with "
        "the direction to the origin (c, d), grokking vs learning", (ISING, MODADD_DYNAMICS),
        notes="seed mean ± std; step k plotted at e_k (origin) and e_{k+1} (consecutive), not with the "
              "authors' off-by-one; dashed: the authors' get_times lines (0.9·max train/test accuracy of the "
              "grokking α)")
def fig08(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 8))
    for col, (experiment, label) in enumerate(((ISING, "Ising"), (MODADD_DYNAMICS, "mod-add"))):
        arch = archetypes(ctx, experiment)
        _cosine_panel(axes[0, col], ctx, experiment, "cosine", arch,
                      f"{label}: consecutive steps S_F(s_k, s_k+1)")
        _cosine_panel(axes[1, col], ctx, experiment, "origin_cosine", arch,
                      f"{label}: step vs origin S_F(s_k, −θ_k)")
    draw.panel_labels(axes)
    return fig
