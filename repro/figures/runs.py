"""Derived data of the runs themselves: final θ and metrics, regimes (Def. 1-2), the grokking and learning α.

Also the experiment names, each seed's test set, transition epochs and linear fits. No drawing here.

Every quantity is computed once per Context (`Context.cached`), on the α and seeds it needs only, so that the
figures and the claims report read the same numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from grokcore.measures import curves, fourier, lazy
from repro.figures.registry import Context

ISING, MODADD = "ising-main", "modadd-main"
MODADD_BS200, MODADD_WD, MODADD_DYNAMICS = "modadd-bs200", "modadd-wd", "modadd-dynamics"
# The two tasks' grokking-vs-learning trajectories (Figs 6-8, 20, 31-34): Ising, and mod-add saved every epoch.
TASK_ARCHETYPES = ((ISING, "Ising"), (MODADD_DYNAMICS, "modular addition"))
ARCHETYPE_NOTE = ("Grokking and learning α as in Figs 3-8: mod-add 10 and 0.1; Ising the largest α and the "
                  "smallest α below it that learns steadily (Def. 1-2, most seeds) with ≥ 95% of the best "
                  "seed-mean final test accuracy.")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Def. 2: a run groks if Δt_grok > GROK_THRESHOLD·t_train, i.e. its test accuracy needs more than twice the
# epochs its train accuracy needs to come within 5% of the maximum. The paper's threshold is stripped (spec
# §4.1); "> 0" would call the authors' steady archetype (mod-add α = 0.1, whose test accuracy trails by a few
# epochs) grokking.
GROK_THRESHOLD = 1.0
CHANCE = {"ising": 0.5, "modadd": 1 / fourier.P_MODADD}  # test accuracy of a constant guess
# A run whose final test accuracy stays below chance + LEARN_MARGIN·(1 − chance) "did not learn" (Ising 0.55,
# mod-add 0.109): its own class, left out of every grok/learn statistic (curves.learned).
LEARN_MARGIN = curves.LEARN_MARGIN
# Points per drawn training curve: log-spaced epochs (the figures' x axes are logarithmic) keep a 100k-epoch Ising
# run light to draw and to ship in a reference; 1000 is about a panel's width in pixels.
CURVE_POINTS = 1000


def alpha_values(data) -> list[float]:
    """The weight multipliers α of a store or of any derived array with an alpha coordinate."""
    return [float(a) for a in data["alpha"].values]


def seed_test_set(ctx: Context, experiment: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test inputs and labels run `seed` of `experiment` was evaluated on (each seed has its split)."""
    data = ctx.task_data(experiment, seed)
    return data.x_test, data.y_test


def final_theta(ctx: Context, experiment: str, alpha: float, seed: int) -> np.ndarray:
    """θ (param,) of run (α, seed) after its last epoch."""
    ds = ctx.results(experiment)
    return ds["theta"].sel(alpha=alpha, seed=seed).isel(checkpoint=-1).values


def final_metrics(ctx: Context, experiment: str) -> xr.Dataset:
    """Last evaluated train/test loss and accuracy per (alpha, seed)."""
    return ctx.cached(("final_metrics", experiment), lambda: lazy.final_metrics(ctx.results(experiment)).compute())


