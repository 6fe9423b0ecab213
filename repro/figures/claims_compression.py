"""Claims on compression: the compressibility trade-offs and their absence (§5, App. D-E)."""

from __future__ import annotations

import math

import numpy as np

from repro.figures import stats
from repro.figures.claims import Outcome, claim, defined, pm, summary
from repro.figures.compression import (
    LLC_STEPS,
    compressibility_fit,
    compression_measures,
    final_compressibility,
    gini_coefficients,
    llc,
    magnitude_pruning,
)
from repro.figures.registry import Context
from repro.figures.runs import (
    ISING,
    MODADD,
    MODADD_BS200,
    MODADD_WD,
    LinearFit,
    alphas_in,
    archetypes,
    final_metrics,
    learned_runs,
    majority_regime,
)

# --------------------------------------------------------------------------------- §5, App D-E: compression


def _linear(fit: LinearFit) -> bool:
    """A clear positive linear trade-off."""
    return bool(fit.r2 >= 0.8 and fit.slope > 0)


def _tradeoff(ctx: Context, experiment: str, against: str, alphas, judge) -> Outcome:
    """judge(fit) of the linear fit of c against a final metric over every seed of `alphas`; not testable with
    fewer than 3 distinct α (a line through two clusters of seeds always fits)."""
    fit = compressibility_fit(ctx, experiment, against, alphas)
    detail = f"fit over the seeds of α = {list(alphas)}"
    agrees = judge(fit) if len(alphas) >= 3 and math.isfinite(fit.r2) else None
    return Outcome(agrees, fit.text(), fit.r2, None, fit.n, detail)


def _all_alphas(ctx: Context, experiment: str) -> list[float]:
    return [float(a) for a in ctx.results(experiment)["alpha"].values]


@claim(
    "tradeoff-modadd", "§5, Fig 5c",
    "Mod-add compressive regime: compressibility depends linearly on the final train loss",
    paper="linear trade-off (no slope given)",
    tolerance="fit of c against final train loss over the seeds of the steady α (≥ 3 α): R² ≥ 0.8 and slope "
              "> 0",
    experiments=(MODADD,),
)
def _tradeoff_modadd(ctx: Context, modadd: str) -> Outcome:
    return _tradeoff(ctx, modadd, "train_loss", alphas_in(ctx, modadd, "steady"), _linear)


def _absent(ctx: Context, experiment: str, against: str, alphas) -> Outcome:
    """The absence test (stats.absence_verdict) on the Pearson correlation of c with a final metric over the
    runs of `alphas` that learned; not testable with fewer than 3 distinct α."""
    c = final_compressibility(ctx, experiment).where(learned_runs(ctx, experiment))
    metric = final_metrics(ctx, experiment)[against]
    c, metric = (v.sel(alpha=list(alphas)).transpose("alpha", "seed").values for v in (c, metric))
    found = stats.correlation(metric, c)
    agrees = stats.absence_verdict(found) if len(alphas) >= 3 else None
    return Outcome(agrees, found.text(), found.rho, None, found.n,
                   f"c against final {against.replace('_', ' ')} over the learned runs of α = {list(alphas)}; "
                   f"{_undefined_c(c)}")


ABSENT_RULE = f"over the runs of ≥ 3 α: {stats.ABSENCE_RULE}"


@claim(
    "tradeoff-ising-absent", "§5, Fig 5d",
    "Ising: no meaningful trade-off between compressibility and end loss",
    paper="no relationship",
    tolerance=f"Pearson r of c with the final train loss, all α; {ABSENT_RULE}",
    experiments=(ISING,),
)
def _tradeoff_ising(ctx: Context, ising: str) -> Outcome:
    return _absent(ctx, ising, "train_loss", _all_alphas(ctx, ising))


@claim(
    "tradeoff-bs200-absent", "App D, Fig 14",
    "Batch size 200 eliminates the compressive regime",
    paper="no linear trade-off",
    tolerance=f"Pearson r of c with the final train loss over the steady α; {ABSENT_RULE}",
    experiments=(MODADD_BS200,),
)
def _tradeoff_bs200(ctx: Context, bs200: str) -> Outcome:
    return _absent(ctx, bs200, "train_loss", alphas_in(ctx, bs200, "steady"))


@claim("tradeoff-test-loss-absent", "§5, App D", "No correlation between compressibility and the test loss",
       paper="no correlation", tolerance=f"Pearson r of c with the final test loss over the steady α; "
       f"{ABSENT_RULE}", experiments=(MODADD,))
def _tradeoff_test_loss(ctx: Context, modadd: str) -> Outcome:
    return _absent(ctx, modadd, "test_loss", alphas_in(ctx, modadd, "steady"))


