"""Claims on the final Fisher diagonal: its spectra and Fisher vs magnitude pruning (App. F)."""

from __future__ import annotations

import math

import numpy as np

from repro.figures.claims import Outcome, claim, defined, ratio
from repro.figures.compression import (
    curve_compressibility,
    final_compressibility,
    fisher_compressibility,
    magnitude_pruning,
)
from repro.figures.registry import Context
from repro.figures.runs import ISING, MODADD, MODADD_DYNAMICS, TASK_ARCHETYPES, archetypes, learned_runs
from repro.figures.stats import CONFIDENCE, ratio_interval
from repro.figures.trajectories import fisher_spectra

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
def _spectrum_gaps(ctx: Context, ising: str, dynamics: str) -> Outcome:
    gaps, positions_close = {}, []
    for experiment, _ in TASK_ARCHETYPES:
        arch = archetypes(ctx, experiment)
        spectra = fisher_spectra(ctx, experiment, (arch.grok, arch.learn))
        found = {float(alpha): spectrum_gap(spectra.sel(alpha=alpha).values) for alpha in spectra["alpha"].values}
        gaps.update({f"{experiment} α={alpha:g}": gap for alpha, gap in found.items()})
        positions = [position for _, position in found.values()]
        positions_close.append(abs(positions[0] - positions[1]) <= 0.1)
    smallest = float(np.min([size for size, _ in gaps.values()]))
    detail = "; ".join(f"{key}: {size:.1f} decades at rank {100 * pos:.1f}%" for key, (size, pos) in gaps.items())
    return Outcome(defined(smallest >= 1 and all(positions_close), smallest), f"smallest largest-gap "
                   f"{smallest:.1f} decades; positions close: {positions_close}", smallest, None, len(gaps), detail)


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan


def _fisher_worse(ctx: Context, experiment: str) -> Outcome:
    """Over the runs that learned (a run at chance has a flat curve, c meaningless or infinite): Fisher pruning
    against the main text's per-layer magnitude scheme (the verdict), and against naive global magnitude pruning,
    which ranks the whole model at once as Fisher pruning does (reported beside it)."""
    fisher, magnitude = fisher_compressibility(ctx, experiment), final_compressibility(ctx, experiment)
    global_c = curve_compressibility(magnitude_pruning(ctx, experiment, "global"))
    runs = (learned_runs(ctx, experiment) & np.isfinite(fisher) & np.isfinite(magnitude)).transpose(*fisher.dims).values
    f, m, g = fisher.values[runs], magnitude.values[runs], global_c.values[runs]
    worse = float((f < m).mean()) if runs.any() else math.nan
    text = (f"Fisher c {_median(f):.2f} vs magnitude c {_median(m):.2f} (medians); Fisher worse in "
            f"{100 * worse:.0f}% of {int(runs.sum())} runs that learned")
    finite = np.isfinite(g)
    on_global = float((f[finite] < g[finite]).mean()) if finite.any() else math.nan
    return Outcome(defined(worse > 0.5, worse), text, worse, None, int(runs.sum()),
                   "Fisher: fraction of all parameters pruned, ranked jointly; magnitude: the main text's per-layer "
                   f"scheme (fraction of the weights); naive global magnitude pruning, ranked jointly like Fisher: "
                   f"median c {_median(g[finite]):.2f}, Fisher worse in {100 * on_global:.0f}% of those runs")


claim("fisher-prune-worse-ising", "App D, F.1, Fig 21", "Ising: Fisher pruning compresses worse than magnitude "
      "pruning", paper="worse", tolerance="c (Eq. 5) of the Fisher-pruning curve < c of per-layer magnitude "
      "pruning in most runs", experiments=(ISING,))(_fisher_worse)


claim("fisher-prune-worse-modadd", "App D, F.1, Fig 21", "Mod-add: Fisher pruning compresses worse than "
      "magnitude pruning", paper="worse", tolerance="c (Eq. 5) of the Fisher-pruning curve < c of per-layer "
      "magnitude pruning in most runs", experiments=(MODADD,))(_fisher_worse)


ADVANTAGE_MARGIN = 0.1  # a grokking "advantage" is a seed-mean Fisher-pruning c more than 10% above learning's


@claim("fisher-prune-no-grok-advantage", "App F.1, Fig 21", "Under Fisher pruning, the grokking α gives no "
       "consistent compressibility advantage", paper="no advantage", tolerance="in both tasks the seed-mean "
       f"Fisher-pruning c of the grokking α ≤ (1 + {ADVANTAGE_MARGIN:g}) × that of the learning α (the archetypes "
       "of Figs 3-8)", experiments=(ISING, MODADD))
def _no_grok_advantage(ctx: Context, ising: str, modadd: str) -> Outcome:
    ratios, texts = {}, []
    for experiment in (ising, modadd):
        runs = fisher_compressibility(ctx, experiment).where(learned_runs(ctx, experiment))
        runs = runs.where(np.isfinite(runs))
        c, arch = runs.mean("seed"), archetypes(ctx, experiment)
        ratios[experiment] = ratio(float(c.sel(alpha=arch.grok)), float(c.sel(alpha=arch.learn)))
        low, high = ratio_interval(runs.sel(alpha=arch.grok).values, runs.sel(alpha=arch.learn).values)
        texts.append(f"{experiment} (grok α={arch.grok:g}, learn α={arch.learn:g}; ratio {100 * CONFIDENCE:.0f}% "
                     f"bootstrap CI over seeds [{low:.2f}, {high:.2f}]): " + ", ".join(
                         f"α={float(x):g} {float(c.sel(alpha=x)):.2f}" for x in c["alpha"].values))
    worst = max(ratios.values(), key=lambda r: r if math.isfinite(r) else math.inf)
    return Outcome(defined(worst <= 1 + ADVANTAGE_MARGIN, worst), "grokking / learning c: " + ", ".join(
        f"{e} {r:.2f}" for e, r in ratios.items()), worst, None, None, "; ".join(texts))


@claim("ising-global-pruning-artefact", "App F.2, Figs 25-26", "Ising: naive global pruning seems to remove more at "
       "no loss than the per-layer scheme, an artefact of the many small fc1 weights; pruning fc1 alone is mild, "
       "pruning the convolutions drastic", paper="global > per-layer; fc1 resilient", tolerance="c (Eq. 5) "
       "of naive global > per-layer in most runs, and layer-resolved c of fc1.weight > conv1.weight in most runs",
       experiments=(ISING,))
def _global_artefact(ctx: Context, ising: str) -> Outcome:
    def c_of(scheme, layer=None):
        return curve_compressibility(magnitude_pruning(ctx, ising, scheme, layer)).values

    def share_above(x, y):
        """Fraction of the runs, where both are finite, in which c of x exceeds c of y."""
        both = np.isfinite(x) & np.isfinite(y)
        return float(np.mean(x[both] > y[both])) if both.any() else math.nan

    global_wins = share_above(c_of("global"), c_of("per_layer"))
    fc1_wins = share_above(c_of("layer", "fc1.weight"), c_of("layer", "conv1.weight"))
    return Outcome(defined(global_wins > 0.5 and fc1_wins > 0.5, global_wins + fc1_wins),
                   f"global > per-layer in {100 * global_wins:.0f}% of runs, fc1 > conv1 in {100 * fc1_wins:.0f}%",
                   global_wins, None, ctx.results(ising).sizes["alpha"] * ctx.results(ising).sizes["seed"])


