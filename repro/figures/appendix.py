"""Figures 9-34 of the paper's appendices, and the derived data (pruning schemes, Fisher pruning, LLC, step
geometry) they share with the appendix claims (repro.figures.appendix_claims).

The grokking/learning α, per-layer pruning, Ising correlations and regimes come from repro.figures.main, so the
appendix shows the same runs and numbers as Figs 1-8. Drawn artists carry a `gid` naming the series (e.g.
"global α=10", "magnitude stiff α=0.1"), so that tests can count them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import xarray as xr
from matplotlib.ticker import NullLocator

from grokcore.measures import geometry, ising_features, lazy, pruning
from grokcore.measures.llc import local_learning_coefficients
from grokcore.models import PARAM_SHAPES
from repro.figures import main as m
from repro.figures import style
from repro.figures.claims import fisher_roots
from repro.figures.registry import Context, figure

ISING, MODADD = "ising-main", "modadd-main"
MODADD_BS200, MODADD_WD, MODADD_DYNAMICS = "modadd-bs200", "modadd-wd", "modadd-dynamics"
TASK_ARCHETYPES = ((ISING, "Ising"), (MODADD_DYNAMICS, "modular addition"))
# SGLD of the local learning coefficient: devinterp's 10,000 steps at full scale, fewer where time is short. Its
# defaults ε = 1e-3, γ = 1 let the mod-add chains leave the basin (chain loss → ln 113, so λ̂ ≈ nβ·ln 113 for
# every run); with ε = 1e-5, γ = 1000 the chain loss stays near L_n(w*) and levels off within ~100 steps.
LLC_STEPS = {"full": 10_000, "quick": 500, "tiny": 8}
LLC_EPSILON, LLC_GAMMA = 1e-5, 1000.0
FEATURE_LABELS = dict(zip(ising_features.FEATURES, m.FEATURE_LABELS, strict=True))
FEATURE_COLORS = {"energy": "#1b9e77", "magnetization": "#d95f02", "abs_magnetization": "#7570b3"}
ARCHETYPE_NOTE = ("Grokking and learning α as in Figs 3-8: mod-add 10 and 0.1; Ising the largest α and the "
                  "smallest α below it that learns steadily (Def. 1-2, most seeds) with ≥ 95% of the best "
                  "seed-mean final test accuracy.")


# ------------------------------------------------------------------------------------------- derived data


def scheme_fractions(scale: str) -> np.ndarray:
    """Pruned fractions of the App. F curves: Fig. 5's grid, every other point at the tiny smoke-test scale."""
    fractions = m.pruning_fractions(scale)
    return fractions[::2] if scale == "tiny" else fractions


def scheme_pruning(ctx: Context, experiment: str, scheme: str, layer: str | None = None) -> xr.Dataset:
    """Magnitude-pruning test acc/loss of every final model under `scheme` (§4.5): (alpha, seed, fraction).

    scheme "per_layer" is the main-text curve of repro.figures.main; "global", "global_normalised" and "layer"
    (with `layer`, a weight tensor) are App. F.2's. Each seed is evaluated on its own test set.
    """
    if scheme == "per_layer":
        return m.final_pruning(ctx, experiment)

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta"]].isel(checkpoint=[-1])
        fractions = scheme_fractions(ctx.scale)
        per_seed = [lazy.pruning_curves(final.sel(seed=[seed]), *m.seed_test_set(ctx, experiment, int(seed)), fractions,
                                        scheme, layer, device=m.DEVICE).compute() for seed in ds["seed"].values]
        return xr.concat(per_seed, "seed").isel(checkpoint=0, drop=True)

    return m._cached(ctx, ("scheme_pruning", experiment, scheme, layer), compute)


