"""Claims on the runs themselves: the grokking onset (§3) and the end of training across seeds (App. A)."""

from __future__ import annotations

import math

import numpy as np

from repro.figures.claims import Outcome, claim, defined
from repro.figures.registry import Context
from repro.figures.runs import (
    GROK_THRESHOLD,
    ISING,
    LEARN_MARGIN,
    MODADD,
    archetypes,
    convergence_times,
    final_metrics,
    learned_runs,
    majority_regime,
    regimes,
)

# ------------------------------------------------------------------------------------- §3: grokking onset


def _onset(ctx: Context, experiment: str) -> Outcome:
    regime = majority_regime(ctx, experiment)
    times = regimes(ctx, experiment)
    delta = times["delta"].where(learned_runs(ctx, experiment))
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
              f"Δt_grok > {GROK_THRESHOLD:g}·t_train); α whose seeds mostly did not learn (final test accuracy "
              f"< chance + {LEARN_MARGIN:g}·(1 − chance)) are left out")


claim(
    "onset-ising", "§3",
    "Increasing α interpolates from steady learning to grokking; grokking sets in above an onset α",
    paper="onset α stripped from the text",
    tolerance=ONSET_RULE,
    experiments=(ISING,),
)(_onset)


claim(
    "onset-modadd", "§3",
    "Mod-add: steady learning at small α, grokking above an onset α",
    paper="onset α stripped; archetypes learn 0.1, grok 10",
    tolerance=ONSET_RULE,
    experiments=(MODADD,),
)(_onset)


# ------------------------------------------------------------------------------------ App A: end of training


def _relative_spread(values) -> np.ndarray:
    """(max − min)/mean over seeds for each α: values (alpha, seed) -> (alpha,)."""
    return (values.max("seed") - values.min("seed")) / values.mean("seed")


@claim("modadd-all-100", "App A", "All mod-add seeds reach 100% test accuracy", paper="100% (every seed)",
       tolerance="every run's final test accuracy ≥ 99%", experiments=(MODADD,))
def _modadd_all_100(ctx: Context, modadd: str) -> Outcome:
    acc = final_metrics(ctx, modadd)["test_acc"]
    worst = float(acc.min())
    detail = "; ".join(f"α={float(a):g}: min {float(acc.sel(alpha=a).min()):.4f}"
                       for a in acc["alpha"].values)
    return Outcome(worst >= 0.99, f"lowest final test accuracy {100 * worst:.2f}% ({acc.size} runs)", worst,
                   None, int(acc.size), detail)


def _worst_spread(ctx: Context, experiment: str, names, relative: bool) -> tuple[float, str]:
    """Largest spread over seeds of the final metrics `names` (Fig 9/10 plot train and test) over the α that
    learned: (max − min)/mean if relative, else max − min; and where it is ("test_loss α=0.1"). α whose seeds
    mostly did not learn are left out: the spread of runs at chance says nothing of trained networks. NaN and
    "no α learned" if none is left."""
    metrics = final_metrics(ctx, experiment)
    learned = [a for a, r in majority_regime(ctx, experiment).items() if r != "did-not-learn"]
    spreads = {}
    for name in names:
        values = metrics[name].sel(alpha=learned)
        spread = _relative_spread(values) if relative else values.max("seed") - values.min("seed")
        spreads.update({f"{name} α={float(a):g}": float(spread.sel(alpha=a)) for a in spread["alpha"].values})
    if not spreads:
        return math.nan, "no α learned"
    worst = max(spreads, key=lambda k: spreads[k] if math.isfinite(spreads[k]) else -math.inf)
    return spreads[worst], worst


@claim("modadd-loss-spread", "App A", "Mod-add end losses are within 5% of each other across seeds",
       paper="≤ 5%", tolerance="largest (max − min)/mean over seeds of the final train and of the final test "
       "loss, any α that learned, ≤ 5%", experiments=(MODADD,))
def _modadd_loss_spread(ctx: Context, modadd: str) -> Outcome:
    worst, where = _worst_spread(ctx, modadd, ("train_loss", "test_loss"), relative=True)
    return Outcome(defined(worst <= 0.05, worst), f"{100 * worst:.1f}% ({where})", worst, None, None)


@claim("ising-acc-spread", "App A", "Ising end accuracies are within 5% across seeds", paper="≤ 5 points",
       tolerance="largest max − min over seeds of the final train and of the final test accuracy, any α that "
       "learned, ≤ 0.05",
       experiments=(ISING,))
