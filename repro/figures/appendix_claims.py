"""The appendices' claims (App. A-G) checked against our results, registered in the claims report.

Each claim reads the same derived data as the appendix figures (repro.figures.appendix, repro.figures.main).
Claims already made by repro.figures.claims (mod-add 100% accuracy, end-loss spreads, FC correlations, 25×
compression, IPR collapse, Gini of the Fisher diagonal above the weights', Fisher-magnitude roots) are not
repeated here. Imported by repro.figures.appendix, so the pipeline registers them with the figures.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

from grokcore.measures import curves, ising_features, pruning
from repro.figures import appendix as a
from repro.figures import main as m
from repro.figures import stats
from repro.figures.claims import Outcome, claim, summary
from repro.figures.registry import Context

ISING, MODADD, MODADD_BS200, MODADD_WD, MODADD_DYNAMICS = (a.ISING, a.MODADD, a.MODADD_BS200, a.MODADD_WD,
                                                          a.MODADD_DYNAMICS)


def _spearman(x, y) -> tuple[float, int]:
    """Spearman rank correlation over the pairs where both are finite, and their number (NaN below 3)."""
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    kept = np.isfinite(x) & np.isfinite(y)
    if kept.sum() < 3 or np.ptp(x[kept]) == 0 or np.ptp(y[kept]) == 0:
        return math.nan, int(kept.sum())
    return float(spearmanr(x[kept], y[kept]).statistic), int(kept.sum())


def _verdict(ok: bool, value: float) -> bool | None:
    """`ok` where `value` is defined, None (not testable at this scale) where it is NaN."""
    return None if not math.isfinite(value) else bool(ok)


# ------------------------------------------------------------------------------ App A: seed distributions


@claim("ising-seed-fails-to-grok", "App A, Fig 9", "Deep in the Ising grokking regime one seed persistently fails "
       "to grok", paper="one seed", tolerance="exactly one seed fails (Δt_grok ≤ 0 by Def. 1-2, or final test "
       "accuracy < 95% of the α's best seed) at at least half of the α whose seeds mostly grok",
       experiments=(ISING,))
def _seed_fails(ctx: Context) -> Outcome:
    """A seed that did not learn at all also fails to grok (it counts as a failure here)."""
    regimes = m.regimes(ctx, ISING)
    acc = m.final_metrics(ctx, ISING)["test_acc"]
    grok_alphas = [alpha for alpha, r in m.majority_regime(ctx, ISING).items() if r == "grok"]
    if not grok_alphas:
        return Outcome(None, "no α groks in most seeds")
    sub = regimes["regime"].sel(alpha=grok_alphas)
    failed = (sub != "grok") | (acc.sel(alpha=grok_alphas) < 0.95 * acc.sel(alpha=grok_alphas).max("seed"))
    share = failed.mean("alpha")
    persistent = [int(s) for s in share["seed"].values if float(share.sel(seed=s)) >= 0.5]
    detail = f"grokking α: {grok_alphas}; failures per seed: " + ", ".join(
        f"seed {int(s)}: {int(failed.sel(seed=s).sum())}/{len(grok_alphas)}" for s in share["seed"].values)
    return Outcome(len(persistent) == 1, f"{len(persistent)} seed(s) {persistent} of {share.sizes['seed']}",
                   float(len(persistent)), None, int(share.sizes["seed"]), detail)


@claim("ising-variability-grows-with-alpha", "App A, Fig 9", "Ising seed variability increases slightly deeper "
       "in the grokking regime", paper="slight increase", tolerance="standard deviation over seeds of the final "
       "test accuracy: grokking α > learning α", experiments=(ISING,))
def _variability(ctx: Context) -> Outcome:
    arch = m.archetypes(ctx, ISING)
    acc = m.final_metrics(ctx, ISING)["test_acc"]
    spread = {alpha: float(acc.sel(alpha=alpha).std("seed", ddof=1)) for alpha in (arch.grok, arch.learn)}
    value = spread[arch.grok] - spread[arch.learn]
    return Outcome(_verdict(value > 0, value), f"std {spread[arch.grok]:.4f} (α={arch.grok:g}) vs "
                   f"{spread[arch.learn]:.4f} (α={arch.learn:g})", value, None, int(acc.sizes["seed"]),
                   "; ".join(f"α={float(x):g}: {float(acc.sel(alpha=x).std('seed', ddof=1)):.4f}"
                             for x in acc["alpha"].values))


def convergence_times(ctx: Context, experiment: str):
    """Per run (alpha, seed): the first epoch from which the train loss stays within 5% of its final value
    (curves.convergence_epoch), NaN for runs that did not learn."""
    ds = ctx.results(experiment)
    loss = ds["train_loss"].transpose("alpha", "seed", "epoch")
    times = curves.convergence_epoch(loss.values, epochs=ds["epoch"].values)
    converged = ds["train_loss"].isel(epoch=0, drop=True).transpose("alpha", "seed").copy(data=times)
    return converged.where(m.learned_runs(ctx, experiment))


def _training_time(ctx: Context, experiment: str) -> Outcome:
    arch = m.archetypes(ctx, experiment)
    converged = convergence_times(ctx, experiment).mean("seed")
    regimes = m.regimes(ctx, experiment)
    t_train = regimes["t_train"].where(m.learned_runs(ctx, experiment)).mean("seed")
    times = {alpha: float(converged.sel(alpha=alpha)) for alpha in (arch.grok, arch.learn)}
    value = times[arch.learn] - times[arch.grok]
    detail = ("seed-mean epoch the train loss settles within 5% of its final value / Def. 1 t_train: " + "; ".join(
        f"α={float(x):g}: {float(converged.sel(alpha=x)):.0f} / {float(t_train.sel(alpha=x)):.0f}"
        for x in converged["alpha"].values) + ". App A's \"training time\" read as the time the run takes to "
        "settle; Def. 1's t_train (the time to fit the training set) is given for comparison")
    return Outcome(_verdict(value > 0, value), f"{times[arch.learn]:.0f} (learning α={arch.learn:g}) vs "
                   f"{times[arch.grok]:.0f} epochs (grokking α={arch.grok:g})", value, None, None, detail)


TRAINING_TIME_RULE = ("seed-mean epoch from which the train loss stays within 5% of its final value (our reading "
                      "of \"training time\"): learning α > grokking α; runs that did not learn left out")


@claim("ising-training-time-grows", "App A, Fig 9", "Ising: training takes longer from the grokking to the learning "
       "regime (training time = epochs until the train loss settles)", paper="increase",
       tolerance=TRAINING_TIME_RULE, experiments=(ISING,))
def _training_time_ising(ctx: Context) -> Outcome:
    return _training_time(ctx, ISING)


@claim("modadd-training-time-grows", "App A, Fig 10", "Mod-add: training takes longer from the grokking to the "
       "learning regime (training time = epochs until the train loss settles)", paper="increase",
       tolerance=TRAINING_TIME_RULE, experiments=(MODADD,))
def _training_time_modadd(ctx: Context) -> Outcome:
    return _training_time(ctx, MODADD)


# ------------------------------------------------------------------------------ App B-C: Ising data, features


@claim("ising-domain-walls", "App B, Fig 11", "The Monte Carlo data include a few extended domain walls: ordered "
       "snapshots with anomalously low magnetisation", paper="a few", tolerance="0 < share of ordered snapshots "
       "with |m| < 0.5 ≤ 20%", experiments=(ISING,))
def _domain_walls(ctx: Context) -> Outcome:
    _, share = a.domain_walls(ctx)
    return Outcome(_verdict(0 < share <= 0.2, share), f"{100 * share:.1f}% of ordered snapshots", share, None,
                   None, "this artifact's Glauber data (T range and update count are guesses, spec §2.3)")


def _weighted_energy(ctx: Context, alpha: float) -> dict[str, list[float]]:
    """Eq. 6 weighted |ρ| with E per layer, one value per seed, of the final models of α."""
    energy = ising_features.FEATURES.index("energy")
    by_seed = m.final_correlations(ctx, ISING, alpha).values()
    return {layer: [float(ising_features.weighted_correlation(*layers[layer])[energy]) for layers in by_seed]
            for layer in ising_features.LAYERS}


@claim("ising-energy-deepens", "App C, Figs 12-13", "Features become better defined through the network: little "
       "energy information in conv1, more in conv2, most in FC", paper="conv1 < conv2 < FC",
       tolerance="seed-mean weighted |ρ(E)| (Eq. 6) increases conv1 < conv2 < FC, grokking and learning α",
       experiments=(ISING,))
def _energy_deepens(ctx: Context) -> Outcome:
    arch = m.archetypes(ctx, ISING)
    means = {alpha: [summary(v)[0] for v in _weighted_energy(ctx, alpha).values()] for alpha in (arch.grok, arch.learn)}
    ok = all(v[0] < v[1] < v[2] for v in means.values())
    text = "; ".join(f"α={alpha:g}: " + " < ".join(f"{x:.2f}" for x in v) for alpha, v in means.items())
    return Outcome(_verdict(ok, min(min(v) for v in means.values())), text, means[arch.grok][2], None,
                   ctx.results(ISING).sizes["seed"], "conv1, conv2, FC (seed means)")


def _noisy_seeds(ctx: Context, alpha: float) -> list[float]:
    """Per seed: the fraction of FC neurons with |ρ(E)| ≥ 0.9."""
    energy = ising_features.FEATURES.index("energy")
    return [float(np.mean(np.abs(np.nan_to_num(layers["fc1"][0][:, energy])) >= 0.9))
            for layers in m.final_correlations(ctx, ISING, alpha).values()]


@claim("ising-grok-noisier", "App C, Figs 12-13", "The FC representation is noisier in grokking: some grokking "
       "seeds deviate from perfect energy correlation, while every learning seed has almost all FC neurons at "
       "|ρ(E)| ≈ 1", paper="3 of 10 grokking seeds deviate, no learning seed", tolerance="number of seeds with "
       "< 90% of FC neurons at |ρ(E)| ≥ 0.9: grokking > learning", experiments=(ISING,))
def _grok_noisier(ctx: Context) -> Outcome:
    arch = m.archetypes(ctx, ISING)
    fractions = {alpha: _noisy_seeds(ctx, alpha) for alpha in (arch.grok, arch.learn)}
    noisy = {alpha: sum(f < 0.9 for f in v) for alpha, v in fractions.items()}
    detail = "; ".join(f"α={alpha:g}: " + ", ".join(f"{f:.2f}" for f in v) for alpha, v in fractions.items())
    return Outcome(noisy[arch.grok] > noisy[arch.learn], f"{noisy[arch.grok]} grokking vs {noisy[arch.learn]} "
                   f"learning seeds of {len(fractions[arch.grok])}", float(noisy[arch.grok] - noisy[arch.learn]),
                   None, len(fractions[arch.grok]), "fraction of FC neurons with |ρ(E)| ≥ 0.9 per seed: " + detail)


# ------------------------------------------------------------------------------ App D-E: compressibility


def _correlation_outcome(rho: float, n: int, ok: bool, what: str) -> Outcome:
    return Outcome(_verdict(ok, rho), f"Spearman {rho:+.2f} (n = {n}) {what}", rho, None, n)


@claim("llc-unrelated-to-c", "App D, Fig 15", "No relationship between the local learning coefficient and the "
       "compressibility", paper="no relationship", tolerance=f"Spearman ρ(c, λ̂) over every run that learned "
       f"(batch 64): {stats.ABSENCE_RULE}", experiments=(MODADD,))
def _llc(ctx: Context) -> Outcome:
    c = a.compression_measures(ctx, MODADD)["compressibility"].where(m.learned_runs(ctx, MODADD))
    found = stats.correlation(a.llc(ctx, MODADD).transpose(*c.dims).values, c.values, rank=True)
    return Outcome(stats.absence_verdict(found), found.text("Spearman ρ"), found.rho, None, found.n,
                   f"LLC from {a.LLC_STEPS[ctx.scale]} SGLD steps")


@claim("weight-gini-tracks-c", "App D, Fig 15", "More compressible models have higher weight Gini coefficients",
       paper="higher", tolerance="Spearman ρ(c, Gini |w|) ≥ 0.5 over every run (batch 64)", experiments=(MODADD,))
def _weight_gini(ctx: Context) -> Outcome:
    measures = a.compression_measures(ctx, MODADD)
    rho, n = _spearman(measures["weight_gini"], measures["compressibility"])
    return _correlation_outcome(rho, n, rho >= 0.5, "over all runs")


@claim("ipr-compressive-lower", "App D, Fig 15", "In the compressive regime, compressibility rises as the Fourier "
       "localisation (input and output IPR) falls", paper="decrease in localisation", tolerance="Spearman ρ(c, "
       "mean IPR) ≤ −0.5 for input and output over the runs of the steady α (batch 64)", experiments=(MODADD,))
def _ipr_compressive(ctx: Context) -> Outcome:
    steady = m.steady_alphas(ctx, MODADD)
    measures = a.compression_measures(ctx, MODADD).sel(alpha=steady)
    rhos = {side: _spearman(measures[f"ipr_{side}"], measures["compressibility"]) for side in ("input", "output")}
    worst = max(rho for rho, _ in rhos.values())
    text = ", ".join(f"{side} {rho:+.2f}" for side, (rho, _) in rhos.items())
    return Outcome(_verdict(worst <= -0.5, worst), f"Spearman {text} (n = {rhos['input'][1]})", worst, None,
                   rhos["input"][1], f"steady α: {steady}")


@claim("ipr-bs200-grok-learn-equal", "App D, Fig 16", "At batch size 200 the IPRs of grokking and learning do not "
       "differ significantly", paper="no significant difference", tolerance="|IPR(grokking α) − IPR(learning α)| "
       "/ their mean ≤ 20%, seed means, input and output", experiments=(MODADD_BS200,))
def _ipr_bs200(ctx: Context) -> Outcome:
    arch = m.archetypes(ctx, MODADD_BS200)
    measures = a.compression_measures(ctx, MODADD_BS200).mean("seed")
    gaps = {}
    for side in ("input", "output"):
        grok, learn = (float(measures[f"ipr_{side}"].sel(alpha=x)) for x in (arch.grok, arch.learn))
        gaps[side] = abs(grok - learn) / ((grok + learn) / 2)
    worst = max(gaps.values())
    return Outcome(_verdict(worst <= 0.2, worst), ", ".join(f"{side} {100 * g:.0f}%" for side, g in gaps.items()),
                   worst, None, None, f"grokking α={arch.grok:g}, learning α={arch.learn:g}")


@claim("wd-losses-anticorrelate-c", "App E, Fig 19", "At ten-fold weight decay, train and test loss are negatively "
       "correlated with the compressibility", paper="negative", tolerance="Spearman ρ(c, final train loss) < 0 and "
       "ρ(c, final test loss) < 0 over every run", experiments=(MODADD_WD,))
def _wd_losses(ctx: Context) -> Outcome:
    measures = a.compression_measures(ctx, MODADD_WD)
    rhos = {name: _spearman(measures[name], measures["compressibility"]) for name in ("train_loss", "test_loss")}
    worst = max(rho for rho, _ in rhos.values())
    text = ", ".join(f"{name.replace('_', ' ')} {rho:+.2f}" for name, (rho, _) in rhos.items())
    return Outcome(_verdict(worst < 0, worst), f"Spearman {text} (n = {rhos['train_loss'][1]})", worst, None,
                   rhos["train_loss"][1])


# ------------------------------------------------------------------------------ App F: Fisher spectra, pruning


def spectrum_gap(spectrum, share: float = 0.01, depth: float = 1e-6) -> tuple[float, float]:
    """(size in decades, position as a fraction of the ranks) of the widest gap of an ascending spectrum (rank,):
    the largest rise of log10 F across `share` of the ranks (one rank at least), among the values above
    `depth` × the largest (the far tail holds round-off and the exact zeros of unreached parameters)."""
    values = np.asarray(spectrum, dtype=float)
    kept = np.flatnonzero(values > depth * np.nanmax(values, initial=0.0))
    k = max(1, int(share * kept.size))
    if kept.size <= k:
        return math.nan, math.nan
    logs = np.log10(values[kept])
    rises = logs[k:] - logs[:-k]
    i = int(np.argmax(rises))
    return float(rises[i]), float(kept[i] / values.size)


@claim("fisher-spectrum-gaps", "App F, Fig 20", "The final Fisher spectra show gaps in all cases, at about the same "
       "positions", paper="gaps at similar positions", tolerance="in each task and regime the seed-mean sorted "
       "spectrum rises by ≥ 1 decade across 1% of the ranks somewhere within 6 decades of its largest value, and "
       "within a task the grokking and learning gaps sit within 10% of the ranks of each other",
       experiments=(ISING, MODADD_DYNAMICS))
def _spectrum_gaps(ctx: Context) -> Outcome:
    gaps, positions_close = {}, []
    for experiment, _ in a.TASK_ARCHETYPES:
        spectra = a.fisher_spectra(ctx, experiment)
        found = {float(alpha): spectrum_gap(spectra.sel(alpha=alpha).values) for alpha in spectra["alpha"].values}
        gaps.update({f"{experiment} α={alpha:g}": gap for alpha, gap in found.items()})
        positions = [position for _, position in found.values()]
        positions_close.append(abs(positions[0] - positions[1]) <= 0.1)
    smallest = float(np.min([size for size, _ in gaps.values()]))
    detail = "; ".join(f"{key}: {size:.1f} decades at rank {100 * pos:.1f}%" for key, (size, pos) in gaps.items())
    return Outcome(_verdict(smallest >= 1 and all(positions_close), smallest), f"smallest largest-gap "
                   f"{smallest:.1f} decades; positions close: {positions_close}", smallest, None, len(gaps), detail)


def _fisher_worse(ctx: Context, experiment: str) -> Outcome:
    fisher, magnitude = a.fisher_compressibility(ctx, experiment), m.final_compressibility(ctx, experiment)
    both = np.isfinite(fisher.values) & np.isfinite(magnitude.values)
    worse = float((fisher.values[both] < magnitude.values[both]).mean()) if both.any() else math.nan
    acc = a.scheme_pruning(ctx, experiment, "global")["acc"]
    global_c = summary(pruning.compressibility(acc["fraction"].values, acc.values))[0]
    text = (f"Fisher c {summary(fisher.values)[0]:.2f} vs magnitude c {summary(magnitude.values)[0]:.2f} "
            f"(means); Fisher worse in {100 * worse:.0f}% of {int(both.sum())} runs")
    return Outcome(_verdict(worse > 0.5, worse), text, worse, None, int(both.sum()),
                   "Fisher: fraction of all parameters pruned, ranked jointly; magnitude: the main text's per-layer "
                   f"scheme (fraction of the weights); naive global magnitude pruning: mean c {global_c:.2f}")


@claim("fisher-prune-worse-ising", "App D, F.1, Fig 21", "Ising: Fisher pruning compresses worse than magnitude "
       "pruning", paper="worse", tolerance="c (Eq. 5) of the Fisher-pruning curve < c of per-layer magnitude "
       "pruning in most runs", experiments=(ISING,))
def _fisher_worse_ising(ctx: Context) -> Outcome:
    return _fisher_worse(ctx, ISING)


@claim("fisher-prune-worse-modadd", "App D, F.1, Fig 21", "Mod-add: Fisher pruning compresses worse than "
       "magnitude pruning", paper="worse", tolerance="c (Eq. 5) of the Fisher-pruning curve < c of per-layer "
       "magnitude pruning in most runs", experiments=(MODADD,))
def _fisher_worse_modadd(ctx: Context) -> Outcome:
    return _fisher_worse(ctx, MODADD)


ADVANTAGE_MARGIN = 0.1  # a grokking "advantage" is a seed-mean Fisher-pruning c more than 10% above learning's


@claim("fisher-prune-no-grok-advantage", "App F.1, Fig 21", "Under Fisher pruning, the grokking α gives no "
       "consistent compressibility advantage", paper="no advantage", tolerance="in both tasks the seed-mean "
       f"Fisher-pruning c of the grokking α ≤ (1 + {ADVANTAGE_MARGIN:g}) × that of the learning α (the archetypes "
       "of Figs 3-8)", experiments=(ISING, MODADD))
def _no_grok_advantage(ctx: Context) -> Outcome:
    ratios, texts = {}, []
    for experiment in (ISING, MODADD):
        c = a.fisher_compressibility(ctx, experiment).where(m.learned_runs(ctx, experiment))
        c = c.where(np.isfinite(c)).mean("seed")
        arch = m.archetypes(ctx, experiment)
        ratios[experiment] = _ratio(float(c.sel(alpha=arch.grok)), float(c.sel(alpha=arch.learn)))
        texts.append(f"{experiment} (grok α={arch.grok:g}, learn α={arch.learn:g}): " + ", ".join(
            f"α={float(x):g} {float(c.sel(alpha=x)):.2f}" for x in c["alpha"].values))
    worst = max(ratios.values(), key=lambda r: r if math.isfinite(r) else math.inf)
    return Outcome(_verdict(worst <= 1 + ADVANTAGE_MARGIN, worst), "grokking / learning c: " + ", ".join(
        f"{e} {r:.2f}" for e, r in ratios.items()), worst, None, None, "; ".join(texts))


@claim("ising-global-pruning-artefact", "App F.2, Figs 25-26", "Ising: naive global pruning seems to remove more at "
       "no loss than the per-layer scheme, an artefact of the many small fc1 weights; pruning fc1 alone is mild, "
       "pruning the convolutions drastic", paper="global > per-layer; fc1 resilient", tolerance="c (Eq. 5) "
       "of naive global > per-layer in most runs, and layer-resolved c of fc1.weight > conv1.weight in most runs",
       experiments=(ISING,))
def _global_artefact(ctx: Context) -> Outcome:
    def c_of(scheme, layer=None):
        acc = a.scheme_pruning(ctx, ISING, scheme, layer)["acc"]
        return a._finite(pruning.compressibility(acc["fraction"].values, acc.values))

    def share_above(x, y):
        """Fraction of the runs, where both are finite, in which c of x exceeds c of y."""
        both = np.isfinite(x) & np.isfinite(y)
        return float(np.mean(x[both] > y[both])) if both.any() else math.nan

    global_wins = share_above(c_of("global"), c_of("per_layer"))
    fc1_wins = share_above(c_of("layer", "fc1.weight"), c_of("layer", "conv1.weight"))
    return Outcome(_verdict(global_wins > 0.5 and fc1_wins > 0.5, global_wins + fc1_wins),
                   f"global > per-layer in {100 * global_wins:.0f}% of runs, fc1 > conv1 in {100 * fc1_wins:.0f}%",
                   global_wins, None, ctx.results(ISING).sizes["alpha"] * ctx.results(ISING).sizes["seed"])


# ------------------------------------------------------------------------------ App G: step geometry


def _series(ctx: Context, experiment: str, alpha: float, metric: str = "fisher", subspace: str = "all"):
    """The finite seed-mean Fisher (or Euclidean) step magnitudes of α, (checkpoint,)."""
    values = a.step_measures(ctx, experiment)["magnitude"].sel(alpha=alpha, metric=metric, subspace=subspace)
    return values.values[np.isfinite(values.values)]


def _quarter(values, last: bool) -> float:
    """Mean over the first (or last) quarter of a series, at least one value; NaN for an empty series."""
    if len(values) == 0:
        return math.nan
    n = max(len(values) // 4, 1)
    return float(np.mean(values[-n:] if last else values[:n]))


def _ratio(x: float, y: float) -> float:
    """x / y, inf or NaN (not an exception) where y is 0 or either is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(x, y))


