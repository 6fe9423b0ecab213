"""The claims report (claims.md, claims.json): the paper's quantitative claims checked against our results.

A claim is a small function registered with `@claim`: it reads the Context (through the same cached derived
data as the figures, repro.figures.main) and returns an `Outcome`: our number(s) and whether they agree with
the paper by the tolerance written in the registration. Nothing in the report is typed in except the paper's
values and the tolerances; a claim whose experiment has not been run gets the verdict "not run at this scale",
one whose data cannot decide it (e.g. a fit needing 3 points, a confidence interval too wide to tell) "not
testable at this scale", and one whose evaluation raised "could not be evaluated" with the error in its
detail: one failing claim never stops the report. An undefined number (c of a curve that never drops, a
time of a run that did not learn) is reported in words, never as a number.

Adding a claim (e.g. in repro/figures/appendix.py)::

    from repro.figures.claims import Outcome, claim, summary

    @claim("fisher-gap", "App F", "The final Fisher spectra have a gap near 0.1",
           paper="gap at ≈ 0.1", tolerance="…", experiments=("ising-main",))
    def _fisher_gap(ctx):
        values = ...                       # per seed, from ctx.results(...) or repro.figures.main helpers
        mean, spread, n = summary(values)
        return Outcome(agrees=bool(...), ours=f"{mean:.2f} ± {spread:.2f} ({n} seeds)", value=mean,
                       spread=spread, n=n)

The module must be imported before the report is written; pipeline.write_claims imports the figure modules
(main, appendix, tables) first, so claims registered there are included. Keys must be unique.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grokcore.measures import curves, fourier, geometry, lazy
from grokcore.measures.ising_features import best_feature_fraction, weighted_correlation
from repro.figures import main as m
from repro.figures import stats
from repro.figures.registry import Context, MissingResults, git_revision

VERDICTS = ("agrees", "differs", "not testable at this scale", "not run at this scale", "could not be evaluated")


@dataclass(frozen=True)
class Outcome:
    """Our side of a claim: agrees True/False (None: the grid cannot test it), our number(s) as text, and the
    headline value with its spread over seeds (sample standard deviation) and the number of values."""

    agrees: bool | None
    ours: str
    value: float | None = None
    spread: float | None = None
    n: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim: what the paper says (statement, paper value), how we judge it, what it reads."""

    key: str
    section: str
    statement: str
    paper: str
    tolerance: str
    experiments: tuple[str, ...]
    evaluate: Callable[[Context], Outcome]


@dataclass(frozen=True)
class ClaimResult:
    """One row of the report."""

    key: str
    section: str
    statement: str
    paper: str
    ours: str
    tolerance: str
    verdict: str
    experiments: tuple[str, ...]
    scale: str
    value: float | None
    spread: float | None
    n: int | None
    detail: str


CLAIMS: dict[str, ClaimSpec] = {}


def claim(key: str, section: str, statement: str, paper: str, tolerance: str, experiments):
    """Decorator registering `evaluate(ctx) -> Outcome` as claim `key`."""

    def register(evaluate):
        if key in CLAIMS:
            raise ValueError(f"claim {key!r} is registered twice")
        CLAIMS[key] = ClaimSpec(key, section, statement, paper, tolerance, tuple(experiments), evaluate)
        return evaluate

    return register


def evaluate_claims(ctx: Context, keys=None) -> list[ClaimResult]:
    """Evaluate the claims `keys` (default: all, in registration order) at the context's scale."""
    unknown = set(keys or ()) - set(CLAIMS)
    if unknown:
        raise ValueError(f"unknown claims {sorted(unknown)}: expected some of {', '.join(CLAIMS)}")
    results = []
    for spec in CLAIMS.values():
        if keys is not None and spec.key not in keys:
            continue
        try:
            out = spec.evaluate(ctx)
            verdict = {True: "agrees", False: "differs", None: "not testable at this scale"}[out.agrees]
        except MissingResults as missing:
            out, verdict = Outcome(None, "—", detail=str(missing)), "not run at this scale"
        except Exception as error:  # noqa: BLE001 - one broken claim must not cost the others their verdicts
            out, verdict = Outcome(None, "—", detail=f"{type(error).__name__}: {error}"), "could not be evaluated"
        results.append(ClaimResult(spec.key, spec.section, spec.statement, spec.paper, out.ours,
                                   spec.tolerance, verdict, spec.experiments, ctx.scale, _number(out.value),
                                   _number(out.spread), out.n, out.detail))
    return results


def _number(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def write_report(ctx: Context, out_dir: str = "figures", keys=None) -> list[Path]:
    """Write <out_dir>/<scale>/claims.md and claims.json from `evaluate_claims`; returns both paths."""
    results = evaluate_claims(ctx, keys)
    folder = Path(out_dir) / ctx.scale
    folder.mkdir(parents=True, exist_ok=True)
    header = {"scale": ctx.scale, "git": git_revision(),
              "counts": {v: sum(r.verdict == v for r in results) for v in VERDICTS}}
    json_path, md_path = folder / "claims.json", folder / "claims.md"
    json_path.write_text(json.dumps({**header, "claims": [asdict(r) for r in results]}, indent=2,
                                    ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results, header))
    return [md_path, json_path]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results: list[ClaimResult], header: dict) -> str:
    """The report as a Markdown table (one row per claim) with the details below it."""
    counts = ", ".join(f"{n} {v}" for v, n in header["counts"].items())
    lines = [f"# Claims of the paper vs this reproduction (scale {header['scale']}, git {header['git']})", "",
             f"{len(results)} claims: {counts}. Ours: mean ± sample standard deviation over seeds unless "
             "stated.", "", "| claim | § | paper says | paper | ours | tolerance | verdict |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.key} | {r.section} | {_cell(r.statement)} | {_cell(r.paper)} | {_cell(r.ours)} | "
              f"{_cell(r.tolerance)} | {r.verdict} |" for r in results]
    lines += ["", "## Details", ""]
    lines += [f"- **{r.key}** ({', '.join(r.experiments)}): {r.detail}" for r in results if r.detail]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ helpers