def fisher_pruning(ctx: Context, experiment: str, tensor: str | None = None) -> xr.Dataset:
    """Fisher-pruning test acc/loss (App. F.1) of every final model: (alpha, seed, point), coordinate fraction.

    Parameters (all of them, or those of `tensor`) are zeroed cumulatively by ascending final Fisher diagonal,
    computed once on the unpruned model, at as many evenly spaced counts as `scheme_fractions` has points.
    """

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta", "fim_diag"]].isel(checkpoint=-1)
        n_points = scheme_fractions(ctx.scale).size
        acc, loss = [], []
        for seed in ds["seed"].values:
            x, y = m.seed_test_set(ctx, experiment, int(seed))
            run = final.sel(seed=seed).compute()
            curves = [pruning.fisher_pruning_curve(ds.attrs["task"], theta, fim, x, y, n_points, tensor,
                                                   device=m.DEVICE)
                      for theta, fim in zip(run["theta"].values, run["fim_diag"].values, strict=True)]
            acc.append([c.acc for c in curves])
            loss.append([c.loss for c in curves])
        dims = ("seed", "alpha", "point")
        coords = {"seed": ds["seed"].values, "alpha": ds["alpha"].values, "fraction": ("point", curves[0].fraction)}
        return xr.Dataset({"acc": (dims, np.array(acc)), "loss": (dims, np.array(loss))},
                          coords=coords).transpose("alpha", "seed", "point")

    return m._cached(ctx, ("fisher_pruning", experiment, tensor), compute)


def fisher_compressibility(ctx: Context, experiment: str) -> xr.DataArray:
    """c (Eq. 5) of the whole-model Fisher-pruning curve of every final model, (alpha, seed); x = fraction of
    all parameters, to compare with the magnitude-pruning c (fraction of the weights)."""
    acc = fisher_pruning(ctx, experiment)["acc"]
    c = pruning.compressibility(acc["fraction"].values, acc.values)
    return xr.DataArray(c, dims=("alpha", "seed"), coords={"alpha": acc["alpha"], "seed": acc["seed"]})


def llc(ctx: Context, experiment: str) -> xr.DataArray:
    """Local learning coefficient λ̂ (§4.15) of every final model on its seed's training set, (alpha, seed);
    LLC_STEPS[scale] SGLD steps with step ε = LLC_EPSILON and localisation γ = LLC_GAMMA (devinterp's batch 512
    and β = 1/log n), the chain seeded by the run's seed."""

    def compute():
        ds = ctx.results(experiment)
        values = np.empty((ds.sizes["alpha"], ds.sizes["seed"]))
        for j, seed in enumerate(ds["seed"].values):
            data = ctx.task_data(experiment, int(seed))
            x, y = data.x_train.to(m.DEVICE), data.y_train.to(m.DEVICE)
            thetas = np.stack([m.final_theta(ctx, experiment, alpha, int(seed)) for alpha in ds["alpha"].values])
            values[:, j] = [estimate.llc for estimate in local_learning_coefficients(
                ds.attrs["task"], thetas, x, y, n_steps=LLC_STEPS[ctx.scale], epsilon=LLC_EPSILON, gamma=LLC_GAMMA,
                generator=torch.Generator().manual_seed(int(seed)), device=m.DEVICE)]
        return xr.DataArray(values, dims=("alpha", "seed"), coords={"alpha": ds["alpha"], "seed": ds["seed"]})

    return m._cached(ctx, ("llc", experiment), compute)


def compression_measures(ctx: Context, experiment: str) -> xr.Dataset:
    """Everything Figs 15-19 set against compressibility but the LLC (see `llc`), per (alpha, seed) of the final
    models (mod-add)."""

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta", "fim_diag"]].isel(checkpoint=-1).assign_attrs(ds.attrs)
        gini = lazy.gini_coefficients(final)
        derived = xr.Dataset({"ipr_input": lazy.mean_fourier_ipr(final, side="input"),
                              "ipr_output": lazy.mean_fourier_ipr(final, side="output"),
                              "weight_gini": gini["weight_gini"], "fisher_gini": gini["fisher_gini"]}).compute()
        metrics = m.final_metrics(ctx, experiment)
        return derived.drop_vars("checkpoint", errors="ignore").assign(
            train_loss=metrics["train_loss"], test_loss=metrics["test_loss"],
            compressibility=m.final_compressibility(ctx, experiment))

    return m._cached(ctx, ("compression_measures", experiment), compute)


