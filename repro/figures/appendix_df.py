"""Figures 14-27 of Appendices D-F: other mod-add settings, c against other measures, Fisher pruning, schemes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from grokcore.measures import pruning
from grokcore.models import PARAM_SHAPES
from repro.figures import draw
from repro.figures.compression import (
    LLC_EPSILON,
    LLC_GAMMA,
    LLC_STEPS,
    compression_measures,
    fisher_pruning,
    llc,
    magnitude_pruning,
)
from repro.figures.main_text import tradeoff_panel
from repro.figures.registry import Context, figure
from repro.figures.runs import (
    ARCHETYPE_NOTE,
    ISING,
    MODADD,
    MODADD_BS200,
    MODADD_DYNAMICS,
    MODADD_WD,
    TASK_ARCHETYPES,
    alpha_values,
    alphas_in,
    archetypes,
)
from repro.figures.trajectories import fisher_spectra

# ------------------------------------------------------------- Figs 14, 18: pruning in two other mod-add settings


def _setting_figure(ctx: Context, experiment: str, setting: str) -> plt.Figure:
    acc = magnitude_pruning(ctx, experiment)["acc"].mean("seed")
    alphas = alpha_values(acc)
    fig, axes = draw.subplots(1, 2, figsize=(11, 4.3))
    draw.lines(axes[0], 100 * acc["fraction"].values, 100 * acc.values, alphas, "prune", lw=1.3)
    axes[0].set_xlabel("weights pruned in each layer (%)")
    axes[0].set_ylabel("test accuracy (%), seed mean")
    tradeoff_panel(fig, axes[1], ctx, experiment, "compressibility vs end train loss",
                      alphas_in(ctx, experiment, "steady"))
    draw.alpha_colorbar(fig, axes, alphas)
    draw.panel_labels(axes)
    fig.suptitle(f"Modular addition, {setting}: magnitude pruning of the final models; the line in (b) is fitted "
                 f"over the α that learn steadily (Def. 2)", fontsize=10)
    return fig


_PRUNING_NOTES = ("Per-layer-parallel magnitude pruning of the weight tensors (biases kept), no retraining, on "
                  "the grid of Fig. 5; c = 1/(1 − S/A(0)) is our reconstruction of Eq. 5. Panel (b) (c against "
                  "the final train loss, every run) is added to show whether Fig. 5c's trade-off exists here.")


@figure("fig14", "Mod-add at batch size 200: magnitude-pruning curves per α (no compressive regime), and c "
        "against final train loss", (MODADD_BS200,), notes=_PRUNING_NOTES)
def fig14(ctx: Context) -> plt.Figure:
    return _setting_figure(ctx, MODADD_BS200, "batch size 200")


@figure("fig18", "Mod-add at ten-fold weight decay: magnitude-pruning curves per α, and c against final train loss",
        (MODADD_WD,),
        notes="Weight decay 3e-4, ten-fold the main 3e-5 (the paper's value was lost in extraction). "
              + _PRUNING_NOTES)
def fig18(ctx: Context) -> plt.Figure:
    return _setting_figure(ctx, MODADD_WD, f"weight decay {ctx.experiment(MODADD_WD).weight_decay:g}")


# ------------------------------------------------------------------ Figs 15, 16, 19: c against other measures


COMPRESSION_PANELS = (("train_loss", "final train loss", True), ("test_loss", "final test loss", True),
                      ("llc", "local learning coefficient λ̂", False), (None, "", False),
                      ("weight_gini", "Gini of |w| (weights)", False),
                      ("fisher_gini", "Gini of the Fisher diagonal", False),
                      ("ipr_input", "mean Fourier IPR, input W_in", False),
                      ("ipr_output", "mean Fourier IPR, output W_out", False))


def _compression_figure(ctx: Context, experiment: str, setting: str) -> plt.Figure:
    measures = compression_measures(ctx, experiment).assign(llc=llc(ctx, experiment))
    alphas = alpha_values(measures)
    c = measures["compressibility"].transpose("alpha", "seed")
    fig, axes = draw.subplots(2, 4, figsize=(14, 6.8))
    for ax, (name, label, log) in zip(axes.flat, COMPRESSION_PANELS, strict=True):
        if name is None:
            ax.axis("off")
            continue
        draw.points(ax, measures[name].transpose("alpha", "seed"), c, alphas, name, s=22, edgecolor="k",
                linewidth=0.3)
        ax.set_xlabel(label)
        ax.set_ylabel("compressibility c (Eq. 5)")
        if log:
            draw.log_scale(ax, "x")
    draw.alpha_colorbar(fig, axes, alphas)
    draw.panel_labels([ax for ax in axes.flat if ax.axison])
    undefined = int((~np.isfinite(c.values)).sum())
    if undefined:
        axes[0, 3].text(0.0, 0.5, f"{undefined} of {c.size} runs have no finite c\n(their pruning curve never "
                        "drops below\nthe unpruned accuracy): not drawn", transform=axes[0, 3].transAxes, fontsize=9)
    fig.suptitle(f"Modular addition, {setting}: compressibility of every final model against other measures "
                 f"(LLC from {LLC_STEPS[ctx.scale]} SGLD steps at this scale)", fontsize=10)
    return fig


_COMPRESSION_NOTES = (f"LLC from SGLD chains of {LLC_STEPS['full']} steps at full scale, {LLC_STEPS['quick']} at "
                      f"quick and {LLC_STEPS['tiny']} at tiny, with ε = {LLC_EPSILON:g} and γ = {LLC_GAMMA:g} "
                      "(batch 512, β = 1/log n): devinterp's defaults ε = 1e-3, γ = 1 (the paper's settings are "
                      "unknown) send the mod-add chains out of the basin, to a loss near ln 113. Input IPR = "
                      "mean of the operand-a and operand-b IPRs (r = 2). Gini of |w| over the weight tensors; of "
                      "the Fisher diagonal (regression variant, 16 test pairs) over all parameters. c from "
                      "per-layer-parallel magnitude pruning (Eq. 5 reconstructed).")


@figure("fig15", "Mod-add, compressive setting (batch 64): c against train loss, test loss, LLC, Gini of |w| and "
        "of the Fisher diagonal, and input/output Fourier IPR", (MODADD,), notes=_COMPRESSION_NOTES)
def fig15(ctx: Context) -> plt.Figure:
    return _compression_figure(ctx, MODADD, "batch size 64 (compressive)")


@figure("fig16", "Mod-add, non-compressive setting (batch 200): c against train loss, test loss, LLC, Gini of |w| "
        "and of the Fisher diagonal, and input/output Fourier IPR", (MODADD_BS200,), notes=_COMPRESSION_NOTES)
def fig16(ctx: Context) -> plt.Figure:
    return _compression_figure(ctx, MODADD_BS200, "batch size 200 (non-compressive)")


@figure("fig19", "Mod-add at ten-fold weight decay: c against train loss, test loss, LLC, Gini of |w| and of the "
        "Fisher diagonal, and input/output Fourier IPR", (MODADD_WD,),
        notes="Weight decay 3e-4 (assumed ten-fold of 3e-5). " + _COMPRESSION_NOTES)
def fig19(ctx: Context) -> plt.Figure:
    return _compression_figure(ctx, MODADD_WD, f"weight decay {ctx.experiment(MODADD_WD).weight_decay:g}")


# ------------------------------------------------------------------------------- Fig 17: the unreferenced one


SETTINGS = ((MODADD, "batch 64, wd 3e-5", "#333333"), (MODADD_BS200, "batch 200, wd 3e-5", "#e08a00"),
            (MODADD_WD, "batch 64, wd 3e-4", "#7b3fa0"))


@figure("fig17", "Not referenced in the paper's text; our guess at the App. D/E panel: compressibility and mean "
        "Fourier IPR (input, output) against α in the three mod-add settings (batch 64, batch 200, wd 3e-4)",
        tuple(name for name, _, _ in SETTINGS),
        notes="The paper never cites Fig. 17 and its content is lost in the extracted text (spec §9.5). We show "
              "the comparison App. D-E argue from: the IPR drop belongs to the compressive regime (batch 64, "
              "high weight decay), not to grokking vs learning.")
def fig17(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(1, 3, figsize=(13, 4.2))
    names = (("compressibility", "compressibility c (Eq. 5)"), ("ipr_input", "mean Fourier IPR, input"),
             ("ipr_output", "mean Fourier IPR, output"))
    for experiment, setting, color in SETTINGS:
        measures = compression_measures(ctx, experiment)
        alphas = alpha_values(measures)
        x = draw.seed_x(alphas, measures.sizes["seed"])
        for ax, (name, _) in zip(axes, names, strict=True):
            values = draw.finite(measures[name].transpose("alpha", "seed"))
            mean = np.array([np.nan if np.isnan(v).all() else np.nanmean(v) for v in values])
            ax.plot(alphas, mean, color=color, marker="o", label=setting, gid=f"{name} {experiment}")
            ax.scatter(x.ravel(), values.ravel(), color=color, s=10, alpha=0.5, gid=f"{name} {experiment} runs")
    for ax, (_, label) in zip(axes, names, strict=True):
        draw.alpha_axis(ax, sorted({a for e, _, _ in SETTINGS for a in alpha_values(ctx.results(e))}))
        ax.set_xlabel("weight multiplier α")
        ax.set_ylabel(label)
    axes[0].legend(title="setting (line: seed mean)", fontsize=8)
    draw.panel_labels(axes)
    fig.suptitle("Fig. 17 is not cited in the text; shown here: compressibility and Fourier localisation against α "
                 "in the three mod-add settings (App. D-E)", fontsize=10)
    return fig


# ------------------------------------------------------------------------------------ Fig 20: Fisher spectra


SPECTRUM_DEPTH = 1e-12  # Fig. 20's log axis reaches this far below the largest Fisher diagonal


@figure("fig20", "Seed-mean sorted final Fisher diagonal (log), grokking vs learning, Ising and mod-add; dashed: "
        "the 0.1 stiff/sloppy threshold", (ISING, MODADD_DYNAMICS),
        notes="Fisher diagonal of the regression variant (the authors' code) at exactly the final checkpoint; the "
              "log axis stops 12 decades below the largest value and the legend counts the parameters below it: "
              "mostly exact zeros, e.g. the mod-add input weights of tokens absent from the 16 Fisher pairs, and "
              "dead units. " + ARCHETYPE_NOTE)
def fig20(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(1, 2, figsize=(11, 4.2))
    for ax, (experiment, title) in zip(axes, TASK_ARCHETYPES, strict=True):
        arch = archetypes(ctx, experiment)
        spectra = fisher_spectra(ctx, experiment, (arch.grok, arch.learn))
        bottom = SPECTRUM_DEPTH * float(spectra.max())
        for regime, kind, alpha in arch.columns():
            color, label = draw.REGIME_COLORS[regime], f"{kind} {draw.alpha_label(alpha)}"
            values = spectra.sel(alpha=alpha).values
            below = int((values < bottom).sum())
            ax.plot(np.arange(values.size), values, color=color, label=f"{label}: {below:,} of {values.size:,} "
                    f"below {bottom:.0e}", gid=f"spectrum {draw.alpha_label(alpha)}")
        ax.axhline(0.1, color="0.3", ls="--", lw=1)
        draw.log_scale(ax, "y")
        if ax.get_yscale() == "log":
            ax.set_ylim(bottom=bottom)
        ax.set_xlabel("parameter rank (ascending final Fisher diagonal)")
        ax.set_ylabel("Fisher diagonal F_ii (seed mean)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    draw.panel_labels(axes)
    fig.suptitle("Sorted final Fisher diagonal spectra; parameters above the dashed line (0.1) are stiff", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------- Figs 21-24: Fisher pruning


_FISHER_NOTES = ("Evaluated on the whole test set and NOT renormalised: the paper's mod-add curves (Figs 21b, "
                 "22) came from a test() that divided inside its batch loop and were then rescaled (100·acc/max, "
                 "0.045·loss/min, running mean). Every curve is ordered by the Fisher diagonal of the unpruned "
                 "final model (the authors' per-tensor curves reused the Fisher of an already pruned network) "
                 "and a tensor's range stops at its own end (the authors' pruned one parameter of the next "
                 "tensor). Evaluated at 101 evenly spaced pruning counts (6 at the tiny scale) instead of after "
                 "every single parameter. All α of the sweep (the authors' committed Ising plots show α = 1 and 10), "
                 "seed means.")


def _fisher_panels(axes_acc, axes_loss, ctx: Context, experiment: str, tensors) -> None:
    """Test accuracy and loss against % pruned, one line per α, for each tensor (None: the whole model)."""
    for ax_acc, ax_loss, tensor in zip(axes_acc, axes_loss, tensors, strict=True):
        mean = fisher_pruning(ctx, experiment, tensor).mean("seed")
        x, alphas, what = 100 * mean["fraction"].values, alpha_values(mean), tensor or "all"
        draw.lines(ax_acc, x, 100 * mean["acc"].values, alphas, f"acc {what}")
        draw.lines(ax_loss, x, mean["loss"].values, alphas, f"loss {what}")
        draw.log_scale(ax_loss, "y")
        ax_acc.set_ylabel("test accuracy (%)")
        ax_loss.set_ylabel("test loss")
        ax_acc.set_title("whole model" if tensor is None else tensor, fontsize=10)
        for ax in (ax_acc, ax_loss):
            ax.set_xlabel(f"{'parameters' if tensor is None else tensor} pruned (%), smallest F first")


@figure("fig21", "Fisher pruning of the whole model: test accuracy and loss against % parameters pruned, per α; "
        "Ising and mod-add", (ISING, MODADD), notes=_FISHER_NOTES)
def fig21(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, title) in enumerate(((ISING, "Ising"), (MODADD, "modular addition"))):
        _fisher_panels([axes[row, 0]], [axes[row, 1]], ctx, experiment, [None])
        for ax, what in zip(axes[row], ("accuracy", "loss"), strict=True):
            ax.set_title(f"{title}: test {what}", fontsize=10)
        draw.alpha_colorbar(fig, list(axes[row]), alpha_values(ctx.results(experiment)))
    draw.panel_labels(axes)
    fig.suptitle("Fisher pruning (smallest final Fisher diagonal first) of the final models, seed means",
                 fontsize=10)
    return fig


def _fisher_tensor_figure(ctx: Context, experiment: str, tensors, title: str) -> plt.Figure:
    fig, axes = draw.subplots(2, len(tensors), figsize=(3.2 * len(tensors) + 1.5, 6.5),
                             squeeze=False)
    _fisher_panels(axes[0], axes[1], ctx, experiment, tensors)
    draw.alpha_colorbar(fig, axes, alpha_values(ctx.results(experiment)))
    draw.panel_labels(axes)
    fig.suptitle(title + " (seed means)", fontsize=10)
    return fig


@figure("fig22", "Per-tensor Fisher pruning of mod-add (W_in, b_in, W_out, b_out): test accuracy and loss per α",
        (MODADD,), notes=_FISHER_NOTES)
def fig22(ctx: Context) -> plt.Figure:
    return _fisher_tensor_figure(ctx, MODADD, tensor_names("modadd"),
                                 "Modular addition: Fisher pruning inside one parameter tensor at a time")


@figure("fig23", "Per-tensor Fisher pruning of the Ising CNN, part 1 (conv1 and conv2 weights and biases): test "
        "accuracy and loss per α", (ISING,), notes=_FISHER_NOTES)
def fig23(ctx: Context) -> plt.Figure:
    return _fisher_tensor_figure(ctx, ISING, tensor_names("ising")[:4],
                                 "Ising: Fisher pruning inside one parameter tensor at a time, convolutions")


@figure("fig24", "Per-tensor Fisher pruning of the Ising CNN, part 2 (fc1 and fc2 weights and biases): test "
        "accuracy and loss per α", (ISING,), notes=_FISHER_NOTES)
def fig24(ctx: Context) -> plt.Figure:
    return _fisher_tensor_figure(ctx, ISING, tensor_names("ising")[4:],
                                 "Ising: Fisher pruning inside one parameter tensor at a time, fully connected layers")


# --------------------------------------------------------------------------- Figs 25-27: magnitude-pruning schemes


SCHEMES = (("per_layer", "per-layer parallel (main text)"), ("global", "naive global"),
           ("global_normalised", "global after layer-norm rescaling"))
_SCHEME_NOTES = ("Weights only (biases never pruned), no retraining, ties broken by index; the layer norm of the "
                 "rescaled scheme is the Frobenius norm (unstated in the paper) and only ranks the weights; p on "
                 "a 101-point grid (6 at the tiny scale); seed means.")


def _scheme_panel(ax, ctx: Context, experiment: str, scheme: str, layer: str | None = None) -> None:
    acc = magnitude_pruning(ctx, experiment, scheme, layer)["acc"].mean("seed")
    draw.lines(ax, 100 * acc["fraction"].values, 100 * acc.values, alpha_values(acc), layer or scheme, lw=1.3)
    ax.set_ylabel("test accuracy (%)")


@figure("fig25", "Magnitude-pruning schemes: per-layer parallel, naive global, and global after layer-norm "
        "rescaling (columns); Ising and mod-add (rows)", (ISING, MODADD), notes=_SCHEME_NOTES)
def fig25(ctx: Context) -> plt.Figure:
    fig, axes = draw.subplots(2, 3, figsize=(13, 7), sharey="row")
    for row, (experiment, task_label) in enumerate(((ISING, "Ising"), (MODADD, "mod-add"))):
        for col, (scheme, title) in enumerate(SCHEMES):
            _scheme_panel(axes[row, col], ctx, experiment, scheme)
            axes[row, col].set_title(f"{task_label}: {title}", fontsize=10)
            axes[row, col].set_xlabel("weights pruned (%)")
        draw.alpha_colorbar(fig, list(axes[row]), alpha_values(ctx.results(experiment)))
    draw.panel_labels(axes)
    fig.suptitle("Magnitude pruning of the final models under three ranking schemes (seed means)", fontsize=10)
    return fig


def _layer_resolved_figure(ctx: Context, experiment: str, title: str) -> plt.Figure:
    layers = pruning.prunable_tensors(ctx.results(experiment).attrs["task"])
    fig, axes = draw.subplots(1, len(layers), figsize=(3.2 * len(layers) + 1.5, 3.9),
                             sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        _scheme_panel(ax, ctx, experiment, "layer", layer)
        ax.set_title(f"only {layer} pruned", fontsize=10)
        ax.set_xlabel(f"{layer} pruned (%)")
    draw.alpha_colorbar(fig, axes, alpha_values(ctx.results(experiment)))
    draw.panel_labels(axes)
    fig.suptitle(title, fontsize=10)
    return fig


@figure("fig26", "Layer-resolved magnitude pruning of the Ising CNN: one weight tensor pruned at a time (4 "
        "tensors), per α", (ISING,), notes=_SCHEME_NOTES)
def fig26(ctx: Context) -> plt.Figure:
    return _layer_resolved_figure(ctx, ISING, "Ising: pruning one weight tensor, the others intact (seed means)")


@figure("fig27", "Layer-resolved magnitude pruning of the mod-add MLP: one weight tensor pruned at a time (2 "
        "tensors), per α", (MODADD,), notes=_SCHEME_NOTES)
def fig27(ctx: Context) -> plt.Figure:
    return _layer_resolved_figure(ctx, MODADD, "Modular addition: pruning one weight tensor, the other intact "
                                               "(seed means)")



def tensor_names(task: str) -> list[str]:
    """The parameter tensors of a task's network in layout order."""
    return [name for name, _ in PARAM_SHAPES[task]]