def _curves(ctx: Context):
    """(label, experiment, α) of the four step-magnitude curves: two tasks × grokking/learning."""
    return [(f"{experiment} {regime} α={alpha:g}", experiment, alpha)
            for experiment, _ in a.TASK_ARCHETYPES
            for regime, alpha in zip(("grok", "learn"), m.archetypes(ctx, experiment)[:2], strict=True)]


@claim("fisher-separates-regimes", "App G.2, Fig 31", "The Fisher step magnitude separates grokking from learning "
       "better than the Euclidean one", paper="better separated", tolerance="mean |log10(grokking / learning)| "
       "seed-mean step magnitude over the window: Fisher > Euclidean (Ising)", experiments=(ISING,))
def _fisher_separates(ctx: Context) -> Outcome:
    arch = m.archetypes(ctx, ISING)
    separation = {}
    for metric in ("fisher", "euclid"):
        grok, learn = (_series(ctx, ISING, x, metric) for x in (arch.grok, arch.learn))
        n = min(len(grok), len(learn))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(np.log10(grok[:n] / learn[:n]))
        separation[metric] = float(np.mean(ratio[np.isfinite(ratio)])) if n else math.nan
    value = separation["fisher"] - separation["euclid"]
    return Outcome(_verdict(value > 0, value), f"{separation['fisher']:.2f} (Fisher) vs {separation['euclid']:.2f} "
                   "(Euclidean) decades", value)