def step_measures(ctx: Context, experiment: str) -> xr.Dataset:
    """Seed-mean trajectory measures of the grokking and learning α (Eq. 8-9, App. G) with both metrics and all
    three subspaces: (alpha, checkpoint, metric, subspace), over the paper's plotted window (m.TRAJECTORY_LIMIT);
    the stiff/sloppy split uses each run's Fisher at its last checkpoint (§4.11), wherever the window ends."""

    def compute():
        ds = ctx.results(experiment)
        arch = m.archetypes(ctx, experiment)
        epochs = ds["checkpoint"].values
        inside = int(np.searchsorted(epochs, m.TRAJECTORY_LIMIT[ds.attrs["task"]], side="right"))
        # one checkpoint past the window, so that the window's last step is defined
        runs = ds[["theta", "fim_diag"]].sel(alpha=[arch.grok, arch.learn])
        sub = runs.isel(checkpoint=slice(0, min(inside + 1, len(epochs))))
        # §4.11: the stiff/sloppy mask is the Fisher at the run's last checkpoint, not at the window's end
        final = runs["fim_diag"].isel(checkpoint=-1, drop=True)
        means = lazy.step_measures(sub.assign_attrs(ds.attrs), final=final).mean("seed").compute()
        return means.isel(checkpoint=slice(0, inside)) if inside > 2 else means

    return m._cached(ctx, ("step_measures", experiment), compute)


def fisher_spectra(ctx: Context, experiment: str) -> xr.DataArray:
    """Seed-mean ascending final Fisher diagonal of the grokking and learning α (Fig. 20): (alpha, rank)."""

    def compute():
        arch = m.archetypes(ctx, experiment)
        ds = ctx.results(experiment)
        return lazy.fisher_spectrum(ds[["fim_diag"]].sel(alpha=[arch.grok, arch.learn])).compute()

    return m._cached(ctx, ("fisher_spectra", experiment), compute)


def domain_walls(ctx: Context, n: int = 8) -> tuple[np.ndarray, float]:
    """Indices of up to n ordered snapshots (T < T_c) with |m| < 0.5, lowest |m| first (Fig. 11), and the share
    of ordered snapshots with |m| < 0.5 (m = M/L²)."""
    source = m.ising_source(ctx, ISING)
    m_abs = np.abs(source["magnetization"].values) / (source.sizes["y"] * source.sizes["x"])
    ordered = np.flatnonzero(source["phase"].values == 1)
    walls = ordered[m_abs[ordered] < 0.5]
    share = walls.size / ordered.size if ordered.size else np.nan
    return walls[np.argsort(m_abs[walls], kind="stable")][:n], share


def tensor_names(task: str) -> list[str]:
    """The parameter tensors of a task's network in layout order."""
    return [name for name, _ in PARAM_SHAPES[task]]


# ---------------------------------------------------------------------------------------- drawing helpers


def _label(alpha: float) -> str:
    return f"α={alpha:g}"


def _alphas(ds) -> list[float]:
    return [float(a) for a in ds["alpha"].values]


def _finite(values) -> np.ndarray:
    """float array with ±inf (e.g. c of a curve that never drops) replaced by NaN, which matplotlib skips."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def _seed_x(alphas, n_seeds: int) -> np.ndarray:
    """x positions (alpha, seed) on a log-α axis, each seed slightly offset so that equal values stay visible."""
    offsets = np.exp(0.05 * (np.arange(n_seeds) - (n_seeds - 1) / 2))
    return np.asarray(alphas, dtype=float)[:, None] * offsets[None, :]


def _points(ax, x, y, alphas, name: str, hollow: bool = False, **kwargs) -> None:
    """One scatter per α (gid "<name> α=a") of its seeds' points: x, y (alpha, seed); open markers if hollow."""
    x, y = _finite(x), _finite(y)
    for i, (alpha, color) in enumerate(zip(alphas, style.alpha_colors(alphas), strict=True)):
        colors = {"facecolors": "none", "edgecolors": [color]} if hollow else {"color": color}
        ax.scatter(x[i], y[i], gid=f"{name} {_label(alpha)}", **colors, **kwargs)


def _lines(ax, x, values, alphas, name: str, **kwargs) -> None:
    """One line per α (gid "<name> α=a"): x (point,), values (alpha, point)."""
    values = _finite(values)
    for i, (alpha, color) in enumerate(zip(alphas, style.alpha_colors(alphas), strict=True)):
        ax.plot(x, values[i], color=color, gid=f"{name} {_label(alpha)}", **kwargs)


def _alpha_axis(ax, alphas) -> None:
    """A log α axis ticked at the grid's α values."""
    _log_scale(ax, "x")
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.xaxis.set_minor_locator(NullLocator())