def summary(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of the finite values."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, 0
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0, int(values.size)


def _pm(values, digits: int = 2, unit: str = "seeds") -> tuple[str, float, float, int]:
    mean, spread, n = summary(values)
    return f"{mean:.{digits}f} ± {spread:.{digits}f} ({n} {unit})", mean, spread, n


def _rank_correlation(x, y) -> float:
    """Spearman's rank correlation of two equal-length 1-d arrays (no ties expected)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1]) if len(x) > 1 else math.nan


def _fit_text(fit: m.LinearFit) -> str:
    return f"slope {fit.slope:.3g}, R² = {fit.r2:.2f} (n = {fit.n})"


# ------------------------------------------------------------------------------------- §3: grokking onset


def _onset(ctx: Context, experiment: str) -> Outcome:
    regime = m.majority_regime(ctx, experiment)
    times = m.regimes(ctx, experiment)
    delta = times["delta"].where(m.learned_runs(ctx, experiment))
    every = times.attrs["eval_every"]
    detail = "; ".join(f"α={a:g}: {r} (Δt_grok = {_epochs(float(delta.sel(alpha=a).mean()), every)})"
                       for a, r in sorted(regime.items()))
    alphas = sorted(a for a, r in regime.items() if r != "did-not-learn")
    if len(alphas) < 2:
        return Outcome(None, f"{len(alphas)} α learned in most seeds", None, None, len(alphas), detail)
    onset = next((a for i, a in enumerate(alphas) if all(regime[b] == "grok" for b in alphas[i:])), math.nan)
    agrees = regime[alphas[0]] == "steady" and regime[alphas[-1]] == "grok"
    return Outcome(agrees, f"onset α = {onset:g}" if math.isfinite(onset) else "no α groks in all larger α",
                   onset, None, len(alphas), detail)


def _epochs(value: float, every: int) -> str:
    """A Def. 1 time in epochs with its resolution (the test set is evaluated every `every` epochs)."""
    if not math.isfinite(value):
        return "undefined (did not learn)"
    return f"{value:.0f} ± {every} ep." if every > 1 else f"{value:.0f} ep."


ONSET_RULE = (f"smallest α steady and largest α groks (majority of seeds; Def. 2 with our threshold "
              f"Δt_grok > {m.GROK_THRESHOLD:g}·t_train); α whose seeds mostly did not learn (final test accuracy "
              f"< chance + {m.LEARN_MARGIN:g}·(1 − chance)) are left out")


@claim(
    "onset-ising", "§3",
    "Increasing α interpolates from steady learning to grokking; grokking sets in above an onset α",
    paper="onset α stripped from the text",
    tolerance=ONSET_RULE,
    experiments=("ising-main",),
)
def _onset_ising(ctx):
    return _onset(ctx, "ising-main")


@claim(
    "onset-modadd", "§3",
    "Mod-add: steady learning at small α, grokking above an onset α",
    paper="onset α stripped; archetypes learn 0.1, grok 10",
    tolerance=ONSET_RULE,
    experiments=("modadd-main",),
)
def _onset_modadd(ctx):
    return _onset(ctx, "modadd-main")


# ------------------------------------------------------------------------------------ App A: end of training


def _relative_spread(values) -> np.ndarray:
    """(max − min)/mean over seeds for each α: values (alpha, seed) -> (alpha,)."""
    return (values.max("seed") - values.min("seed")) / values.mean("seed")


@claim("modadd-all-100", "App A", "All mod-add seeds reach 100% test accuracy", paper="100% (every seed)",
       tolerance="every run's final test accuracy ≥ 99%", experiments=("modadd-main",))
def _modadd_all_100(ctx):
    acc = m.final_metrics(ctx, "modadd-main")["test_acc"]
    worst = float(acc.min())
    detail = "; ".join(f"α={float(a):g}: min {float(acc.sel(alpha=a).min()):.4f}"
                       for a in acc["alpha"].values)
    return Outcome(worst >= 0.99, f"lowest final test accuracy {100 * worst:.2f}% ({acc.size} runs)", worst,
                   None, int(acc.size), detail)


def _worst_spread(ctx: Context, experiment: str, names, relative: bool) -> tuple[float, str]:
    """Largest spread over seeds of the final metrics `names` (Fig 9/10 plot train and test) over every α:
    (max − min)/mean if relative, else max − min; and where it is ("test_loss α=0.1")."""
    metrics = m.final_metrics(ctx, experiment)
    spreads = {}
    for name in names:
        values = metrics[name]
        spread = _relative_spread(values) if relative else values.max("seed") - values.min("seed")
        spreads.update({f"{name} α={float(a):g}": float(spread.sel(alpha=a)) for a in spread["alpha"].values})
    worst = max(spreads, key=lambda k: spreads[k] if math.isfinite(spreads[k]) else -math.inf)
    return spreads[worst], worst


@claim("modadd-loss-spread", "App A", "Mod-add end losses are within 5% of each other across seeds",
       paper="≤ 5%", tolerance="largest (max − min)/mean over seeds of the final train and of the final test "
       "loss, any α, ≤ 5%", experiments=("modadd-main",))
def _modadd_loss_spread(ctx):
    worst, where = _worst_spread(ctx, "modadd-main", ("train_loss", "test_loss"), relative=True)
    return Outcome(worst <= 0.05, f"{100 * worst:.1f}% ({where})", worst, None, None)


@claim("ising-acc-spread", "App A", "Ising end accuracies are within 5% across seeds", paper="≤ 5 points",
       tolerance="largest max − min over seeds of the final train and of the final test accuracy, any α, ≤ 0.05",
       experiments=("ising-main",))
def _ising_acc_spread(ctx):
    worst, where = _worst_spread(ctx, "ising-main", ("train_acc", "test_acc"), relative=False)
    return Outcome(worst <= 0.05, f"{100 * worst:.1f} points ({where})", worst, None, None)


@claim("ising-loss-spread", "App A", "Ising end losses can vary by more than 50% across seeds", paper="> 50%",
       tolerance="largest (max − min)/mean over seeds of the final train or test loss, any α, > 50%",
       experiments=("ising-main",))
def _ising_loss_spread(ctx):
    worst, where = _worst_spread(ctx, "ising-main", ("train_loss", "test_loss"), relative=True)
    return Outcome(worst > 0.5, f"{100 * worst:.0f}% ({where})", worst, None, None)


# ------------------------------------------------------------------------------ §4.1, App C: Ising features


def _fc_correlation(ctx: Context, regime: str, feature: int, target: float, tol: float) -> Outcome:
    arch = m.archetypes(ctx, "ising-main")
    alpha = arch.grok if regime == "grok" else arch.learn
    by_seed = m.final_correlations(ctx, "ising-main", alpha)
    values = [float(weighted_correlation(*layers["fc1"])[feature]) for layers in by_seed.values()]
    text, mean, spread, n = _pm(values)
    median = [float(np.nanmedian(np.abs(layers["fc1"][0][:, feature]))) for layers in by_seed.values()]
    detail = (f"α = {alpha:g} ({arch.reason}); per seed: {', '.join(f'{v:.3f}' for v in values)}; median |ρ| "
              f"over neurons per seed: {', '.join(f'{v:.3f}' for v in median)}")
    return Outcome(abs(mean - target) <= tol, text, mean, spread, n, detail)


for _regime, _name in (("grok", "grokking"), ("learn", "learning")):
    claim(f"ising-fc-energy-{_regime}", "§4.1, App C", f"FC neurons are (anti-)correlated with the energy, "
          f"|ρ| ≈ 0.99 ({_name} α)", paper="0.99", tolerance="Eq. 6 weighted |ρ(E)| of the FC layer within "
          "±0.05", experiments=("ising-main",))(lambda ctx, r=_regime: _fc_correlation(ctx, r, 0, 0.99, 0.05))
    claim(f"ising-fc-absmag-{_regime}", "App C", f"FC neurons correlate with |M| at about 0.9 ({_name} α)",
          paper="0.9", tolerance="Eq. 6 weighted |ρ(|M|)| of the FC layer within ±0.1",
          experiments=("ising-main",))(lambda ctx, r=_regime: _fc_correlation(ctx, r, 2, 0.9, 0.1))


@claim(
    "ising-energy-majority", "§4.1",
    "For every seed, grokking and learning, the energy is the best-correlated feature of most neurons in "
    "conv2 and FC",
    paper="> 50% of neurons, every seed",
    tolerance="fraction of neurons whose largest |ρ| is with E > 0.5 for every seed, regime and layer "
              "(conv2, FC)",
    experiments=("ising-main",),
)
def _ising_energy_majority(ctx):
    arch = m.archetypes(ctx, "ising-main")
    fractions = {(regime, layer, seed): float(best_feature_fraction(layers[layer][0])[0])
                 for regime, alpha in (("grok", arch.grok), ("learn", arch.learn))
                 for seed, layers in m.final_correlations(ctx, "ising-main", alpha).items()
                 for layer in ("conv2", "fc1")}
    worst = min(fractions, key=fractions.get)
    detail = "; ".join(f"{r} {layer} seed {s}: {v:.2f}" for (r, layer, s), v in fractions.items())
    return Outcome(fractions[worst] > 0.5, f"lowest fraction {fractions[worst]:.2f} ({worst[0]} α, "
                   f"{worst[1]}, seed {worst[2]})", fractions[worst], None, len(fractions), detail)


# ------------------------------------------------------------------------------------- §4.2: mod-add IPR


IPR_DEFAULT = ("two_sided", "all")  # Eq. 7 as printed: the variant the values are judged under
TWO_SIDED_CEILING = 0.5  # the largest two-sided IPR of a non-constant real vector (a pure sinusoid)


def ipr_variants(ctx: Context, experiment: str, alpha: float) -> dict[tuple[str, str], list[float]]:
    """Layer-mean unembedding IPR (Eq. 7) of every seed's final model of α under each normalisation
    (fourier.BASES) and neuron set (fourier.NEURON_SETS): {(basis, neurons): [per seed]}."""

    def compute():
        seeds = ctx.results(experiment)["seed"].values
        thetas = [m.final_theta(ctx, experiment, alpha, int(s)) for s in seeds]
        return {(basis, neurons): [float(fourier.mean_ipr(t, "output", basis=basis, neurons=neurons)) for t in thetas]
                for basis in fourier.BASES for neurons in fourier.NEURON_SETS}

    return m._cached(ctx, ("ipr_variants", experiment, alpha), compute)


def _variants_text(variants: dict[tuple[str, str], list[float]]) -> str:
    return "; ".join(f"{basis}, {neurons} neurons: {_pm(values)[0]}" for (basis, neurons), values in variants.items())


def _ipr(ctx: Context, regime: str) -> Outcome:
    arch = m.archetypes(ctx, "modadd-main")
    alpha = arch.grok if regime == "grok" else arch.learn
    variants = ipr_variants(ctx, "modadd-main", alpha)
    text, mean, spread, n = _pm(variants[IPR_DEFAULT])
    paper = m.PAPER_IPR[regime]
    ceiling = (f"; the paper's {paper} exceeds the two-sided ceiling {TWO_SIDED_CEILING} (a pure sinusoid), so "
               "Eq. 7 as printed cannot give it" if paper > TWO_SIDED_CEILING else "")
    detail = (f"α = {alpha:g}; unembedding (W_out); judged under {IPR_DEFAULT[0]}, {IPR_DEFAULT[1]} neurons "
              f"(Eq. 7 as printed){ceiling}. Every variant: {_variants_text(variants)}")
    return Outcome(_defined(abs(mean - paper) <= 0.05, mean), text, mean, spread, n, detail)


IPR_RULE = (f"seed-mean IPR (Eq. 7, r = 2) of the unembedding within ±0.05, under the default normalisation "
            f"({IPR_DEFAULT[0]} DFT, all 512 neurons); the other variants are reported in the details")


@claim("ipr-grok", "§4.2", "Mean Fourier IPR of the grokked mod-add model (α = 10)", paper="0.43",
       tolerance=IPR_RULE, experiments=("modadd-main",))
def _ipr_grok(ctx):
    return _ipr(ctx, "grok")


@claim("ipr-learn", "§4.2", "Mean Fourier IPR of the steadily learned mod-add model (α = 0.1)", paper="0.53 (above "
       "the two-sided ceiling 0.5)", tolerance=IPR_RULE, experiments=("modadd-main",))
def _ipr_learn(ctx):
    return _ipr(ctx, "learn")


@claim("ipr-order", "§4.2", "The learned mod-add model is more Fourier-localised than the grokked one",
       paper="0.53 > 0.43", tolerance=f"seed-mean IPR: learning α > grokking α under the default normalisation "
       f"({IPR_DEFAULT[0]}, all neurons); the order under every other variant in the details",
       experiments=("modadd-main",))
def _ipr_order(ctx):
    arch = m.archetypes(ctx, "modadd-main")
    grok, learn = (ipr_variants(ctx, "modadd-main", a) for a in (arch.grok, arch.learn))
    means = {key: (summary(learn[key])[0], summary(grok[key])[0]) for key in grok}
    gap = means[IPR_DEFAULT][0] - means[IPR_DEFAULT][1]
    detail = "; ".join(f"{basis}, {neurons}: learn {lv:.3f} vs grok {gv:.3f}"
                       for (basis, neurons), (lv, gv) in means.items())
    return Outcome(_defined(gap > 0, gap), f"learn {means[IPR_DEFAULT][0]:.3f} vs grok {means[IPR_DEFAULT][1]:.3f} "
                   f"(α = {arch.learn:g} vs {arch.grok:g})", gap, None, None, detail)


def _defined(ok: bool, value) -> bool | None:
    """`ok` where `value` is a finite number, None (not testable: undefined) otherwise."""
    return bool(ok) if value is not None and math.isfinite(float(value)) else None


# --------------------------------------------------------------------------------- §5, App D-E: compression


def _linear(fit: m.LinearFit) -> bool:
    """A clear positive linear trade-off."""
    return bool(fit.r2 >= 0.8 and fit.slope > 0)


def _tradeoff(ctx: Context, experiment: str, against: str, alphas, judge) -> Outcome:
    """judge(fit) of the linear fit of c against a final metric over every seed of `alphas`; not testable with
    fewer than 3 distinct α (a line through two clusters of seeds always fits)."""
    fit = m.compressibility_fit(ctx, experiment, against, alphas)
    detail = f"fit over the seeds of α = {list(alphas)}"
    agrees = judge(fit) if len(alphas) >= 3 and math.isfinite(fit.r2) else None
    return Outcome(agrees, _fit_text(fit), fit.r2, None, fit.n, detail)


def _all_alphas(ctx: Context, experiment: str) -> list[float]:
    return [float(a) for a in ctx.results(experiment)["alpha"].values]


@claim(
    "tradeoff-modadd", "§5, Fig 5c",
    "Mod-add compressive regime: compressibility depends linearly on the final train loss",
    paper="linear trade-off (no slope given)",
    tolerance="fit of c against final train loss over the seeds of the steady α (≥ 3 α): R² ≥ 0.8 and slope "
              "> 0",
    experiments=("modadd-main",),
)
def _tradeoff_modadd(ctx):
    return _tradeoff(ctx, "modadd-main", "train_loss", m.steady_alphas(ctx, "modadd-main"), _linear)


def _absent(ctx: Context, experiment: str, against: str, alphas) -> Outcome:
    """The absence test (stats.absence_verdict) on the Pearson correlation of c with a final metric over the
    runs of `alphas` that learned; not testable with fewer than 3 distinct α."""
    c = m.final_compressibility(ctx, experiment).where(m.learned_runs(ctx, experiment))
    metric = m.final_metrics(ctx, experiment)[against]
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
    experiments=("ising-main",),
)
def _tradeoff_ising(ctx):
    return _absent(ctx, "ising-main", "train_loss", _all_alphas(ctx, "ising-main"))


@claim(
    "tradeoff-bs200-absent", "App D, Fig 14",
    "Batch size 200 eliminates the compressive regime",
    paper="no linear trade-off",
    tolerance=f"Pearson r of c with the final train loss over the steady α; {ABSENT_RULE}",
    experiments=("modadd-bs200",),
)
def _tradeoff_bs200(ctx):
    return _absent(ctx, "modadd-bs200", "train_loss", m.steady_alphas(ctx, "modadd-bs200"))


@claim("tradeoff-test-loss-absent", "§5, App D", "No correlation between compressibility and the test loss",
       paper="no correlation", tolerance=f"Pearson r of c with the final test loss over the steady α; "
       f"{ABSENT_RULE}", experiments=("modadd-main",))
def _tradeoff_test_loss(ctx):
    return _absent(ctx, "modadd-main", "test_loss", m.steady_alphas(ctx, "modadd-main"))


@claim(
    "compress-falls-with-alpha", "§5, Fig 5a",
    "In the steady regime compressibility improves systematically as α decreases",
    paper="monotone",
    tolerance="Spearman correlation of seed-mean c with α over the steady α ≤ −0.8 (at least 2 α)",
    experiments=("modadd-main",),
)
def _compress_falls(ctx):
    steady = m.steady_alphas(ctx, "modadd-main")
    c = _defined_c(ctx, "modadd-main").mean("seed")
    if len(steady) < 2:
        return Outcome(None, f"{len(steady)} steady α", None, None, len(steady))
    values = [float(c.sel(alpha=a)) for a in steady]
    rho = _rank_correlation(steady, values)
    detail = "; ".join(f"α={a:g}: c = {v:.2f}" for a, v in zip(steady, values, strict=True))
    return Outcome(_defined(rho <= -0.8, rho), f"Spearman {rho:+.2f} over {len(steady)} α", rho, None, len(steady),
                   detail)


@claim(
    "compress-flat-grok", "§5, Fig 5a",
    "In the mod-add grokking regime compressibility does not depend on α",
    paper="curves on top of each other",
    tolerance="(max − min)/mean of seed-mean c over the grokking α ≤ 20% (at least 2 α)",
    experiments=("modadd-main",),
)
def _compress_flat(ctx):
    grok = [a for a, r in m.majority_regime(ctx, "modadd-main").items() if r == "grok"]
    if len(grok) < 2:
        return Outcome(None, f"{len(grok)} grokking α", None, None, len(grok))
    c = _defined_c(ctx, "modadd-main").mean("seed").sel(alpha=grok)
    spread = float((c.max() - c.min()) / c.mean())
    return Outcome(_defined(spread <= 0.2, spread), f"{100 * spread:.0f}% over α = {grok}", spread, None, len(grok))


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
    c = m.final_compressibility(ctx, experiment).where(m.learned_runs(ctx, experiment))
    return c.where(np.isfinite(c))


def _best_compressibility(ctx: Context, experiment: str) -> tuple[float, float, float, str]:
    """Largest seed-mean c over α, over the runs that learned and have a defined c: (α, mean c, std c over
    seeds, note on undefined values); NaN for all three numbers where no α has a defined c."""
    note = _undefined_c(m.final_compressibility(ctx, experiment).where(m.learned_runs(ctx, experiment)).values)
    finite = _defined_c(ctx, experiment)
    means = finite.mean("seed")
    if not np.isfinite(means).any():
        return math.nan, math.nan, math.nan, note
    alpha = float(means.idxmax())
    _, mean, spread, _ = _pm(finite.sel(alpha=alpha).values)
    return alpha, mean, spread, note


@claim("compress-25x-wd", "§5, App E", "At ten-fold weight decay and low α the model compresses 25×",
       paper="25×", tolerance="largest seed-mean c over α within a factor 1.5 (16.7-37.5)",
       experiments=("modadd-wd",))
def _compress_25x(ctx):
    alpha, mean, spread, note = _best_compressibility(ctx, "modadd-wd")
    if not math.isfinite(mean):
        return Outcome(None, "c undefined for every α", detail=note)
    n = ctx.results("modadd-wd").sizes["seed"]
    return Outcome(25 / 1.5 <= mean <= 25 * 1.5, f"{mean:.1f} ± {spread:.1f}× at α = {alpha:g} ({n} seeds)",
                   mean, spread, n, note)


@claim(
    "compress-5x-main", "§5, App E",
    "…which is 5× the highest compression at the main weight decay",
    paper="5×",
    tolerance="ratio of the largest seed-mean c (wd 3e-4 / 3e-5) within a factor 1.5 (3.3-7.5)",
    experiments=("modadd-wd", "modadd-main"),
)
def _compress_5x(ctx):
    alpha_wd, wd, _, note_wd = _best_compressibility(ctx, "modadd-wd")
    alpha_main, main, _, note_main = _best_compressibility(ctx, "modadd-main")
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
    experiments=("modadd-wd",),
)
def _prune_95(ctx):
    alpha, _, _, note = _best_compressibility(ctx, "modadd-wd")
    if not math.isfinite(alpha):
        return Outcome(None, "c undefined for every α", detail=note)
    acc = m.final_pruning(ctx, "modadd-wd")["acc"].sel(alpha=alpha)
    p = acc["fraction"].values
    per_seed = [prunable_at(p, a) for a in acc.transpose("seed", "fraction").values]
    text, mean, spread, n = _pm(per_seed)
    if n == 0:
        return Outcome(None, f"undefined: A(0) missing or 0 in every seed at α = {alpha:g}", detail=note)
    return Outcome(abs(mean - 0.95) <= 0.03, f"{text} at α = {alpha:g}", mean, spread, n, note)


@claim("ipr-collapse-wd", "§5, App E", "In the extremely compressed regime the mean IPR falls by close to an "
       "order of magnitude", paper="≈ 0.1× (ten-fold fall)", tolerance="mean IPR (unembedding) at the most "
       "compressible α of the wd 3e-4 sweep over that of the same α at wd 3e-5: 0.05-0.2",
       experiments=("modadd-wd", "modadd-main"))
def _ipr_collapse(ctx):
    alpha, _, _, note = _best_compressibility(ctx, "modadd-wd")
    if not math.isfinite(alpha) or alpha not in ctx.results("modadd-main")["alpha"].values:
        return Outcome(None, f"most compressible α = {alpha:g} not in modadd-main", detail=note)
    ipr = {e: summary(ipr_variants(ctx, e, alpha)[IPR_DEFAULT])[0] for e in ("modadd-wd", "modadd-main")}
    ratio = ipr["modadd-wd"] / ipr["modadd-main"]
    return Outcome(_defined(0.05 <= ratio <= 0.2, ratio), f"{ratio:.2f}× ({ipr['modadd-wd']:.3f} vs "
                   f"{ipr['modadd-main']:.3f} at α = {alpha:g})", ratio, None,
                   ctx.results("modadd-wd").sizes["seed"], note)


def nonzero_gini(values) -> float:
    """Gini (§4.14) of the non-zero entries of a non-negative vector (n,); NaN with fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[values != 0]
    return float(geometry.gini(values)) if values.size > 1 else math.nan


@claim(
    "gini-fisher-above-weights", "App D",
    "The Gini coefficient of the Fisher diagonal is substantially higher than that of the weight magnitudes",
    paper="higher",
    tolerance="Fisher Gini > weight Gini in every final model, over all entries and over the non-zero entries "
              "of the Fisher diagonal (Gini ≥ the share of exact zeros, and 16 Fisher samples leave most of "
              "the diagonal exactly zero, so the first alone passes by construction)",
    experiments=("modadd-main",),
)
def _gini(ctx):
    ds = ctx.results("modadd-main")
    final = ds[["theta", "fim_diag"]].isel(checkpoint=-1).assign_attrs(ds.attrs)
    gini = lazy.gini_coefficients(final).compute()
    fim = final["fim_diag"].transpose("alpha", "seed", "param").values
    nonzero = np.array([[nonzero_gini(run) for run in row] for row in fim])
    zeros = float(np.mean(fim == 0))
    weight = gini["weight_gini"].transpose("alpha", "seed").values
    gap_all, gap_nonzero = gini["fisher_gini"].transpose("alpha", "seed").values - weight, nonzero - weight
    text, mean, spread, n = _pm(gap_nonzero, unit="runs")
    agrees = _defined(bool((gap_all > 0).all() and (gap_nonzero > 0).all()), np.sum(gap_nonzero))
    return Outcome(agrees, f"non-zero Fisher − weight Gini {text}", mean, spread, n,
                   f"all entries: Fisher − weight Gini {_pm(gap_all, unit='runs')[0]}; {100 * zeros:.0f}% of the "
                   f"Fisher diagonal entries are exactly zero; weight Gini {_pm(weight, unit='runs')[0]}")


# -------------------------------------------------------------------------------- §6.1-6.2: development


def _transient(ctx: Context, regime: str, target: float) -> Outcome:
    arch = m.archetypes(ctx, "modadd-dynamics")
    alpha = arch.grok if regime == "grok" else arch.learn
    c = m.dynamics_compressibility(ctx, "modadd-dynamics", (arch.grok, arch.learn)).sel(alpha=alpha)
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
    experiments=("modadd-dynamics",),
)
def _transient_learn(ctx):
    return _transient(ctx, "learn", 0.5)