@claim(
    "compress-falls-with-alpha", "§5, Fig 5a",
    "In the steady regime compressibility improves systematically as α decreases",
    paper="monotone",
    tolerance="Spearman correlation of seed-mean c with α over the steady α ≤ −0.8 (at least 2 α)",
    experiments=(MODADD,),
)
def _compress_falls(ctx: Context, modadd: str) -> Outcome:
    steady = alphas_in(ctx, modadd, "steady")
    c = _defined_c(ctx, modadd).mean("seed")
    if len(steady) < 2:
        return Outcome(None, f"{len(steady)} steady α", None, None, len(steady))
    values = [float(c.sel(alpha=a)) for a in steady]
    rho, _ = stats.spearman(steady, values, least=2)
    detail = "; ".join(f"α={a:g}: c = {v:.2f}" for a, v in zip(steady, values, strict=True))
    return Outcome(defined(rho <= -0.8, rho), f"Spearman {rho:+.2f} over {len(steady)} α", rho, None, len(steady),
                   detail)


@claim(
    "compress-flat-grok", "§5, Fig 5a",
    "In the mod-add grokking regime compressibility does not depend on α",
    paper="curves on top of each other",
    tolerance="(max − min)/mean of seed-mean c over the grokking α ≤ 20% (at least 2 α)",
    experiments=(MODADD,),
)
def _compress_flat(ctx: Context, modadd: str) -> Outcome:
    grok = [a for a, r in majority_regime(ctx, modadd).items() if r == "grok"]
    if len(grok) < 2:
        return Outcome(None, f"{len(grok)} grokking α", None, None, len(grok))
    c = _defined_c(ctx, modadd).mean("seed").sel(alpha=grok)
    spread = float((c.max() - c.min()) / c.mean())
    return Outcome(defined(spread <= 0.2, spread), f"{100 * spread:.0f}% over α = {grok}", spread, None, len(grok))


def _undefined_c(c) -> str:
    """How many values of c (Eq. 5) are undefined and why: inf where the pruning curve never drops below
    A(0), NaN where A(0) is at or below the floor (or the run did not learn)."""
    c = np.asarray(c, dtype=float)
    never, none = int(np.isposinf(c).sum()), int(np.isnan(c).sum())
    if not never + none:
        return "c defined for every run"
    return (f"c undefined for {never + none} of {c.size} runs ({never}: the accuracy never drops under pruning; "
            f"{none}: accuracy at chance or run did not learn)")


def _defined_c(ctx: Context, experiment: str):
    """c (Eq. 5) of every final model, (alpha, seed), NaN where undefined or the run did not learn."""
    c = final_compressibility(ctx, experiment).where(learned_runs(ctx, experiment))
    return c.where(np.isfinite(c))


def _best_compressibility(ctx: Context, experiment: str) -> tuple[float, float, float, str]:
    """Largest seed-mean c over α, over the runs that learned and have a defined c: (α, mean c, std c over
    seeds, note on undefined values); NaN for all three numbers where no α has a defined c."""
    note = _undefined_c(final_compressibility(ctx, experiment).where(learned_runs(ctx, experiment)).values)
    finite = _defined_c(ctx, experiment)
    means = finite.mean("seed")
    if not np.isfinite(means).any():
        return math.nan, math.nan, math.nan, note
    alpha = float(means.idxmax())
    _, mean, spread, _ = pm(finite.sel(alpha=alpha).values)
    return alpha, mean, spread, note


@claim("compress-25x-wd", "§5, App E", "At ten-fold weight decay and low α the model compresses 25×",
       paper="25×", tolerance="largest seed-mean c over α within a factor 1.5 (16.7-37.5)",
       experiments=(MODADD_WD,))
def _compress_25x(ctx: Context, wd: str) -> Outcome:
    alpha, mean, spread, note = _best_compressibility(ctx, wd)
    if not math.isfinite(mean):
        return Outcome(None, "c undefined for every α", detail=note)
    n = ctx.results(wd).sizes["seed"]
    return Outcome(25 / 1.5 <= mean <= 25 * 1.5, f"{mean:.1f} ± {spread:.1f}× at α = {alpha:g} ({n} seeds)",
                   mean, spread, n, note)


@claim(
    "compress-5x-main", "§5, App E",
    "…which is 5× the highest compression at the main weight decay",
    paper="5×",
    tolerance="ratio of the largest seed-mean c (wd 3e-4 / 3e-5) within a factor 1.5 (3.3-7.5)",
    experiments=(MODADD_WD, MODADD),
)
def _compress_5x(ctx: Context, wd: str, modadd: str) -> Outcome:
    alpha_wd, wd, _, note_wd = _best_compressibility(ctx, wd)
    alpha_main, main, _, note_main = _best_compressibility(ctx, modadd)
    note = f"wd 3e-4: {note_wd}; wd 3e-5: {note_main}"
    if not (math.isfinite(wd) and math.isfinite(main)):
        return Outcome(None, "c undefined for every α of one sweep", detail=note)
    ratio = wd / main
    return Outcome(5 / 1.5 <= ratio <= 5 * 1.5, f"{ratio:.2f}× ({wd:.1f} at α = {alpha_wd:g} vs {main:.1f} "
                   f"at α = {alpha_main:g})", ratio, None, None, note)