def _log_scale(ax, axis: str) -> None:
    """Log scale on `axis` ("x" or "y") where the drawn data span a decade or more; linear where they span less
    (log ticks would crowd) or nothing finite and positive was drawn (e.g. all-NaN measures of tiny runs)."""
    low, high = (ax.dataLim.x0, ax.dataLim.x1) if axis == "x" else (ax.dataLim.y0, ax.dataLim.y1)
    if np.isfinite(low) and np.isfinite(high) and high > 0 and (low <= 0 or high >= 10 * low):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _regimes(arch: m.Archetypes):
    """(regime, α, label, colour) of the grokking and the learning α."""
    return (("grok", arch.grok, f"grokking α={arch.grok:g}", style.GROK_COLOR),
            ("learn", arch.learn, f"learning α={arch.learn:g}", style.LEARN_COLOR))


def _transition_lines(ax, ctx: Context, experiment: str, alpha: float | None = None) -> None:
    """Dashed verticals at the authors' get_times epochs (0.9 of the max seed-mean train and test accuracy) of α,
    by default the grokking α, as in Fig. 8."""
    limit = ax.dataLim.x1
    alpha = m.archetypes(ctx, experiment).grok if alpha is None else alpha
    for epoch in m.transition_epochs(ctx, experiment, alpha):
        if np.isfinite(epoch) and epoch <= limit:
            ax.axvline(epoch, color="0.4", ls="--", lw=0.8)


# ---------------------------------------------------------------------------- Figs 9-10: seed distributions