@claim("transient-grok", "§6.2", "Mod-add grokking: transient compressibility peak above the steady state",
       paper="+67%", tolerance="(peak c − final c)/final c, seed mean, within ±25 points",
       experiments=("modadd-dynamics",))
def _transient_grok(ctx):
    return _transient(ctx, "grok", 0.67)


def plateau_progress(epochs, measure, acc_epochs, train_acc, test_acc) -> float:
    """Share of a measure's range (max − min along the run) gained in the grokking plateau of one run (§6.1).

    The plateau runs from t_train (Def. 1, train accuracy within 5% of its maximum) to the first epoch at
    which the test accuracy passes the midpoint between its value at t_train and its maximum. epochs
    (checkpoint,), measure (checkpoint,); acc_epochs (epoch,), train_acc, test_acc (epoch,) with NaN where not
    evaluated. NaN if fewer than 2 checkpoints fall inside the plateau.
    """
    epochs, measure = np.asarray(epochs, dtype=float), np.asarray(measure, dtype=float)
    t_train = float(curves.threshold_epoch(train_acc, epochs=acc_epochs))
    tested = np.isfinite(test_acc)
    if not math.isfinite(t_train) or not tested.any():
        return math.nan
    at_train = test_acc[tested][min(np.searchsorted(acc_epochs[tested], t_train), tested.sum() - 1)]
    midpoint = (at_train + np.nanmax(test_acc)) / 2
    jumped = tested & (acc_epochs >= t_train) & (test_acc >= midpoint)
    t_jump = acc_epochs[np.argmax(jumped)] if jumped.any() else np.nan
    inside = np.flatnonzero((epochs >= t_train) & (epochs < t_jump))
    span = np.nanmax(measure) - np.nanmin(measure)
    if inside.size < 2 or not span > 0:
        return math.nan
    return float((measure[inside[-1]] - measure[inside[0]]) / span)


