"""Claims on the training trajectory's Fisher geometry: step cosines, origin direction, roots (§6.3, App. G)."""

from __future__ import annotations

import math

import numpy as np

from repro.figures.claims import Outcome, claim, defined, ratio
from repro.figures.registry import Context
from repro.figures.runs import ISING, MODADD_DYNAMICS, TASK_ARCHETYPES, archetypes, test_time
from repro.figures.trajectories import fisher_roots, seed_mean

# ----------------------------------------------------------------------------- §6.3, App G.3: trajectories


@claim(
    "ising-cosine-peak", "§6.3",
    "Ising grokking: the consecutive-step Fisher cosine peaks near one (a straight trajectory)",
    paper="≈ 1",
    tolerance="maximum of the seed-mean S_F(s_k, s_k+1) ≥ 0.9",
    experiments=(ISING,),
)
def _ising_cosine_peak(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    cosine = seed_mean(ctx, ising, "cosine", arch.grok)
    peak = float(cosine.max())
    return Outcome(peak >= 0.9, f"{peak:.3f} at epoch {float(cosine.idxmax()):.0f}", peak, None,
                   ctx.results(ising).sizes["seed"], f"α = {arch.grok:g}")


@claim("ising-cosine-peak-higher", "§6.3", "Ising: the grokking cosine peak is noticeably higher than the "
       "learning one", paper="higher", tolerance="max seed-mean cosine: grokking α > learning α",
       experiments=(ISING,))
def _ising_cosine_higher(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    peaks = [float(seed_mean(ctx, ising, "cosine", a).max()) for a in (arch.grok, arch.learn)]
    return Outcome(peaks[0] > peaks[1], f"{peaks[0]:.3f} (α = {arch.grok:g}) vs {peaks[1]:.3f} "
                   f"(α = {arch.learn:g})", peaks[0] - peaks[1])


def _peak_later(ctx: Context, experiment: str) -> Outcome:
    arch = archetypes(ctx, experiment)
    epochs = [float(seed_mean(ctx, experiment, "cosine", a).idxmax()) for a in (arch.grok, arch.learn)]
    return Outcome(epochs[0] > epochs[1], f"epoch {epochs[0]:.0f} (α = {arch.grok:g}) vs {epochs[1]:.0f} "
                   f"(α = {arch.learn:g})", epochs[0] - epochs[1])


claim("cosine-peak-later-ising", "§6.3", "Ising: the grokking regime's cosine peaks later in training",
      paper="later", tolerance="epoch of the seed-mean cosine maximum: grokking > learning",
      experiments=(ISING,))(_peak_later)


claim("cosine-peak-later-modadd", "§6.3", "Mod-add: the grokking regime's cosine peaks later in training",
      paper="later", tolerance="epoch of the seed-mean cosine maximum: grokking > learning",
      experiments=(MODADD_DYNAMICS,))(_peak_later)


def _before(ctx: Context, experiment: str, alpha: float):
    """The seed-mean origin cosine of α at checkpoints before its seed-mean t_test (Def. 1), and t_test."""
    origin = seed_mean(ctx, experiment, "origin_cosine", alpha)
    t_test, _ = test_time(ctx, experiment, alpha)
    return origin.where(origin["checkpoint"] < t_test, drop=True), t_test


@claim(
    "ising-origin-grok", "§6.3",
    "Ising grokking: before the transition the steps point to the origin (weight decay dominates)",
    paper="origin cosine → 1",
    tolerance="maximum seed-mean S_F(s_k, −θ_k) before t_test ≥ 0.9",
    experiments=(ISING,),
)
def _ising_origin(ctx: Context, ising: str) -> Outcome:
    alpha = archetypes(ctx, ising).grok
    before, t_test = _before(ctx, ising, alpha)
    if before.size == 0:
        return Outcome(None, f"no checkpoint before t_test = {t_test:.0f}")
    peak = float(before.max())
    return Outcome(peak >= 0.9, f"{peak:.3f} (before epoch {t_test:.0f})", peak, None, int(before.size),
                   f"α = {alpha:g}")


@claim(
    "ising-origin-learn", "§6.3",
    "Ising learning: while the grokking run follows the origin direction, the learning run's origin cosine "
    "is negative (parameters grow)",
    paper="< 0",
    tolerance="mean seed-mean S_F(s_k, −θ_k) of the learning α before the grokking α's t_test < 0",
    experiments=(ISING,),
)
def _ising_origin_learn(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    _, t_test = _before(ctx, ising, arch.grok)
    origin = seed_mean(ctx, ising, "origin_cosine", arch.learn)
    before = origin.where(origin["checkpoint"] < t_test, drop=True).dropna("checkpoint")
    if before.size == 0:
        return Outcome(None, f"no checkpoint before t_test = {t_test:.0f}")
    mean = float(before.mean())
    return Outcome(mean < 0, f"{mean:+.3f} (before epoch {t_test:.0f})", mean, None, int(before.size),
                   f"learning α = {arch.learn:g}, window: before the t_test of grokking α = {arch.grok:g}")


@claim(
    "origin-late-zero", "§6.3",
    "At late times the origin cosine is zero in every task and regime",
    paper="≈ 0",
    tolerance="|mean seed-mean S_F(s_k, −θ_k)| over the last quarter of the plotted checkpoints ≤ 0.1 for "
              "all four curves",
    experiments=(ISING, MODADD_DYNAMICS),
)
def _origin_late(ctx: Context, ising: str, dynamics: str) -> Outcome:
    late = {}
    for experiment in (ising, dynamics):
        arch = archetypes(ctx, experiment)
        for alpha in (arch.grok, arch.learn):
            origin = seed_mean(ctx, experiment, "origin_cosine", alpha).dropna("checkpoint")
            late[f"{experiment} α={alpha:g}"] = float(origin.isel(checkpoint=slice(-max(origin.size // 4, 1),
                                                                                  None)).mean())
    worst = max(late, key=lambda k: abs(late[k]))
    return Outcome(abs(late[worst]) <= 0.1, f"largest |late mean| {abs(late[worst]):.3f} ({worst})",
                   abs(late[worst]), None, len(late), "; ".join(f"{k}: {v:+.3f}" for k, v in late.items()))


@claim(
    "origin-modadd-lower", "§6.3",
    "Mod-add grokking is less weight-decay dominated: its origin cosine is significantly lower than Ising's",
    paper="lower",
    tolerance="max seed-mean origin cosine (grokking α): mod-add < Ising",
    experiments=(ISING, MODADD_DYNAMICS),
)
def _origin_lower(ctx: Context, ising: str, dynamics: str) -> Outcome:
    peaks = {e: float(seed_mean(ctx, e, "origin_cosine", archetypes(ctx, e).grok).max())
             for e in (dynamics, ising)}
    return Outcome(peaks[dynamics] < peaks[ising], f"{peaks['modadd-dynamics']:.3f} vs "
                   f"{peaks['ising-main']:.3f}", peaks[dynamics] - peaks[ising])


def _roots(ctx: Context, experiment: str, paper: tuple[tuple[int, int], ...]) -> Outcome:
    alpha = archetypes(ctx, experiment).grok
    brackets = fisher_roots(ctx, experiment, alpha)
    first = brackets[: len(paper)]
    text = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in first) or "no root"
    agrees = len(first) == len(paper) and all(lo <= 1.2 * p_hi and hi >= 0.8 * p_lo
                                             for (lo, hi), (p_lo, p_hi) in zip(first, paper, strict=True))
    value = float(first[0].mean()) if len(first) else None
    return Outcome(agrees, f"{text} ({len(brackets)} roots in all)", value, None, len(brackets),
                   f"α = {alpha:g}; all brackets: " + ", ".join(f"{lo:g}-{hi:g}" for lo, hi in brackets[:12]))


@claim(
    "fisher-roots-ising", "App G.3",
    "Ising grokking: the gradient of the Fisher step magnitude has two roots bracketing the grokking period",
    paper="2200-2400 and 6200-6400",
    tolerance="our first two brackets each overlap the paper's widened by 20% on each side",
    experiments=(ISING,),
)
def _roots_ising(ctx: Context, ising: str) -> Outcome:
    return _roots(ctx, ising, ((2200, 2400), (6200, 6400)))


@claim(
    "fisher-roots-modadd", "App G.3",
    "Mod-add grokking: two roots of the Fisher step-magnitude gradient",
    paper="19-20 and 46-47",
    tolerance="our first two brackets each overlap the paper's widened by 20% on each side",
    experiments=(MODADD_DYNAMICS,),
)
def _roots_modadd(ctx: Context, dynamics: str) -> Outcome:
    return _roots(ctx, dynamics, ((19, 20), (46, 47)))


# ------------------------------------------------------------------------------ App G: step geometry


def _series(ctx: Context, experiment: str, alpha: float, metric: str = "fisher", subspace: str = "all"):
    """The finite seed-mean Fisher (or Euclidean) step magnitudes of α, (checkpoint,)."""
    values = seed_mean(ctx, experiment, "magnitude", alpha, metric, subspace).values
    return values[np.isfinite(values)]


def quarter_mean(values, last: bool) -> float:
    """Mean over the first (or last) quarter of a series, at least one value; NaN for an empty series."""
    if len(values) == 0:
        return math.nan
    n = max(len(values) // 4, 1)
    return float(np.mean(values[-n:] if last else values[:n]))


def _curves(ctx: Context):
    """(label, experiment, α) of the four step-magnitude curves: two tasks × grokking/learning."""
    return [(f"{experiment} {regime} α={alpha:g}", experiment, alpha)
            for experiment, _ in TASK_ARCHETYPES
            for regime, alpha in zip(("grok", "learn"), archetypes(ctx, experiment)[:2], strict=True)]


@claim("fisher-separates-regimes", "App G.2, Fig 31", "The Fisher step magnitude separates grokking from learning "
       "better than the Euclidean one", paper="better separated", tolerance="mean |log10(grokking / learning)| "
       "seed-mean step magnitude over the window: Fisher > Euclidean (Ising)", experiments=(ISING,))
def _fisher_separates(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    separation = {}
    for metric in ("fisher", "euclid"):
        grok, learn = (_series(ctx, ising, x, metric) for x in (arch.grok, arch.learn))
        n = min(len(grok), len(learn))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(np.log10(grok[:n] / learn[:n]))
        separation[metric] = float(np.mean(ratio[np.isfinite(ratio)])) if n else math.nan
    value = separation["fisher"] - separation["euclid"]
    return Outcome(defined(value > 0, value), f"{separation['fisher']:.2f} (Fisher) vs {separation['euclid']:.2f} "
                   "(Euclidean) decades", value)


@claim("step-magnitude-decreases", "App G.3, Fig 32", "In both tasks and regimes the Fisher step magnitude "
       "generally decreases over training", paper="decreasing", tolerance="mean over the last quarter of the "
       "window < mean over the first quarter, all four seed-mean curves", experiments=(ISING, MODADD_DYNAMICS))
def _decreases(ctx: Context, ising: str, dynamics: str) -> Outcome:
    ratios = {label: ratio(quarter_mean(s, True), quarter_mean(s, False))
              for label, experiment, alpha in _curves(ctx) for s in [_series(ctx, experiment, alpha)]}
    worst = float(np.max(list(ratios.values())))
    return Outcome(defined(worst < 1, worst), f"largest late/early ratio {worst:.2g}", worst, None, len(ratios),
                   "; ".join(f"{k}: {v:.2g}" for k, v in ratios.items()))


@claim("grok-steps-start-larger", "App G.3, Fig 32", "The grokking regimes start with larger step magnitudes, and "
       "end of the same order as learning", paper="larger start; same order at the end", tolerance="first Fisher "
       "step magnitude: grokking > learning, and last-quarter means within a factor 10, both tasks",
       experiments=(ISING, MODADD_DYNAMICS))
def _grok_starts_larger(ctx: Context, ising: str, dynamics: str) -> Outcome:
    rows, ok = [], True
    for experiment, _ in TASK_ARCHETYPES:
        arch = archetypes(ctx, experiment)
        grok, learn = (_series(ctx, experiment, x) for x in (arch.grok, arch.learn))
        if not (len(grok) and len(learn)):
            return Outcome(None, f"{experiment}: no step magnitude")
        late = ratio(quarter_mean(grok, True), quarter_mean(learn, True))
        ok = ok and grok[0] > learn[0] and 0.1 <= late <= 10
        rows.append(f"{experiment}: start {grok[0]:.3g} vs {learn[0]:.3g}, late ratio {late:.2g}")
    return Outcome(ok, "; ".join(rows))


@claim("stiff-steps-above-sloppy", "App G.3, Fig 32", "Stiff step magnitudes converge to higher values than sloppy "
       "ones", paper="stiff > sloppy late", tolerance="last-quarter mean of the seed-mean stiff magnitude > sloppy, "
       "all four curves", experiments=(ISING, MODADD_DYNAMICS))
def _stiff_above(ctx: Context, ising: str, dynamics: str) -> Outcome:
    ratios = {label: ratio(quarter_mean(_series(ctx, e, x, subspace="stiff"), True),
                            quarter_mean(_series(ctx, e, x, subspace="sloppy"), True)) for label, e, x in _curves(ctx)}
    worst = float(np.min(list(ratios.values())))
    return Outcome(defined(worst > 1, worst), f"smallest late stiff/sloppy ratio {worst:.2g}", worst, None,
                   len(ratios), "; ".join(f"{k}: {v:.2g}" for k, v in ratios.items()))


@claim("grok-stiff-sloppy-cross", "App G.3, Fig 32", "In the grokking regime the sloppy step magnitude starts above "
       "the stiff one and the two cross", paper="sloppy first, then stiff", tolerance="grokking α, both tasks: "
       "sloppy > stiff at the first step and stiff > sloppy over the last quarter", experiments=(ISING,
                                                                                                 MODADD_DYNAMICS))
def _cross(ctx: Context, ising: str, dynamics: str) -> Outcome:
    rows, ok = [], True
    for experiment, _ in TASK_ARCHETYPES:
        grok = archetypes(ctx, experiment).grok
        stiff, sloppy = (_series(ctx, experiment, grok, subspace=s) for s in ("stiff", "sloppy"))
        if not (len(stiff) and len(sloppy)):
            return Outcome(None, f"{experiment}: no stiff/sloppy split (no parameter on one side of 0.1)")
        ok = ok and sloppy[0] > stiff[0] and quarter_mean(stiff, True) > quarter_mean(sloppy, True)
        rows.append(f"{experiment}: start sloppy/stiff {ratio(sloppy[0], stiff[0]):.2g}, late stiff/sloppy "
                    f"{ratio(quarter_mean(stiff, True), quarter_mean(sloppy, True)):.2g}")
    return Outcome(ok, "; ".join(rows))