def _seed_summary(ctx: Context, experiment: str, task_label: str) -> plt.Figure:
    metrics, times = m.final_metrics(ctx, experiment), m.regimes(ctx, experiment)
    alphas = _alphas(metrics)
    x = _seed_x(alphas, metrics.sizes["seed"])
    fig, axes = m._subplots(2, 2, figsize=(11, 7.5))
    panels = ((axes[0, 0], metrics, ("train_acc", "test_acc"), "final accuracy"),
              (axes[0, 1], metrics, ("train_loss", "test_loss"), "final cross-entropy loss"),
              (axes[1, 1], times, ("t_train", "t_test"), "first epoch within 5% of the max accuracy"))
    for ax, source, (train, test), ylabel in panels:
        _points(ax, x, source[train].transpose("alpha", "seed"), alphas, train, hollow=True, linewidths=1.2)
        _points(ax, x, source[test].transpose("alpha", "seed"), alphas, test)
        ax.set_ylabel(ylabel)
    _log_scale(axes[0, 1], "y")
    learned = times["regime"].transpose("alpha", "seed") != "did-not-learn"
    delta = times["delta"].transpose("alpha", "seed")
    _points(axes[1, 0], x, delta.where(learned), alphas, "delta", marker="D")
    if not learned.all():  # Def. 1 is meaningless for them: marked apart, left out of every statistic
        axes[1, 0].scatter(x[~learned.values], delta.values[~learned.values], marker="x", color="0.4",
                           gid="did-not-learn", label=f"did not learn ({int((~learned).sum())} runs)")
        axes[1, 0].legend(fontsize=7)
    axes[1, 0].axhline(0, color="0.5", lw=0.8)
    axes[1, 0].set_ylabel(f"Δt_grok = t_test − t_train (Eq. 3; epochs, test every {times.attrs['eval_every']})")
    for ax in axes.flat:
        _alpha_axis(ax, alphas)
        ax.set_xlabel("weight multiplier α (seeds side by side)")
    axes[0, 0].set_title("open: train · filled: test", fontsize=9)
    style.alpha_colorbar(fig, axes, alphas)
    style.panel_labels(axes)
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
    source = m.ising_source(ctx, ISING)
    index, share = domain_walls(ctx)
    n_sites = source.sizes["y"] * source.sizes["x"]
    fig, axes = m._subplots(2, 4, figsize=(10, 5.6))
    for ax, k in zip(axes.flat, index, strict=False):
        ax.imshow(source["spins"].values[k], cmap="gray", vmin=-1, vmax=1, interpolation="nearest",
                  gid=f"wall {k}")
        ax.set_title(f"T = {source['temperature'].values[k]:.2f}, m = "
                     f"{source['magnetization'].values[k] / n_sites:+.2f}\nE = {source['energy'].values[k]:.0f}",
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
    arch = m.archetypes(ctx, ISING)
    alpha = arch.grok if regime == "grok" else arch.learn
    by_seed = m.final_correlations(ctx, ISING, alpha)
    features = [ising_features.FEATURES.index(f) for f in ("energy", "abs_magnetization", "magnetization")]
    color = style.GROK_COLOR if regime == "grok" else style.LEARN_COLOR
    fig, axes = m._subplots(3, 3, figsize=(11, 9), sharey=True)
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
            ax.set_title(f"{m.LAYER_LABELS[layer]}: ρ with {FEATURE_LABELS[ising_features.FEATURES[f]]}",
                         fontsize=10)
            if col == 0:
                ax.set_ylabel("ρ per neuron")
            if row == 2:
                ax.set_xlabel("seed")
    style.panel_labels(axes)
    kind = "grokking" if regime == "grok" else "learning"
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


# ------------------------------------------------------------- Figs 14, 18: pruning in two other mod-add settings


def _setting_figure(ctx: Context, experiment: str, setting: str) -> plt.Figure:
    acc = m.final_pruning(ctx, experiment)["acc"].mean("seed")
    alphas = _alphas(acc)
    fig, axes = m._subplots(1, 2, figsize=(11, 4.3))
    _lines(axes[0], 100 * acc["fraction"].values, 100 * acc.values, alphas, "prune", lw=1.3)
    axes[0].set_xlabel("weights pruned in each layer (%)")
    axes[0].set_ylabel("test accuracy (%), seed mean")
    m._tradeoff_panel(fig, axes[1], ctx, experiment, "compressibility vs end train loss",
                      m.steady_alphas(ctx, experiment))
    style.alpha_colorbar(fig, axes, alphas)
    style.panel_labels(axes)
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
    alphas = _alphas(measures)
    c = measures["compressibility"].transpose("alpha", "seed")
    fig, axes = m._subplots(2, 4, figsize=(14, 6.8))
    for ax, (name, label, log) in zip(axes.flat, COMPRESSION_PANELS, strict=True):
        if name is None:
            ax.axis("off")
            continue
        _points(ax, measures[name].transpose("alpha", "seed"), c, alphas, name, s=22, edgecolor="k",
                linewidth=0.3)
        ax.set_xlabel(label)
        ax.set_ylabel("compressibility c (Eq. 5)")
        if log:
            _log_scale(ax, "x")
    style.alpha_colorbar(fig, axes, alphas)
    style.panel_labels([ax for ax in axes.flat if ax.axison])
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
    fig, axes = m._subplots(1, 3, figsize=(13, 4.2))
    names = (("compressibility", "compressibility c (Eq. 5)"), ("ipr_input", "mean Fourier IPR, input"),
             ("ipr_output", "mean Fourier IPR, output"))
    for experiment, setting, color in SETTINGS:
        measures = compression_measures(ctx, experiment)
        alphas = _alphas(measures)
        x = _seed_x(alphas, measures.sizes["seed"])
        for ax, (name, _) in zip(axes, names, strict=True):
            values = _finite(measures[name].transpose("alpha", "seed"))
            mean = np.array([np.nan if np.isnan(v).all() else np.nanmean(v) for v in values])
            ax.plot(alphas, mean, color=color, marker="o", label=setting, gid=f"{name} {experiment}")
            ax.scatter(x.ravel(), values.ravel(), color=color, s=10, alpha=0.5, gid=f"{name} {experiment} runs")
    for ax, (_, label) in zip(axes, names, strict=True):
        _alpha_axis(ax, sorted({a for e, _, _ in SETTINGS for a in _alphas(ctx.results(e))}))
        ax.set_xlabel("weight multiplier α")
        ax.set_ylabel(label)
    axes[0].legend(title="setting (line: seed mean)", fontsize=8)
    style.panel_labels(axes)
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
    fig, axes = m._subplots(1, 2, figsize=(11, 4.2))
    for ax, (experiment, title) in zip(axes, TASK_ARCHETYPES, strict=True):
        spectra = fisher_spectra(ctx, experiment)
        bottom = SPECTRUM_DEPTH * float(spectra.max())
        for _, alpha, label, color in _regimes(m.archetypes(ctx, experiment)):
            values = spectra.sel(alpha=alpha).values
            below = int((values < bottom).sum())
            ax.plot(np.arange(values.size), values, color=color, label=f"{label}: {below:,} of {values.size:,} "
                    f"below {bottom:.0e}", gid=f"spectrum {_label(alpha)}")
        ax.axhline(0.1, color="0.3", ls="--", lw=1)
        _log_scale(ax, "y")
        if ax.get_yscale() == "log":
            ax.set_ylim(bottom=bottom)
        ax.set_xlabel("parameter rank (ascending final Fisher diagonal)")
        ax.set_ylabel("Fisher diagonal F_ii (seed mean)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    style.panel_labels(axes)
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
        x, alphas, what = 100 * mean["fraction"].values, _alphas(mean), tensor or "all"
        _lines(ax_acc, x, 100 * mean["acc"].values, alphas, f"acc {what}")
        _lines(ax_loss, x, mean["loss"].values, alphas, f"loss {what}")
        _log_scale(ax_loss, "y")
        ax_acc.set_ylabel("test accuracy (%)")
        ax_loss.set_ylabel("test loss")
        ax_acc.set_title("whole model" if tensor is None else tensor, fontsize=10)
        for ax in (ax_acc, ax_loss):
            ax.set_xlabel(f"{'parameters' if tensor is None else tensor} pruned (%), smallest F first")


@figure("fig21", "Fisher pruning of the whole model: test accuracy and loss against % parameters pruned, per α; "
        "Ising and mod-add", (ISING, MODADD), notes=_FISHER_NOTES)
def fig21(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, title) in enumerate(((ISING, "Ising"), (MODADD, "modular addition"))):
        _fisher_panels([axes[row, 0]], [axes[row, 1]], ctx, experiment, [None])
        for ax, what in zip(axes[row], ("accuracy", "loss"), strict=True):
            ax.set_title(f"{title}: test {what}", fontsize=10)
        style.alpha_colorbar(fig, list(axes[row]), _alphas(ctx.results(experiment)))
    style.panel_labels(axes)
    fig.suptitle("Fisher pruning (smallest final Fisher diagonal first) of the final models, seed means",
                 fontsize=10)
    return fig


def _fisher_tensor_figure(ctx: Context, experiment: str, tensors, title: str) -> plt.Figure:
    fig, axes = m._subplots(2, len(tensors), figsize=(3.2 * len(tensors) + 1.5, 6.5),
                             squeeze=False)
    _fisher_panels(axes[0], axes[1], ctx, experiment, tensors)
    style.alpha_colorbar(fig, axes, _alphas(ctx.results(experiment)))
    style.panel_labels(axes)
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
    acc = scheme_pruning(ctx, experiment, scheme, layer)["acc"].mean("seed")
    _lines(ax, 100 * acc["fraction"].values, 100 * acc.values, _alphas(acc), layer or scheme, lw=1.3)
    ax.set_ylabel("test accuracy (%)")


@figure("fig25", "Magnitude-pruning schemes: per-layer parallel, naive global, and global after layer-norm "
        "rescaling (columns); Ising and mod-add (rows)", (ISING, MODADD), notes=_SCHEME_NOTES)
def fig25(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(2, 3, figsize=(13, 7), sharey="row")
    for row, (experiment, task_label) in enumerate(((ISING, "Ising"), (MODADD, "mod-add"))):
        for col, (scheme, title) in enumerate(SCHEMES):
            _scheme_panel(axes[row, col], ctx, experiment, scheme)
            axes[row, col].set_title(f"{task_label}: {title}", fontsize=10)
            axes[row, col].set_xlabel("weights pruned (%)")
        style.alpha_colorbar(fig, list(axes[row]), _alphas(ctx.results(experiment)))
    style.panel_labels(axes)
    fig.suptitle("Magnitude pruning of the final models under three ranking schemes (seed means)", fontsize=10)
    return fig


def _layer_resolved_figure(ctx: Context, experiment: str, title: str) -> plt.Figure:
    layers = pruning.prunable_tensors(ctx.results(experiment).attrs["task"])
    fig, axes = m._subplots(1, len(layers), figsize=(3.2 * len(layers) + 1.5, 3.9),
                             sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        _scheme_panel(ax, ctx, experiment, "layer", layer)
        ax.set_title(f"only {layer} pruned", fontsize=10)
        ax.set_xlabel(f"{layer} pruned (%)")
    style.alpha_colorbar(fig, axes, _alphas(ctx.results(experiment)))
    style.panel_labels(axes)
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


# --------------------------------------------------------------------------- Figs 28-30: App. G.1 feature dynamics


G1_MEASURES = (("weighted_correlation", "weighted |ρ| (Eq. 6)"),
               ("best_fraction", "fraction of neurons\nbest correlated with"),
               ("best_share", "share of the pre-activation\nof neurons best with"))
_G1_NOTES = ("The fraction and share measures are read from the App. G.1 text (spec §4.4, inferred): a neuron "
             "counts for the feature of its largest |ρ|; a conv neuron is one (channel, y, x) unit. Evaluated at "
             f"~{m.FEATURE_CHECKPOINTS} checkpoints per run (all of them when fewer), shared with Fig. 7. "
             + ARCHETYPE_NOTE + " Seed means.")


def _feature_dynamics_figure(ctx: Context, layer: str) -> plt.Figure:
    arch = m.archetypes(ctx, ISING)
    values = m.feature_dynamics(ctx, ISING, (arch.grok, arch.learn)).sel(layer=layer).mean("seed")
    epochs = values["checkpoint"].values
    fig, axes = m._subplots(3, 2, figsize=(11, 8.5), sharex=True, sharey="row")
    for col, (_, alpha, label, _) in enumerate(_regimes(arch)):
        for row, (name, ylabel) in enumerate(G1_MEASURES):
            ax = axes[row, col]
            for feature in ising_features.FEATURES:
                ax.plot(epochs, values[name].sel(alpha=alpha, feature=feature).values, color=FEATURE_COLORS[feature],
                        label=FEATURE_LABELS[feature], gid=f"{name} {feature} {_label(alpha)}")
            ax.set_ylabel(ylabel, fontsize=9)
            ax.set_ylim(-0.02, 1.02)
        axes[0, col].set_title(label, fontsize=10)
        axes[-1, col].set_xlabel("epoch")
        _transition_lines(axes[0, col], ctx, ISING, alpha)
    axes[0, 0].legend(title="feature", fontsize=8)
    style.panel_labels(axes)
    fig.suptitle(f"Ising, {m.LAYER_LABELS[layer]} layer: feature development during training (seed means; "
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
    steps = step_measures(ctx, experiment)
    for _, alpha, label, color in _regimes(m.archetypes(ctx, experiment)):
        values = steps[measure].sel(alpha=alpha, metric=metric, subspace=subspace)
        ax.plot(values["checkpoint"].values, values.values, color=color, gid=f"{measure} {subspace} {_label(alpha)}",
                label=label + ("" if subspace == "all" else f", {subspace}"), **kwargs)


@figure("fig31", "Ising step magnitudes: Fisher |s_k|_F (Eq. 8) vs Euclidean ‖s_k‖, grokking vs learning",
        (ISING,), notes=_GEOMETRY_NOTES)
def fig31(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, ylabel in ((axes[0], "fisher", "Fisher step magnitude |s_k|_F"),
                               (axes[1], "euclid", "Euclidean step magnitude ‖s_k‖")):
        _regime_lines(ax, ctx, ISING, "magnitude", metric)
        _transition_lines(ax, ctx, ISING)
        _log_scale(ax, "y")
        ax.set_xlabel("epoch e_k (start of the step)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    style.panel_labels(axes)
    fig.suptitle("Ising: length of the step between consecutive checkpoints, Fisher vs Euclidean metric (seed means)",
                 fontsize=10)
    return fig


@figure("fig32", "Fisher step magnitudes without and with the stiff/sloppy split (final Fisher ≥ 0.1), grokking "
        "vs learning; Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig32(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, title) in enumerate(TASK_ARCHETYPES):
        _regime_lines(axes[row, 0], ctx, experiment, "magnitude")
        _regime_lines(axes[row, 1], ctx, experiment, "magnitude", subspace="stiff")
        _regime_lines(axes[row, 1], ctx, experiment, "magnitude", subspace="sloppy", ls=":")
        for ax, what in zip(axes[row], ("all parameters", "stiff (solid) and sloppy (dotted) subspaces"), strict=True):
            _transition_lines(ax, ctx, experiment)
            _log_scale(ax, "y")
            ax.set_title(f"{title}: {what}", fontsize=10)
            ax.set_xlabel("epoch e_k (start of the step)")
            ax.set_ylabel("Fisher step magnitude |s_k|_F")
            ax.legend(fontsize=7)
    style.panel_labels(axes)
    fig.suptitle("Fisher step magnitudes (Eq. 8) on the whole model and on the stiff / sloppy subspaces (seed means)",
                 fontsize=10)
    return fig


def magnitude_gradient(ctx: Context, experiment: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(e_k, g_k): the discrete gradient of the seed-mean Fisher step magnitude of α (Fig. 33), g_k at e_k, on
    the same series as the claims' roots (repro.figures.claims.fisher_roots)."""
    arch = m.archetypes(ctx, experiment)
    magnitude = m.trajectory(ctx, experiment, (arch.grok, arch.learn))["magnitude"].sel(alpha=alpha).mean("seed")
    magnitude = magnitude.dropna("checkpoint")
    x = magnitude["checkpoint"].values.astype(float)
    return x[:-1], geometry.discrete_gradient(magnitude.values, x)


@figure("fig33", "Discrete gradient of the seed-mean Fisher step magnitude with its roots marked, grokking vs "
        "learning; Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig33(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(1, 2, figsize=(12, 4.6))
    for ax, (experiment, title) in zip(axes, TASK_ARCHETYPES, strict=True):
        largest, grok_roots = 0.0, []
        for regime, alpha, label, color in _regimes(m.archetypes(ctx, experiment)):
            x, g = magnitude_gradient(ctx, experiment, alpha)
            roots = fisher_roots(ctx, experiment, alpha)
            ax.plot(x, g, color=color, marker=".", ms=3, label=label, gid=f"gradient {_label(alpha)}")
            if regime == "grok":  # shade the epochs between which the gradient changes sign
                for lo, hi in roots:
                    ax.axvspan(lo, hi, color=color, alpha=0.25, lw=1.5, gid=f"root {experiment} {_label(alpha)}")
            else:  # the learning curve's many small oscillations would hide the shading: mark them
                ax.plot(roots.mean(axis=1), np.zeros(len(roots)), ls="none", marker="x", ms=6, color=color,
                        gid=f"roots {experiment} {_label(alpha)}")
            largest = max(largest, float(np.nanmax(np.abs(g), initial=0.0)))
            grok_roots = roots if regime == "grok" else grok_roots
        _transition_lines(ax, ctx, experiment)
        ax.axhline(0, color="0.4", lw=0.8)
        if largest > 0:
            ax.set_yscale("symlog", linthresh=largest / 1e3)
        ax.set_xlabel("epoch e_k")
        ax.set_ylabel("(|s_{k+1}|_F − |s_k|_F) / (e_{k+1} − e_k)")
        first = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in grok_roots[:3])
        ax.set_title(f"{title}: " + (f"first grokking roots between epochs {first}" if first else
                                     "no grokking root"), fontsize=9)
        ax.legend(fontsize=8)
    style.panel_labels(axes)
    fig.suptitle("Discrete gradient of the seed-mean Fisher step magnitude; a root (sign change between consecutive "
                 "samples) is shaded (grokking) or marked × (learning); symlog y", fontsize=10)
    return fig


@figure("fig34", "Consecutive-step Fisher cosine (Eq. 9) on the stiff and sloppy subspaces, grokking vs learning; "
        "Ising and mod-add", (ISING, MODADD_DYNAMICS), notes=_GEOMETRY_NOTES)
def fig34(ctx: Context) -> plt.Figure:
    fig, axes = m._subplots(2, 2, figsize=(11, 7.5), sharey=True)
    for row, (experiment, title) in enumerate(TASK_ARCHETYPES):
        for col, subspace in enumerate(("stiff", "sloppy")):
            ax = axes[row, col]
            _regime_lines(ax, ctx, experiment, "cosine", subspace=subspace)
            _transition_lines(ax, ctx, experiment)
            ax.axhline(0, color="0.7", lw=0.6)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"{title}: {subspace} subspace", fontsize=10)
            ax.set_xlabel("epoch e_k (checkpoint shared by the two steps)")
            ax.set_ylabel("S_F(s_{k−1}, s_k)")
            ax.legend(fontsize=7)
    style.panel_labels(axes)
    fig.suptitle("Fisher cosine of consecutive steps on the stiff / sloppy subspaces (final Fisher ≥ / < 0.1; seed "
                 "means)", fontsize=10)
    return fig


# The appendix claims live in their own module; importing it here registers them wherever the figures are.
from repro.figures import appendix_claims  # noqa: E402,F401