def _plateau(ctx: Context, experiment: str, measure) -> tuple[list[float], float]:
    """plateau_progress per seed of the grokking α for a measure (alpha, seed, checkpoint)."""
    ds = ctx.results(experiment)
    alpha = m.archetypes(ctx, experiment).grok
    values = []
    for seed in ds["seed"].values:
        run = ds[["train_acc", "test_acc"]].sel(alpha=alpha, seed=seed).compute()
        series = measure.sel(alpha=alpha, seed=seed)
        values.append(plateau_progress(series["checkpoint"].values, series.values, ds["epoch"].values,
                                       run["train_acc"].values, run["test_acc"].values))
    return values, alpha


@claim(
    "plateau-ising-flat", "§6.1",
    "Ising: no feature development in the grokking plateau",
    paper="roughly constant",
    tolerance="|share of the FC ρ̄(E) range gained in the plateau| ≤ 0.2 (grokking α, seed mean)",
    experiments=("ising-main",),
)
def _plateau_ising(ctx):
    arch = m.archetypes(ctx, "ising-main")
    rho = m.feature_dynamics(ctx, "ising-main", (arch.grok, arch.learn))["weighted_correlation"]
    values, alpha = _plateau(ctx, "ising-main", rho.sel(layer="fc1", feature="energy"))
    text, mean, spread, n = _pm(values)
    if n == 0:
        return Outcome(None, "no plateau with ≥ 2 checkpoints", detail=f"α = {alpha:g}")
    return Outcome(abs(mean) <= 0.2, text, mean, spread, n, f"α = {alpha:g}; per seed {values}")