def _ising_acc_spread(ctx: Context, ising: str) -> Outcome:
    worst, where = _worst_spread(ctx, ising, ("train_acc", "test_acc"), relative=False)
    # accuracies are k/n stored as float32: a range of exactly 5 points reads 0.0500000119
    return Outcome(defined(worst <= 0.05 + 1e-6, worst), f"{100 * worst:.1f} points ({where})", worst, None, None)


@claim("ising-loss-spread", "App A", "Ising end losses can vary by more than 50% across seeds", paper="> 50%",
       tolerance="largest (max − min)/mean over seeds of the final train or test loss, any α that learned, > 50%",
       experiments=(ISING,))
def _ising_loss_spread(ctx: Context, ising: str) -> Outcome:
    worst, where = _worst_spread(ctx, ising, ("train_loss", "test_loss"), relative=True)
    return Outcome(defined(worst > 0.5, worst), f"{100 * worst:.0f}% ({where})", worst, None, None)



# ------------------------------------------------------------------------------ App A: seed distributions


@claim("ising-seed-fails-to-grok", "App A, Fig 9", "Deep in the Ising grokking regime one seed persistently fails "
       "to grok", paper="one seed", tolerance="exactly one seed fails (Δt_grok ≤ 0 by Def. 1-2, or final test "
       "accuracy < 95% of the α's best seed) at at least half of the α whose seeds mostly grok",
       experiments=(ISING,))
def _seed_fails(ctx: Context, ising: str) -> Outcome:
    """A seed that did not learn at all also fails to grok (it counts as a failure here)."""
    times = regimes(ctx, ising)
    acc = final_metrics(ctx, ising)["test_acc"]
    grok_alphas = [alpha for alpha, r in majority_regime(ctx, ising).items() if r == "grok"]
    if not grok_alphas:
        return Outcome(None, "no α groks in most seeds")
    sub = times["regime"].sel(alpha=grok_alphas)
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
def _variability(ctx: Context, ising: str) -> Outcome:
    arch = archetypes(ctx, ising)
    acc = final_metrics(ctx, ising)["test_acc"]
    spread = {alpha: float(acc.sel(alpha=alpha).std("seed", ddof=1)) for alpha in (arch.grok, arch.learn)}
    value = spread[arch.grok] - spread[arch.learn]
    return Outcome(defined(value > 0, value), f"std {spread[arch.grok]:.4f} (α={arch.grok:g}) vs "
                   f"{spread[arch.learn]:.4f} (α={arch.learn:g})", value, None, int(acc.sizes["seed"]),
                   "; ".join(f"α={float(x):g}: {float(acc.sel(alpha=x).std('seed', ddof=1)):.4f}"
                             for x in acc["alpha"].values))


def _training_time(ctx: Context, experiment: str) -> Outcome:
    arch = archetypes(ctx, experiment)
    converged = convergence_times(ctx, experiment).mean("seed")
    t_train = regimes(ctx, experiment)["t_train"].where(learned_runs(ctx, experiment)).mean("seed")
    times = {alpha: float(converged.sel(alpha=alpha)) for alpha in (arch.grok, arch.learn)}
    value = times[arch.learn] - times[arch.grok]
    detail = ("seed-mean epoch the train loss settles within 5% of its final value / Def. 1 t_train: " + "; ".join(
        f"α={float(x):g}: {float(converged.sel(alpha=x)):.0f} / {float(t_train.sel(alpha=x)):.0f}"
        for x in converged["alpha"].values) + ". App A's \"training time\" read as the time the run takes to "
        "settle; Def. 1's t_train (the time to fit the training set) is given for comparison")
    return Outcome(defined(value > 0, value), f"{times[arch.learn]:.0f} (learning α={arch.learn:g}) vs "
                   f"{times[arch.grok]:.0f} epochs (grokking α={arch.grok:g})", value, None, None, detail)


TRAINING_TIME_RULE = ("seed-mean epoch from which the train loss stays within 5% of its final value (our reading "
                      "of \"training time\"): learning α > grokking α; runs that did not learn left out")


claim("ising-training-time-grows", "App A, Fig 9", "Ising: training takes longer from the grokking to the learning "
      "regime (training time = epochs until the train loss settles)", paper="increase",
      tolerance=TRAINING_TIME_RULE, experiments=(ISING,))(_training_time)


claim("modadd-training-time-grows", "App A, Fig 10", "Mod-add: training takes longer from the grokking to the "
      "learning regime (training time = epochs until the train loss settles)", paper="increase",
      tolerance=TRAINING_TIME_RULE, experiments=(MODADD,))(_training_time)