def prunable_at(fractions, acc, keep: float = 0.95) -> float:
    """Largest pruned fraction p whose accuracy is still ≥ keep·A(0): fractions (grid,), acc (grid,); NaN where
    A(0) is NaN or not positive (undefined)."""
    acc = np.asarray(acc, dtype=float)
    if not acc[0] > 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        kept = np.flatnonzero(acc >= keep * acc[0])
    return float(np.asarray(fractions)[kept.max()])


@claim(
    "prune-95-wd", "§5, App E",
    "At ten-fold weight decay 95% of the weights can be cut for a 5% accuracy drop",
    paper="95% pruned",
    tolerance="largest fraction p with seed-mean accuracy ≥ 0.95·A(0), at the most compressible α, within "
              "±0.03",
    experiments=(MODADD_WD,),
)
def _prune_95(ctx: Context, wd: str) -> Outcome:
    alpha, _, _, note = _best_compressibility(ctx, wd)
    if not math.isfinite(alpha):
        return Outcome(None, "c undefined for every α", detail=note)
    acc = magnitude_pruning(ctx, wd)["acc"].sel(alpha=alpha)
    p = acc["fraction"].values
    per_seed = [prunable_at(p, a) for a in acc.transpose("seed", "fraction").values]
    text, mean, spread, n = pm(per_seed)
    if n == 0:
        return Outcome(None, f"undefined: A(0) missing or 0 in every seed at α = {alpha:g}", detail=note)
    return Outcome(abs(mean - 0.95) <= 0.03, f"{text} at α = {alpha:g}", mean, spread, n, note)


@claim("ipr-collapse-wd", "§5, App E", "In the extremely compressed regime the mean IPR falls by close to an "
       "order of magnitude", paper="≈ 0.1× (ten-fold fall)", tolerance="mean IPR (unembedding) at the most "
       "compressible α of the wd 3e-4 sweep over that of the same α at wd 3e-5: 0.05-0.2",
       experiments=(MODADD_WD, MODADD))
def _ipr_collapse(ctx: Context, wd: str, modadd: str) -> Outcome:
    alpha, _, _, note = _best_compressibility(ctx, wd)
    if not math.isfinite(alpha) or alpha not in ctx.results(modadd)["alpha"].values:
        return Outcome(None, f"most compressible α = {alpha:g} not in modadd-main", detail=note)
    # the unembedding IPR of every final model (Eq. 7 as printed, IPR_DEFAULT), not ipr_variants at this α: the
    # most compressible α of a chunk of seeds is not that of the whole grid, and a part records every α's measures
    ipr = {e: summary(compression_measures(ctx, e)["ipr_output"].sel(alpha=alpha).values)[0] for e in (wd, modadd)}
    ratio = ipr[wd] / ipr[modadd]
    return Outcome(defined(0.05 <= ratio <= 0.2, ratio), f"{ratio:.2f}× ({ipr['modadd-wd']:.3f} vs "
                   f"{ipr['modadd-main']:.3f} at α = {alpha:g})", ratio, None,
                   ctx.results(wd).sizes["seed"], note)


@claim(
    "gini-fisher-above-weights", "App D",
    "The Gini coefficient of the Fisher diagonal is substantially higher than that of the weight magnitudes",
    paper="higher",
    tolerance="Fisher Gini > weight Gini in every final model, over all entries and over the non-zero entries "
              "of the Fisher diagonal (Gini ≥ the share of exact zeros, and 16 Fisher samples leave most of "
              "the diagonal exactly zero, so the first alone passes by construction)",
    experiments=(MODADD,),
)
def _gini(ctx: Context, modadd: str) -> Outcome:
    gini = gini_coefficients(ctx, modadd)
    zeros = gini.attrs["zero_share"]
    weight = gini["weight_gini"].values
    gap_all, gap_nonzero = gini["fisher_gini"].values - weight, gini["nonzero_fisher_gini"].values - weight
    text, mean, spread, n = pm(gap_nonzero, unit="runs")
    agrees = defined(bool((gap_all > 0).all() and (gap_nonzero > 0).all()), np.sum(gap_nonzero))
    return Outcome(agrees, f"non-zero Fisher − weight Gini {text}", mean, spread, n,
                   f"all entries: Fisher − weight Gini {pm(gap_all, unit='runs')[0]}; {100 * zeros:.0f}% of the "
                   f"Fisher diagonal entries are exactly zero; weight Gini {pm(weight, unit='runs')[0]}")