@claim(
    "plateau-modadd-rises", "§6.1",
    "Mod-add: the Fourier localisation (mean IPR) improves through the plateau",
    paper="rising",
    tolerance="share of the mean-IPR range gained in the plateau ≥ 0.2 (grokking α, seed mean)",
    experiments=("modadd-dynamics",),
)
def _plateau_modadd(ctx):
    arch = m.archetypes(ctx, "modadd-dynamics")
    ipr = m.ipr_dynamics(ctx, "modadd-dynamics", (arch.grok, arch.learn))
    values, alpha = _plateau(ctx, "modadd-dynamics", ipr)
    text, mean, spread, n = _pm(values)
    if n == 0:
        return Outcome(None, "no plateau with ≥ 2 checkpoints", detail=f"α = {alpha:g}")
    return Outcome(mean >= 0.2, text, mean, spread, n, f"α = {alpha:g}; per seed {values}")


def compress_peak_verdict(epochs, c, t_test: float, end: float) -> tuple[bool | None, str]:
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
    experiments=("ising-main",),
)
def _ising_compress_peak(ctx):
    arch = m.archetypes(ctx, "ising-main")
    c = m.dynamics_compressibility(ctx, "ising-main", (arch.grok, arch.learn))
    c = c.sel(alpha=arch.grok).mean("seed")
    epochs, acc = m.seed_mean_curve(ctx.results("ising-main"), "test_acc", arch.grok)
    t_test = float(curves.threshold_epoch(acc, epochs=epochs))
    agrees, text = compress_peak_verdict(c["checkpoint"].values, c.values, t_test, float(epochs[-1]))
    return Outcome(agrees, text, t_test, None, c.sizes.get("checkpoint"),
                   f"α = {arch.grok:g}; test set evaluated every {m.eval_every(ctx, 'ising-main')} epochs")


