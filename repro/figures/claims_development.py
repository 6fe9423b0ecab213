"""Claims on development during training: transient compressibility and the grokking plateau (§6.1-6.2)."""

from __future__ import annotations

import math

import numpy as np

from repro.figures.claims import Outcome, claim, pm, summary
from repro.figures.compression import dynamics_compressibility
from repro.figures.features import feature_dynamics, ipr_dynamics
from repro.figures.registry import Context
from repro.figures.runs import ISING, MODADD_DYNAMICS, archetypes, eval_every, plateaus, test_time

# -------------------------------------------------------------------------------- §6.1-6.2: development


def _transient(ctx: Context, dynamics: str, regime: str, target: float) -> Outcome:
    arch = archetypes(ctx, dynamics)
    alpha = arch.alpha(regime)
    c = dynamics_compressibility(ctx, dynamics, (arch.grok, arch.learn)).sel(alpha=alpha)
    c = c.transpose("seed", "checkpoint").values
    finite = np.where(np.isfinite(c), c, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.array([np.nan if np.isnan(run).all() else np.nanmax(run) / run[-1] - 1 for run in finite])
    mean, spread, n = summary(excess)
    return Outcome(abs(mean - target) <= 0.25, f"{100 * mean:+.0f}% ± {100 * spread:.0f}% ({n} seeds)", mean,
                   spread, n, f"α = {alpha:g}; peak over final compressibility, per seed: "
                   + ", ".join(f"{100 * e:+.0f}%" for e in excess))


@claim(
    "transient-learn", "§6.2",
    "Mod-add steady learning: transient compressibility peak above the steady state",
    paper="+50%",
    tolerance="(peak c − final c)/final c, seed mean, within ±25 points",
    experiments=(MODADD_DYNAMICS,),
)
def _transient_learn(ctx: Context, dynamics: str) -> Outcome:
    return _transient(ctx, dynamics, "learn", 0.5)


@claim("transient-grok", "§6.2", "Mod-add grokking: transient compressibility peak above the steady state",
       paper="+67%", tolerance="(peak c − final c)/final c, seed mean, within ±25 points",
       experiments=(MODADD_DYNAMICS,))
def _transient_grok(ctx: Context, dynamics: str) -> Outcome:
    return _transient(ctx, dynamics, "grok", 0.67)


def plateau_progress(epochs, measure, t_train: float, t_jump: float) -> float:
    """Share of a measure's range (max − min along the run) gained in the grokking plateau of one run (§6.1),
    from t_train to t_jump (runs.plateau). epochs (checkpoint,), measure (checkpoint,). NaN if fewer than 2
    checkpoints fall inside the plateau.
    """
    epochs, measure = np.asarray(epochs, dtype=float), np.asarray(measure, dtype=float)
    inside = np.flatnonzero((epochs >= t_train) & (epochs < t_jump))
    span = np.nanmax(measure) - np.nanmin(measure)
    if inside.size < 2 or not span > 0:
        return math.nan
    return float((measure[inside[-1]] - measure[inside[0]]) / span)


def _plateau(ctx: Context, experiment: str, measure) -> tuple[list[float], float]:
    """plateau_progress per seed of the grokking α for a measure (alpha, seed, checkpoint)."""
    alpha = archetypes(ctx, experiment).grok
    bounds = plateaus(ctx, experiment, alpha)
    values = []
    for seed in bounds["seed"].values:
        series = measure.sel(alpha=alpha, seed=seed)
        values.append(plateau_progress(series["checkpoint"].values, series.values,
                                       float(bounds["t_train"].sel(seed=seed)), float(bounds["t_jump"].sel(seed=seed))))
    return values, alpha


@claim(
    "plateau-ising-flat", "§6.1",
    "Ising: no feature development in the grokking plateau",
    paper="roughly constant",
    tolerance="|share of the FC ρ̄(E) range gained in the plateau| ≤ 0.2 (grokking α, seed mean)",
    experiments=(ISING,),
)
def _plateau_ising(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    rho = feature_dynamics(ctx, ising, (arch.grok, arch.learn))["weighted_correlation"]
    values, alpha = _plateau(ctx, ising, rho.sel(layer="fc1", feature="energy"))
    text, mean, spread, n = pm(values)
    if n == 0:
        return Outcome(None, "no plateau with ≥ 2 checkpoints", detail=f"α = {alpha:g}")
    return Outcome(abs(mean) <= 0.2, text, mean, spread, n, f"α = {alpha:g}; per seed {values}")


@claim(
    "plateau-modadd-rises", "§6.1",
    "Mod-add: the Fourier localisation (mean IPR) improves through the plateau",
    paper="rising",
    tolerance="share of the mean-IPR range gained in the plateau ≥ 0.2 (grokking α, seed mean)",
    experiments=(MODADD_DYNAMICS,),
)
def _plateau_modadd(ctx: Context, dynamics: str) -> Outcome:
    arch = archetypes(ctx, dynamics)
    ipr = ipr_dynamics(ctx, dynamics, (arch.grok, arch.learn))
    values, alpha = _plateau(ctx, dynamics, ipr)
    text, mean, spread, n = pm(values)
    if n == 0:
        return Outcome(None, "no plateau with ≥ 2 checkpoints", detail=f"α = {alpha:g}")
    return Outcome(mean >= 0.2, text, mean, spread, n, f"α = {alpha:g}; per seed {values}")


def compress_peakdefined(epochs, c, t_test: float, end: float) -> tuple[bool | None, str]:
    """§6.2's "c peaks a short time after the accuracy saturates, then declines slightly" on one seed-mean c
    (checkpoint,) at epochs (checkpoint,). Fails if the peak comes before t_test, more than a quarter of the
    remaining run (t_test to `end`) after it, or at the last checkpoint (no decline), or if c ends below half
    its peak (not slight). None where c or t_test is undefined."""
    epochs, c = np.asarray(epochs, dtype=float), np.asarray(c, dtype=float)
    kept = np.isfinite(c)
    if not kept.any() or not math.isfinite(t_test):
        return None, "c or t_test undefined"
    epochs, c = epochs[kept], c[kept]
    peak, final = int(np.argmax(c)), c[-1]
    soon = t_test <= epochs[peak] <= t_test + (end - t_test) / 4
    slight = peak < c.size - 1 and 0.5 * c[peak] <= final < c[peak]
    return bool(soon and slight), (f"peak c {c[peak]:.2f} at epoch {epochs[peak]:.0f}, t_test {t_test:.0f}, final c "
                                   f"{final:.2f} ({100 * (1 - final / c[peak]):.0f}% below the peak)")


@claim(
    "ising-compress-peak", "§6.2",
    "Ising grokking: compressibility peaks a short time after the accuracy saturates, then declines slightly",
    paper="peak after saturation",
    tolerance="seed-mean c peaks at or after t_test (Def. 1, seed-mean test accuracy) but within the first "
              "quarter of the rest of the run, not at the last checkpoint, and ends between 50% and 100% of "
              "its peak; a peak before t_test, late, or last, or a fall below half, differs",
    experiments=(ISING,),
)
def _ising_compress_peak(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    c = dynamics_compressibility(ctx, ising, (arch.grok, arch.learn))
    c = c.sel(alpha=arch.grok).mean("seed")
    t_test, end = test_time(ctx, ising, arch.grok)
    agrees, text = compress_peakdefined(c["checkpoint"].values, c.values, t_test, end)
    return Outcome(agrees, text, t_test, None, c.sizes.get("checkpoint"),
                   f"α = {arch.grok:g}; test set evaluated every {eval_every(ctx, 'ising-main')} epochs")