# ------------------------------------------------------------------------------ App D-E: compressibility


def _correlation_outcome(rho: float, n: int, ok: bool, what: str) -> Outcome:
    return Outcome(defined(ok, rho), f"Spearman {rho:+.2f} (n = {n}) {what}", rho, None, n)


@claim("llc-unrelated-to-c", "App D, Fig 15", "No relationship between the local learning coefficient and the "
       "compressibility", paper="no relationship", tolerance=f"Spearman ρ(c, λ̂) over every run that learned "
       f"(batch 64): {stats.ABSENCE_RULE}", experiments=(MODADD,))
def _llc(ctx: Context, modadd: str) -> Outcome:
    c = compression_measures(ctx, modadd)["compressibility"].where(learned_runs(ctx, modadd))
    found = stats.correlation(llc(ctx, modadd).transpose(*c.dims).values, c.values, rank=True)
    return Outcome(stats.absence_verdict(found), found.text("Spearman ρ"), found.rho, None, found.n,
                   f"LLC from {LLC_STEPS[ctx.scale]} SGLD steps")


@claim("weight-gini-tracks-c", "App D, Fig 15", "More compressible models have higher weight Gini coefficients",
       paper="higher", tolerance="Spearman ρ(c, Gini |w|) ≥ 0.5 over every run (batch 64)", experiments=(MODADD,))
def _weight_gini(ctx: Context, modadd: str) -> Outcome:
    measures = compression_measures(ctx, modadd)
    rho, n = stats.spearman(measures["weight_gini"], measures["compressibility"])
    return _correlation_outcome(rho, n, rho >= 0.5, "over all runs")


@claim("ipr-compressive-lower", "App D, Fig 15", "In the compressive regime, compressibility rises as the Fourier "
       "localisation (input and output IPR) falls", paper="decrease in localisation", tolerance="Spearman ρ(c, "
       "mean IPR) ≤ −0.5 for input and output over the runs of the steady α (batch 64)", experiments=(MODADD,))
def _ipr_compressive(ctx: Context, modadd: str) -> Outcome:
    steady = alphas_in(ctx, modadd, "steady")
    measures = compression_measures(ctx, modadd).sel(alpha=steady)
    rhos = {side: stats.spearman(measures[f"ipr_{side}"], measures["compressibility"]) for side in ("input", "output")}
    worst = max(rho for rho, _ in rhos.values())
    text = ", ".join(f"{side} {rho:+.2f}" for side, (rho, _) in rhos.items())
    return Outcome(defined(worst <= -0.5, worst), f"Spearman {text} (n = {rhos['input'][1]})", worst, None,
                   rhos["input"][1], f"steady α: {steady}")


@claim("ipr-bs200-grok-learn-equal", "App D, Fig 16", "At batch size 200 the IPRs of grokking and learning do not "
       "differ significantly", paper="no significant difference", tolerance="|IPR(grokking α) − IPR(learning α)| "
       "/ their mean ≤ 20%, seed means, input and output", experiments=(MODADD_BS200,))
def _ipr_bs200(ctx: Context, bs200: str) -> Outcome:
    arch = archetypes(ctx, bs200)
    measures = compression_measures(ctx, bs200).mean("seed")
    gaps = {}
    for side in ("input", "output"):
        grok, learn = (float(measures[f"ipr_{side}"].sel(alpha=x)) for x in (arch.grok, arch.learn))
        gaps[side] = abs(grok - learn) / ((grok + learn) / 2)
    worst = max(gaps.values())
    return Outcome(defined(worst <= 0.2, worst), ", ".join(f"{side} {100 * g:.0f}%" for side, g in gaps.items()),
                   worst, None, None, f"grokking α={arch.grok:g}, learning α={arch.learn:g}")


@claim("wd-losses-anticorrelate-c", "App E, Fig 19", "At ten-fold weight decay, train and test loss are negatively "
       "correlated with the compressibility", paper="negative", tolerance="Spearman ρ(c, final train loss) < 0 and "
       "ρ(c, final test loss) < 0 over every run", experiments=(MODADD_WD,))
def _wd_losses(ctx: Context, wd: str) -> Outcome:
    measures = compression_measures(ctx, wd)
    rhos = {name: stats.spearman(measures[name], measures["compressibility"]) for name in ("train_loss", "test_loss")}
    worst = max(rho for rho, _ in rhos.values())
    text = ", ".join(f"{name.replace('_', ' ')} {rho:+.2f}" for name, (rho, _) in rhos.items())
    return Outcome(defined(worst < 0, worst), f"Spearman {text} (n = {rhos['train_loss'][1]})", worst, None,
                   rhos["train_loss"][1])