# ----------------------------------------------------------------------------- §6.3, App G.3: trajectories


def _seed_mean(ctx: Context, experiment: str, measure: str, alpha: float):
    arch = m.archetypes(ctx, experiment)
    return m.trajectory(ctx, experiment, (arch.grok, arch.learn))[measure].sel(alpha=alpha).mean("seed")


@claim(
    "ising-cosine-peak", "§6.3",
    "Ising grokking: the consecutive-step Fisher cosine peaks near one (a straight trajectory)",
    paper="≈ 1",
    tolerance="maximum of the seed-mean S_F(s_k, s_k+1) ≥ 0.9",
    experiments=("ising-main",),
)
def _ising_cosine_peak(ctx):
    arch = m.archetypes(ctx, "ising-main")
    cosine = _seed_mean(ctx, "ising-main", "cosine", arch.grok)
    peak = float(cosine.max())
    return Outcome(peak >= 0.9, f"{peak:.3f} at epoch {float(cosine.idxmax()):.0f}", peak, None,
                   ctx.results("ising-main").sizes["seed"], f"α = {arch.grok:g}")


@claim("ising-cosine-peak-higher", "§6.3", "Ising: the grokking cosine peak is noticeably higher than the "
       "learning one", paper="higher", tolerance="max seed-mean cosine: grokking α > learning α",
       experiments=("ising-main",))