@claim("step-magnitude-decreases", "App G.3, Fig 32", "In both tasks and regimes the Fisher step magnitude "
       "generally decreases over training", paper="decreasing", tolerance="mean over the last quarter of the "
       "window < mean over the first quarter, all four seed-mean curves", experiments=(ISING, MODADD_DYNAMICS))
def _decreases(ctx: Context) -> Outcome:
    ratios = {label: _ratio(_quarter(s, True), _quarter(s, False))
              for label, experiment, alpha in _curves(ctx) for s in [_series(ctx, experiment, alpha)]}
    worst = float(np.max(list(ratios.values())))
    return Outcome(_verdict(worst < 1, worst), f"largest late/early ratio {worst:.2g}", worst, None, len(ratios),
                   "; ".join(f"{k}: {v:.2g}" for k, v in ratios.items()))


@claim("grok-steps-start-larger", "App G.3, Fig 32", "The grokking regimes start with larger step magnitudes, and "
       "end of the same order as learning", paper="larger start; same order at the end", tolerance="first Fisher "
       "step magnitude: grokking > learning, and last-quarter means within a factor 10, both tasks",
       experiments=(ISING, MODADD_DYNAMICS))
def _grok_starts_larger(ctx: Context) -> Outcome:
    rows, ok = [], True
    for experiment, _ in a.TASK_ARCHETYPES:
        arch = m.archetypes(ctx, experiment)
        grok, learn = (_series(ctx, experiment, x) for x in (arch.grok, arch.learn))
        if not (len(grok) and len(learn)):
            return Outcome(None, f"{experiment}: no step magnitude")
        late = _ratio(_quarter(grok, True), _quarter(learn, True))
        ok = ok and grok[0] > learn[0] and 0.1 <= late <= 10
        rows.append(f"{experiment}: start {grok[0]:.3g} vs {learn[0]:.3g}, late ratio {late:.2g}")
    return Outcome(ok, "; ".join(rows))