def seed_mean_curve(ctx: Context, experiment: str, name: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Epochs completed (n,) and the seed mean of metric `name` (n,) of α as the figures draw it: unevaluated
    epochs dropped, at most ~CURVE_POINTS epochs (`log_sample`), epochs in int32 and values in float32. Numbers
    judged by the claims (transition epochs, t_test) come from the full curve, never from this one."""

    def compute():
        epochs, values = full_seed_mean(ctx.results(experiment), name, alpha)
        keep = log_sample(len(epochs))
        return epochs[keep].astype(np.int32), values[keep].astype(np.float32)

    return ctx.cached(("seed_mean_curve", experiment, alpha, name), compute)


def full_seed_mean(ds: xr.Dataset, name: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Epochs completed (n,) and the seed mean of metric `name` (n,) of α at every evaluated epoch."""
    values = ds[name].sel(alpha=alpha).mean("seed").values
    epochs = ds["epoch"].values  # epochs completed: the state after (test) or during (train) that epoch
    kept = np.isfinite(values)
    return epochs[kept], values[kept]


def log_sample(n: int, k: int = CURVE_POINTS) -> np.ndarray:
    """At most ~k indices of 0..n−1, evenly spaced in log(1 + index), always with the first and last."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.expm1(np.linspace(0, np.log1p(n - 1), k))).astype(int))


def thin_checkpoints(epochs, n: int) -> np.ndarray:
    """Indices of about n of the checkpoints at `epochs` (checkpoint,): half spaced evenly in index, half
    geometrically in epoch (training changes fastest early), always with the first and the last."""
    epochs = np.asarray(epochs, dtype=float)
    if len(epochs) <= n:
        return np.arange(len(epochs))
    even = np.round(np.linspace(0, len(epochs) - 1, n - n // 2)).astype(int)
    geometric = np.geomspace(max(epochs[1], 1.0), epochs[-1], n // 2)
    nearest = np.abs(epochs[None, :] - geometric[:, None]).argmin(axis=1)
    return np.unique(np.concatenate([even, nearest, [0, len(epochs) - 1]]))


# ------------------------------------------------------------------------------------- regimes (Def. 1-2)


REGIME_LABELS = {"grok": "grokking", "learn": "learning"}  # the two archetypes, in the figures' column order


class Archetypes(NamedTuple):
    """The grokking and the learning weight multiplier of an experiment, and how they were chosen."""

    grok: float
    learn: float
    reason: str

    def alpha(self, regime: str) -> float:
        """The α of `regime`, "grok" or "learn"."""
        return {"grok": self.grok, "learn": self.learn}[regime]

    def columns(self) -> tuple[tuple[str, str, float], ...]:
        """(regime, label, α) of the grokking and the learning column of a figure or claim."""
        return tuple((regime, label, self.alpha(regime)) for regime, label in REGIME_LABELS.items())


def regimes(ctx: Context, experiment: str) -> xr.Dataset:
    """Def. 1-2 per run, (alpha, seed): t_train, t_test, Δt_grok (epochs), regime grok / steady / did-not-learn
    (final test accuracy below chance + LEARN_MARGIN of the way to 1) / undetermined. Attribute eval_every: the
    resolution of t_test and Δt_grok in epochs (the test set's evaluation interval)."""

    def compute():
        ds = ctx.results(experiment)
        times = lazy.grokking_times(ds).compute()
        final = final_metrics(ctx, experiment)["test_acc"].transpose(*times["delta"].dims)
        regime = curves.classify_regime(times["delta"].values, GROK_THRESHOLD, times["t_train"].values,
                                        final.values, CHANCE[ds.attrs["task"]], LEARN_MARGIN)
        return times.assign(regime=(times["delta"].dims, regime)).assign_attrs(eval_every=eval_every(ctx, experiment))

    return ctx.cached(("regimes", experiment), compute)


def eval_every(ctx: Context, experiment: str) -> int:
    """Every how many epochs the test set of `experiment` was evaluated: the resolution of t_test (Def. 1)."""
    return int(ctx.experiment(experiment).eval_every)


def learned_runs(ctx: Context, experiment: str) -> xr.DataArray:
    """(alpha, seed) bool: the runs that learned (regime not did-not-learn), for grok/learn statistics."""
    return regimes(ctx, experiment)["regime"] != "did-not-learn"


def majority_regime(ctx: Context, experiment: str) -> dict[float, str]:
    """The regime of each α: "grok", "steady" or "did-not-learn" if more than half of its seeds are, else
    "mixed"."""
    table = regimes(ctx, experiment)["regime"]
    result = {}
    for alpha in table["alpha"].values:
        runs = table.sel(alpha=alpha).values
        counts = {r: int((runs == r).sum()) for r in ("grok", "steady", "did-not-learn")}
        best = max(counts, key=counts.get)
        result[float(alpha)] = best if counts[best] > len(runs) / 2 else "mixed"
    return result


def alphas_in(ctx: Context, experiment: str, regime: str) -> list[float]:
    """The α whose seeds mostly are in `regime` ("steady": the range of the compressive regime in mod-add)."""
    return [a for a, r in majority_regime(ctx, experiment).items() if r == regime]


def archetypes(ctx: Context, experiment: str) -> Archetypes:
    """Grok and learn α of an experiment.

    Mod-add: the authors' archetypes 10 / 0.1 where the grid has them, else its largest / smallest α. Ising
    (the authors' choice is contradictory, spec §4.19 item 8): grok = the largest α; learn = the smallest α
    below it that steadily learns by Def. 1-2 in most seeds and reaches ≥ 95% of the best seed-mean final test
    accuracy, else the smallest α of the grid. The grokking α is the largest α whose seeds mostly learned
    (the grid's largest where that would leave no smaller α to learn); did-not-learn α never learn.
    """
    ds = ctx.results(experiment)
    grid = alpha_values(ds)
    if ds.attrs["task"] == "modadd":
        grok = 10.0 if 10.0 in grid else max(grid)
        learn = 0.1 if 0.1 in grid else min(grid)
        authors = (grok, learn) == (10.0, 0.1)
        return Archetypes(grok, learn, "the authors' archetypes" if authors else "the grid's extreme α")
    regime = majority_regime(ctx, experiment)
    learned = [a for a in grid if regime[a] != "did-not-learn"]
    grok = max(learned) if learned and max(learned) > min(grid) else max(grid)
    test_acc = final_metrics(ctx, experiment)["test_acc"].mean("seed")
    best = float(test_acc.max())
    learners = [a for a in grid if a < grok and regime[a] == "steady" and test_acc.sel(alpha=a) >= 0.95 * best]
    if learners:
        return Archetypes(grok, min(learners), "grok: largest α; learn: smallest α steady by Def. 1-2")
    return Archetypes(grok, min(grid), "grok: largest α; learn: smallest α (none steady by Def. 1-2)")


def learned(ds: xr.Dataset) -> xr.DataArray:
    """(alpha, seed, checkpoint) True where the test accuracy of the state at the checkpoint (the last
    evaluation at or before it) is above chance + ½(max − chance): the run has learned."""
    chance = CHANCE[ds.attrs["task"]]
    acc = ds["test_acc"].values
    evaluated = np.isfinite(acc)
    result = np.zeros(acc.shape[:2] + (ds.sizes["checkpoint"],), dtype=bool)
    for a, s in np.ndindex(acc.shape[:2]):
        epochs = np.flatnonzero(evaluated[a, s]) + 1  # index k − 1 holds the state after k epochs
        if epochs.size == 0:
            continue
        last = np.searchsorted(epochs, ds["checkpoint"].values, side="right") - 1
        values = np.where(last >= 0, acc[a, s][epochs[np.maximum(last, 0)] - 1], -np.inf)
        result[a, s] = values >= chance + (np.nanmax(acc[a, s]) - chance) / 2
    return xr.DataArray(result, dims=("alpha", "seed", "checkpoint"),
                        coords={d: ds[d] for d in ("alpha", "seed", "checkpoint")})


def transition_epochs(ctx: Context, experiment: str, alpha: float | None = None) -> tuple[float, float]:
    """The authors' dashed lines (spec §4.1 `get_times`): first epoch at which the seed-mean train (test)
    accuracy of α (default: the grokking α) exceeds 0.9 of its maximum."""
    alpha = archetypes(ctx, experiment).grok if alpha is None else alpha

    def compute():
        ds = ctx.results(experiment)
        result = []
        for name in ("train_acc", "test_acc"):
            epochs, values = full_seed_mean(ds, name, alpha)
            result.append(float(curves.threshold_epoch(values, within=0.1, epochs=epochs, strict=True)))
        return result[0], result[1]

    return ctx.cached(("transition_epochs", experiment, alpha), compute)


def test_time(ctx: Context, experiment: str, alpha: float) -> tuple[float, float]:
    """t_test (Def. 1) of the seed-mean test accuracy of α, and the last epoch at which it was evaluated."""

    def compute():
        epochs, acc = full_seed_mean(ctx.results(experiment), "test_acc", alpha)
        return float(curves.threshold_epoch(acc, epochs=epochs)), float(epochs[-1])

    return ctx.cached(("test_time", experiment, alpha), compute)


def plateau(acc_epochs, train_acc, test_acc) -> tuple[float, float]:
    """The grokking plateau of one run (§6.1): from t_train (Def. 1, train accuracy within 5% of its maximum) to
    the first epoch at which the test accuracy passes the midpoint between its value at t_train and its maximum.
    acc_epochs (epoch,), train_acc, test_acc (epoch,) with NaN where not evaluated; NaN bounds where undefined."""
    acc_epochs, test_acc = np.asarray(acc_epochs), np.asarray(test_acc, dtype=float)
    t_train = float(curves.threshold_epoch(train_acc, epochs=acc_epochs))
    tested = np.isfinite(test_acc)
    if not np.isfinite(t_train) or not tested.any():
        return t_train, np.nan
    at_train = test_acc[tested][min(np.searchsorted(acc_epochs[tested], t_train), tested.sum() - 1)]
    midpoint = (at_train + np.nanmax(test_acc)) / 2
    jumped = tested & (acc_epochs >= t_train) & (test_acc >= midpoint)
    return t_train, float(acc_epochs[np.argmax(jumped)]) if jumped.any() else np.nan


def plateaus(ctx: Context, experiment: str, alpha: float) -> xr.Dataset:
    """The grokking plateau (`plateau`) of every run of α: t_train and t_jump, (seed,)."""

    def compute():
        ds = ctx.results(experiment)
        bounds = []
        for seed in ds["seed"].values:
            run = ds[["train_acc", "test_acc"]].sel(alpha=alpha, seed=seed).compute()
            bounds.append(plateau(ds["epoch"].values, run["train_acc"].values, run["test_acc"].values))
        t_train, t_jump = np.array(bounds, dtype=float).reshape(-1, 2).T
        return xr.Dataset({"t_train": ("seed", t_train), "t_jump": ("seed", t_jump)}, coords={"seed": ds["seed"]})

    return ctx.cached(("plateaus", experiment, alpha), compute)


def convergence_times(ctx: Context, experiment: str) -> xr.DataArray:
    """Per run (alpha, seed): the first epoch from which the train loss stays within 5% of its final value
    (curves.convergence_epoch), NaN for runs that did not learn."""

    def compute():
        ds = ctx.results(experiment)
        loss = ds["train_loss"].transpose("alpha", "seed", "epoch")
        times = curves.convergence_epoch(loss.values, epochs=ds["epoch"].values)
        converged = ds["train_loss"].isel(epoch=0, drop=True).transpose("alpha", "seed").copy(data=times)
        return converged.where(learned_runs(ctx, experiment)).compute()

    return ctx.cached(("convergence_times", experiment), compute)


class LinearFit(NamedTuple):
    """Least-squares y = slope·x + intercept over n finite points, with its coefficient of determination."""

    slope: float
    intercept: float
    r2: float
    n: int

    def text(self) -> str:
        return f"slope {self.slope:.3g}, R² = {self.r2:.2f} (n = {self.n})"


def linear_fit(x, y) -> LinearFit:
    """Least-squares line through the finite (x, y) pairs; NaN with fewer than 3 points or a constant x."""
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    kept = np.isfinite(x) & np.isfinite(y)
    x, y = x[kept], y[kept]
    if x.size < 3 or np.ptp(x) == 0:
        return LinearFit(np.nan, np.nan, np.nan, int(x.size))
    slope, intercept = np.polyfit(x, y, 1)
    residual = np.sum((y - (slope * x + intercept)) ** 2)
    total = np.sum((y - y.mean()) ** 2)
    r2 = float(1 - residual / total) if total > 0 else np.nan
    return LinearFit(float(slope), float(intercept), r2, int(x.size))