def _ising_cosine_higher(ctx):
    arch = m.archetypes(ctx, "ising-main")
    peaks = [float(_seed_mean(ctx, "ising-main", "cosine", a).max()) for a in (arch.grok, arch.learn)]
    return Outcome(peaks[0] > peaks[1], f"{peaks[0]:.3f} (α = {arch.grok:g}) vs {peaks[1]:.3f} "
                   f"(α = {arch.learn:g})", peaks[0] - peaks[1])


def _peak_later(ctx: Context, experiment: str) -> Outcome:
    arch = m.archetypes(ctx, experiment)
    epochs = [float(_seed_mean(ctx, experiment, "cosine", a).idxmax()) for a in (arch.grok, arch.learn)]
    return Outcome(epochs[0] > epochs[1], f"epoch {epochs[0]:.0f} (α = {arch.grok:g}) vs {epochs[1]:.0f} "
                   f"(α = {arch.learn:g})", epochs[0] - epochs[1])


@claim("cosine-peak-later-ising", "§6.3", "Ising: the grokking regime's cosine peaks later in training",
       paper="later", tolerance="epoch of the seed-mean cosine maximum: grokking > learning",
       experiments=("ising-main",))
def _later_ising(ctx):
    return _peak_later(ctx, "ising-main")


@claim("cosine-peak-later-modadd", "§6.3", "Mod-add: the grokking regime's cosine peaks later in training",
       paper="later", tolerance="epoch of the seed-mean cosine maximum: grokking > learning",
       experiments=("modadd-dynamics",))