@claim("stiff-steps-above-sloppy", "App G.3, Fig 32", "Stiff step magnitudes converge to higher values than sloppy "
       "ones", paper="stiff > sloppy late", tolerance="last-quarter mean of the seed-mean stiff magnitude > sloppy, "
       "all four curves", experiments=(ISING, MODADD_DYNAMICS))
def _stiff_above(ctx: Context) -> Outcome:
    ratios = {label: _ratio(_quarter(_series(ctx, e, x, subspace="stiff"), True),
                            _quarter(_series(ctx, e, x, subspace="sloppy"), True)) for label, e, x in _curves(ctx)}
    worst = float(np.min(list(ratios.values())))
    return Outcome(_verdict(worst > 1, worst), f"smallest late stiff/sloppy ratio {worst:.2g}", worst, None,
                   len(ratios), "; ".join(f"{k}: {v:.2g}" for k, v in ratios.items()))


@claim("grok-stiff-sloppy-cross", "App G.3, Fig 32", "In the grokking regime the sloppy step magnitude starts above "
       "the stiff one and the two cross", paper="sloppy first, then stiff", tolerance="grokking α, both tasks: "
       "sloppy > stiff at the first step and stiff > sloppy over the last quarter", experiments=(ISING,
                                                                                                 MODADD_DYNAMICS))
def _cross(ctx: Context) -> Outcome:
    rows, ok = [], True
    for experiment, _ in a.TASK_ARCHETYPES:
        grok = m.archetypes(ctx, experiment).grok
        stiff, sloppy = (_series(ctx, experiment, grok, subspace=s) for s in ("stiff", "sloppy"))
        if not (len(stiff) and len(sloppy)):
            return Outcome(None, f"{experiment}: no stiff/sloppy split (no parameter on one side of 0.1)")
        ok = ok and sloppy[0] > stiff[0] and _quarter(stiff, True) > _quarter(sloppy, True)
        rows.append(f"{experiment}: start sloppy/stiff {_ratio(sloppy[0], stiff[0]):.2g}, late stiff/sloppy "
                    f"{_ratio(_quarter(stiff, True), _quarter(sloppy, True)):.2g}")
    return Outcome(ok, "; ".join(rows))