def _later_modadd(ctx):
    return _peak_later(ctx, "modadd-dynamics")


def _before(ctx: Context, experiment: str, alpha: float):
    """The seed-mean origin cosine of α at checkpoints before its seed-mean t_test (Def. 1), and t_test."""
    origin = _seed_mean(ctx, experiment, "origin_cosine", alpha)
    epochs, acc = m.seed_mean_curve(ctx.results(experiment), "test_acc", alpha)
    t_test = float(curves.threshold_epoch(acc, epochs=epochs))
    return origin.where(origin["checkpoint"] < t_test, drop=True), t_test


@claim(
    "ising-origin-grok", "§6.3",
    "Ising grokking: before the transition the steps point to the origin (weight decay dominates)",
    paper="origin cosine → 1",
    tolerance="maximum seed-mean S_F(s_k, −θ_k) before t_test ≥ 0.9",
    experiments=("ising-main",),
)
def _ising_origin(ctx):
    alpha = m.archetypes(ctx, "ising-main").grok
    before, t_test = _before(ctx, "ising-main", alpha)
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
    experiments=("ising-main",),
)
def _ising_origin_learn(ctx):
    arch = m.archetypes(ctx, "ising-main")
    _, t_test = _before(ctx, "ising-main", arch.grok)
    origin = _seed_mean(ctx, "ising-main", "origin_cosine", arch.learn)
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
    experiments=("ising-main", "modadd-dynamics"),
)
def _origin_late(ctx):
    late = {}
    for experiment in ("ising-main", "modadd-dynamics"):
        arch = m.archetypes(ctx, experiment)
        for alpha in (arch.grok, arch.learn):
            origin = _seed_mean(ctx, experiment, "origin_cosine", alpha).dropna("checkpoint")
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
    experiments=("ising-main", "modadd-dynamics"),
)
def _origin_lower(ctx):
    peaks = {e: float(_seed_mean(ctx, e, "origin_cosine", m.archetypes(ctx, e).grok).max())
             for e in ("modadd-dynamics", "ising-main")}
    return Outcome(peaks["modadd-dynamics"] < peaks["ising-main"], f"{peaks['modadd-dynamics']:.3f} vs "
                   f"{peaks['ising-main']:.3f}", peaks["modadd-dynamics"] - peaks["ising-main"])


def fisher_roots(ctx: Context, experiment: str, alpha: float) -> np.ndarray:
    """Brackets (root, 2) in epochs of the sign changes of the discrete gradient of the seed-mean Fisher step
    magnitude |s_k|_F of α (Fig. 33, §4.8)."""
    magnitude = _seed_mean(ctx, experiment, "magnitude", alpha).dropna("checkpoint")
    x = magnitude["checkpoint"].values.astype(float)
    gradient = geometry.discrete_gradient(magnitude.values, x)
    return geometry.sign_change_brackets(gradient, x[:-1])


def _roots(ctx: Context, experiment: str, paper: tuple[tuple[int, int], ...]) -> Outcome:
    alpha = m.archetypes(ctx, experiment).grok
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
    experiments=("ising-main",),
)
def _roots_ising(ctx):
    return _roots(ctx, "ising-main", ((2200, 2400), (6200, 6400)))


@claim(
    "fisher-roots-modadd", "App G.3",
    "Mod-add grokking: two roots of the Fisher step-magnitude gradient",
    paper="19-20 and 46-47",
    tolerance="our first two brackets each overlap the paper's widened by 20% on each side",
    experiments=("modadd-dynamics",),
)
def _roots_modadd(ctx):
    return _roots(ctx, "modadd-dynamics", ((19, 20), (46, 47)))
