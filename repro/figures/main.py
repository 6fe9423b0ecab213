"""Figures 1-8 of the main text, and the derived data (regimes, pruning, dynamics) they share with the claims.

Every derived quantity is computed once per Context (cached in it), on the α and seeds a figure needs only, so
that the figures and the claims report (repro.figures.claims) read the same numbers. Drawn artists carry a
`gid` ("test α=10", "prune α=0.1", ...) naming the series, so that tests can count them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
import xarray as xr

from grokcore.measures import curves, fourier, ising_features, lazy, pruning
from repro.figures import style
from repro.figures.registry import Context, figure

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Def. 2: a run groks if Δt_grok > GROK_THRESHOLD·t_train, i.e. its test accuracy needs more than twice the
# epochs its train accuracy needs to come within 5% of the maximum. The paper's threshold is stripped (spec
# §4.1); "> 0" would call the authors' steady archetype (mod-add α = 0.1, whose test accuracy trails by a few
# epochs) grokking.
GROK_THRESHOLD = 1.0
# Checkpoints per α along a trajectory at which pruning curves (Figs 6-7) and Ising correlations (Fig 7) are
# evaluated: a pruning curve costs ~20-100 test-set evaluations, so the trajectory is thinned (denser early).
# Compressibility is only evaluated once a run has learned (c of a model at chance level is meaningless).
COMPRESSIBILITY_CHECKPOINTS = 30
FEATURE_CHECKPOINTS = 150
# The paper's x-ranges of the trajectory measures (spec §4.8-4.9): Ising to epoch 50,000, mod-add to 200.
TRAJECTORY_LIMIT = {"ising": 50_000, "modadd": 200}
PAPER_IPR = {"grok": 0.43, "learn": 0.53}
CHANCE = {"ising": 0.5, "modadd": 1 / fourier.P_MODADD}  # test accuracy of a constant guess
# A run whose final test accuracy stays below chance + LEARN_MARGIN·(1 − chance) "did not learn" (Ising 0.55,
# mod-add 0.109): its own class, left out of every grok/learn statistic (curves.learned).
LEARN_MARGIN = curves.LEARN_MARGIN
LAYER_LABELS = {"conv1": "conv1", "conv2": "conv2", "fc1": "FC"}
FEATURE_LABELS = ("E", "M", "|M|")
PLOT_POINTS = 2000  # per training curve: log-spaced epochs keep 100k-epoch runs light to draw


def _cached(ctx: Context, key: tuple, compute: Callable):
    if key not in ctx._cache:
        ctx._cache[key] = compute()
    return ctx._cache[key]


# ---------------------------------------------------------------------------------------------- data access


def require(ctx: Context, *experiments: str) -> None:
    """Raise MissingResults before any work if one of a figure's experiments has not been run."""
    for experiment in experiments:
        ctx.results(experiment)


def pruning_fractions(scale: str, trajectory: bool = False) -> np.ndarray:
    """Pruned fractions p (grid,): 101 points for a final model (spec §4.5), 21 along a trajectory; 11 and 6
    at the tiny smoke-test scale, where only the plumbing is checked."""
    n = (6 if trajectory else 11) if scale == "tiny" else 21 if trajectory else 101
    return np.linspace(0.0, 1.0, n)


def seed_test_set(ctx: Context, experiment: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test inputs and labels run `seed` of `experiment` was evaluated on (each seed has its split)."""
    data = ctx.task_data(experiment, seed)
    return data.x_test, data.y_test


def ising_source(ctx: Context, experiment: str) -> xr.Dataset:
    """The Ising data set an experiment trained on (spins, temperature, phase, energy, magnetization per
    snapshot).

    Raises MissingResults if it has not been generated at this scale (figures never start a Monte Carlo run).
    """
    path = ctx.ising_data_path(experiment)
    if path is None:
        raise ValueError(f"experiment {experiment!r} is a {ctx.experiment(experiment).task} experiment, not an "
                         "Ising one")
    return _cached(ctx, ("ising_source", str(path)), lambda: xr.open_zarr(path, consolidated=None).load())


def seed_test_features(ctx: Context, experiment: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(E, M, |M|) (sample, 3) and temperature (sample,) of the Ising test snapshots of run `seed`."""
    source = ising_source(ctx, experiment)
    index = ctx.task_data(experiment, seed).test_index
    energy, magnetization = source["energy"].values[index], source["magnetization"].values[index]
    features = ising_features.feature_matrix(energy, magnetization)
    return features, source["temperature"].values[index]


def final_theta(ctx: Context, experiment: str, alpha: float, seed: int) -> np.ndarray:
    """θ (param,) of run (α, seed) after its last epoch."""
    ds = ctx.results(experiment)
    return ds["theta"].sel(alpha=alpha, seed=seed).isel(checkpoint=-1).values


def final_metrics(ctx: Context, experiment: str) -> xr.Dataset:
    """Last evaluated train/test loss and accuracy per (alpha, seed)."""
    return _cached(ctx, ("final_metrics", experiment),
                   lambda: lazy.final_metrics(ctx.results(experiment)).compute())


def seed_mean_curve(ds: xr.Dataset, name: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Epochs completed (n,) and the seed mean of metric `name` (n,) of α, unevaluated epochs dropped."""
    values = ds[name].sel(alpha=alpha).mean("seed").values
    epochs = ds["epoch"].values  # epochs completed: the state after (test) or during (train) that epoch
    kept = np.isfinite(values)
    return epochs[kept], values[kept]


def _log_sample(n: int, k: int = PLOT_POINTS) -> np.ndarray:
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


class Archetypes(NamedTuple):
    """The grokking and the learning weight multiplier of an experiment, and how they were chosen."""

    grok: float
    learn: float
    reason: str


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

    return _cached(ctx, ("regimes", experiment), compute)


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


def archetypes(ctx: Context, experiment: str) -> Archetypes:
    """Grok and learn α of an experiment.

    Mod-add: the authors' archetypes 10 / 0.1 where the grid has them, else its largest / smallest α. Ising
    (the authors' choice is contradictory, spec §4.19 item 8): grok = the largest α; learn = the smallest α
    below it that steadily learns by Def. 1-2 in most seeds and reaches ≥ 95% of the best seed-mean final test
    accuracy, else the smallest α of the grid. The grokking α is the largest α whose seeds mostly learned
    (the grid's largest where that would leave no smaller α to learn); did-not-learn α never learn.
    """
    ds = ctx.results(experiment)
    alphas = [float(a) for a in ds["alpha"].values]
    if ds.attrs["task"] == "modadd":
        grok = 10.0 if 10.0 in alphas else max(alphas)
        learn = 0.1 if 0.1 in alphas else min(alphas)
        authors = (grok, learn) == (10.0, 0.1)
        return Archetypes(grok, learn, "the authors' archetypes" if authors else "the grid's extreme α")
    regime = majority_regime(ctx, experiment)
    learned = [a for a in alphas if regime[a] != "did-not-learn"]
    grok = max(learned) if learned and max(learned) > min(alphas) else max(alphas)
    test_acc = final_metrics(ctx, experiment)["test_acc"].mean("seed")
    best = float(test_acc.max())
    learners = [a for a in alphas
                if a < grok and regime[a] == "steady" and test_acc.sel(alpha=a) >= 0.95 * best]
    if learners:
        return Archetypes(grok, min(learners), "grok: largest α; learn: smallest α steady by Def. 1-2")
    return Archetypes(grok, min(alphas), "grok: largest α; learn: smallest α (none steady by Def. 1-2)")


# ---------------------------------------------------------------------------------------------- pruning


def final_pruning(ctx: Context, experiment: str) -> xr.Dataset:
    """Per-layer magnitude-pruning test accuracy and loss of each final model (§4.5), (alpha, seed, p)."""

    def compute():
        ds = ctx.results(experiment)
        final = ds[["theta"]].isel(checkpoint=[-1])
        fractions = pruning_fractions(ctx.scale)
        per_seed = [lazy.pruning_curves(final.sel(seed=[seed]), *seed_test_set(ctx, experiment, int(seed)),
                                        fractions, device=DEVICE).compute() for seed in ds["seed"].values]
        return xr.concat(per_seed, "seed").isel(checkpoint=0, drop=True)

    return _cached(ctx, ("final_pruning", experiment), compute)


def final_compressibility(ctx: Context, experiment: str) -> xr.DataArray:
    """Compressibility c (Eq. 5) of every final model, (alpha, seed)."""
    acc = final_pruning(ctx, experiment)["acc"]
    c = pruning.compressibility(acc["fraction"].values, acc.values)
    dims = acc.dims[:-1]
    return xr.DataArray(c, dims=dims, coords={d: acc[d] for d in dims}, name="compressibility")


class LinearFit(NamedTuple):
    """Least-squares y = slope·x + intercept over n finite points, with its coefficient of determination."""

    slope: float
    intercept: float
    r2: float
    n: int


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


def steady_alphas(ctx: Context, experiment: str) -> list[float]:
    """The α whose seeds mostly learn steadily (Def. 2): the range of the compressive regime in mod-add."""
    return [a for a, r in majority_regime(ctx, experiment).items() if r == "steady"]


def compressibility_fit(ctx: Context, experiment: str, against: str = "train_loss",
                        alphas: Sequence[float] | None = None) -> LinearFit:
    """Linear fit of c against a final metric over every seed of `alphas` (default: all) (Fig 5c-d, App D)."""
    c = final_compressibility(ctx, experiment)
    metric = final_metrics(ctx, experiment)[against]
    if alphas is not None:
        c, metric = c.sel(alpha=list(alphas)), metric.sel(alpha=list(alphas))
    return linear_fit(metric.values, c.values)


# ---------------------------------------------------------------------------------------------- dynamics


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


def dynamics_compressibility(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.DataArray:
    """Compressibility c(θ_k) (Eq. 5) along the trajectories of α: (alpha, seed, checkpoint).

    Per α, ~COMPRESSIBILITY_CHECKPOINTS checkpoints from the first at which one of its runs has `learned`;
    NaN where a run has not learned yet (and at the other α's checkpoints).
    """

    def compute():
        ds = ctx.results(experiment)
        epochs = ds["checkpoint"].values
        done = learned(ds.sel(alpha=list(alphas)))
        fractions = pruning_fractions(ctx.scale, trajectory=True)
        per_alpha = []
        for alpha in alphas:
            ok = done.sel(alpha=alpha).values
            first = int(np.argmax(ok.any(axis=0))) if ok.any() else len(epochs) - 1
            index = first + thin_checkpoints(epochs[first:], COMPRESSIBILITY_CHECKPOINTS)
            runs = []
            for j, seed in enumerate(ds["seed"].values):
                keep = index[ok[j, index]]
                c = xr.DataArray(np.full(len(keep), np.nan), dims="checkpoint",
                                 coords={"checkpoint": epochs[keep]})
                if keep.size:
                    sub = ds[["theta"]].sel(alpha=[alpha], seed=[seed]).isel(checkpoint=keep)
                    c = lazy.compressibility(sub, *seed_test_set(ctx, experiment, int(seed)), fractions,
                                             device=DEVICE).compute().isel(alpha=0, seed=0, drop=True)
                runs.append(c.reindex(checkpoint=epochs[index]))
            per_alpha.append(xr.concat(runs, xr.DataArray(ds["seed"].values, dims="seed")))
        return xr.concat(per_alpha, xr.DataArray(list(alphas), dims="alpha"), join="outer")

    return _cached(ctx, ("dynamics_compressibility", experiment, tuple(alphas)), compute)


def ipr_dynamics(ctx: Context, experiment: str, alphas: Sequence[float],
                 side: str = "output") -> xr.DataArray:
    """Mean Fourier IPR (Eq. 7) at every checkpoint: (alpha, seed, checkpoint); mod-add only."""

    def compute():
        ds = ctx.results(experiment)
        return lazy.mean_fourier_ipr(ds[["theta"]].sel(alpha=list(alphas)), side).compute()

    return _cached(ctx, ("ipr_dynamics", experiment, tuple(alphas), side), compute)


def layer_correlations(theta, x, features) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer: (ρ (neuron, feature), Eq. 6 weight w (neuron,))} of the Ising CNN θ (param,) on inputs x."""
    pre = ising_features.pre_activations(theta, x)
    return {layer: (ising_features.feature_correlations(a, features), ising_features.activation_weights(a))
            for layer, a in pre.items()}


def final_correlations(ctx: Context, experiment: str, alpha: float) -> dict[int, dict]:
    """{seed: {layer: (ρ (neuron, feature), Eq. 6 weight w (neuron,))}} of each final model of α (Fig 3)."""

    def compute():
        result = {}
        for seed in ctx.results(experiment)["seed"].values:
            x, _ = seed_test_set(ctx, experiment, int(seed))
            features, _ = seed_test_features(ctx, experiment, int(seed))
            theta = final_theta(ctx, experiment, alpha, int(seed))
            result[int(seed)] = layer_correlations(theta, x, features)
        return result

    return _cached(ctx, ("final_correlations", experiment, alpha), compute)


def feature_dynamics(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.Dataset:
    """Along the trajectory (~FEATURE_CHECKPOINTS checkpoints): the weighted correlation ρ̄ (Eq. 6), the
    fraction of neurons whose best feature is f and its share of the pre-activation (App. G.1), each (alpha,
    seed, checkpoint, layer, feature)."""

    def compute():
        ds = ctx.results(experiment)
        index = thin_checkpoints(ds["checkpoint"].values, FEATURE_CHECKPOINTS)
        seeds = ds["seed"].values
        out = np.full((3, len(alphas), len(seeds), len(index), len(ising_features.LAYERS), 3), np.nan)
        for j, seed in enumerate(seeds):
            x, _ = seed_test_set(ctx, experiment, int(seed))
            features, _ = seed_test_features(ctx, experiment, int(seed))
            thetas = ds["theta"].sel(alpha=list(alphas), seed=seed).isel(checkpoint=index).values
            for i, k in np.ndindex(thetas.shape[:2]):
                for m, (rho, w) in enumerate(layer_correlations(thetas[i, k], x, features).values()):
                    out[:, i, j, k, m] = (ising_features.weighted_correlation(rho, w),
                                          ising_features.best_feature_fraction(rho),
                                          ising_features.best_feature_share(rho, w))
        dims = ("alpha", "seed", "checkpoint", "layer", "feature")
        coords = {"alpha": list(alphas), "seed": seeds, "checkpoint": ds["checkpoint"].values[index],
                  "layer": list(ising_features.LAYERS), "feature": list(ising_features.FEATURES)}
        names = ("weighted_correlation", "best_fraction", "best_share")
        variables = {name: (dims, values) for name, values in zip(names, out, strict=True)}
        return xr.Dataset(variables, coords=coords)

    return _cached(ctx, ("feature_dynamics", experiment, tuple(alphas)), compute)


def trajectory(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.Dataset:
    """Fisher step magnitude |s_k|_F (Eq. 8), consecutive-step cosine and origin cosine (Eq. 9) per
    (alpha, seed, checkpoint), over the checkpoints up to the paper's plotted range (TRAJECTORY_LIMIT)."""

    def compute():
        ds = ctx.results(experiment)
        epochs = ds["checkpoint"].values
        # one checkpoint past the limit, so that the last step inside it is defined
        limit = TRAJECTORY_LIMIT[ds.attrs["task"]]
        stop = min(int(np.searchsorted(epochs, limit, side="right")), len(epochs) - 1)
        sub = ds[["theta", "fim_diag"]].sel(alpha=list(alphas)).isel(checkpoint=slice(0, stop + 1))
        measures = lazy.step_measures(sub).sel(metric="fisher", subspace="all", drop=True)
        measures = measures[["magnitude", "cosine", "origin_cosine"]].compute()
        inside = epochs[: stop + 1] <= TRAJECTORY_LIMIT[ds.attrs["task"]]
        return measures.isel(checkpoint=np.flatnonzero(inside)) if inside.sum() > 2 else measures

    return _cached(ctx, ("trajectory", experiment, tuple(alphas)), compute)


def transition_epochs(ctx: Context, experiment: str, alpha: float) -> tuple[float, float]:
    """The authors' dashed lines (spec §4.1 `get_times`): first epoch at which the seed-mean train (test)
    accuracy of α exceeds 0.9 of its maximum."""
    ds = ctx.results(experiment)
    result = []
    for name in ("train_acc", "test_acc"):
        epochs, values = seed_mean_curve(ds, name, alpha)
        result.append(float(curves.threshold_epoch(values, within=0.1, epochs=epochs, strict=True)))
    return result[0], result[1]


# ----------------------------------------------------------------------------------------------- drawing


def _subplots(*args, **kwargs):
    """plt.subplots with constrained layout, leaving a strip at the bottom for render()'s provenance line."""
    fig, axes = plt.subplots(*args, layout="constrained", **kwargs)
    fig.get_layout_engine().set(rect=(0, 0.02, 1, 0.98))
    return fig, axes


def _band(ax, x, values, color, label, gid, **kwargs):
    """Seed mean (line) ± one standard deviation (band) of values (seed, n) against x (n,)."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (undefined steps) stay NaN
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    ax.plot(x, mean, color=color, label=label, gid=gid, **kwargs)
    if values.shape[0] > 1:
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def _accuracy_twin(ax, ds: xr.Dataset, alpha: float, epoch_max: float | None = None):
    """Seed-mean train (dashed) and test (solid) accuracy of α on a right-hand axis, in grey."""
    twin = ax.twinx()
    for name, dash in (("train_acc", "--"), ("test_acc", "-")):
        epochs, values = seed_mean_curve(ds, name, alpha)
        kept = epochs <= (epoch_max or np.inf)
        twin.plot(epochs[kept], 100 * values[kept], dash, color="0.55", lw=1, gid=f"{name} α={alpha:g}")
    twin.set_ylabel("accuracy (%) (grey)")
    twin.set_ylim(0, 105)
    return twin


def _columns(arch: Archetypes) -> tuple[tuple[str, str, float, str], ...]:
    """(regime, label, α, colour) of the grokking and the learning column of a figure."""
    return (("grok", "grokking", arch.grok, style.GROK_COLOR),
            ("learn", "learning", arch.learn, style.LEARN_COLOR))


def _regime_title(kind: str, alpha: float) -> str:
    return f"{kind} α = {alpha:g}"


@figure("fig01", "Ising snapshots at increasing temperature through T_c, labelled with T and phase",
        ("ising-main",), notes="one snapshot per temperature (the one with the median |M| there); "
                               "temperatures spread over the data's range")
def fig01(ctx: Context) -> plt.Figure:
    source = ising_source(ctx, "ising-main")
    temperatures = np.unique(source["temperature"].values)
    tc = float(source.attrs["critical_temperature"])
    n = min(6, len(temperatures))
    picked = temperatures[np.unique(np.round(np.linspace(0, len(temperatures) - 1, n)).astype(int))]
    fig, axes = _subplots(1, len(picked), figsize=(2.2 * len(picked), 2.8), squeeze=False)
    magnetization = np.abs(source["magnetization"].values)
    for ax, t in zip(axes[0], picked, strict=True):
        # a representative snapshot: the one with the median |M| of its temperature
        at_t = np.flatnonzero(source["temperature"].values == t)
        k = int(at_t[np.argsort(magnetization[at_t], kind="stable")[len(at_t) // 2]])
        spins = source["spins"].values[k]
        ax.imshow(spins, cmap="gray", vmin=-1, vmax=1, interpolation="nearest", gid=f"snapshot T={t:.3f}")
        phase = "ordered" if t < tc else "disordered"
        m = magnetization[k] / spins.size
        ax.set_title(f"T = {t:.2f} ({phase})\n|m| = {m:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Ising snapshots {spins.shape[0]}×{spins.shape[1]} (white = +1, black = −1); "
                 f"T_c = {tc:.3f} (J = k_B = 1)", fontsize=10)
    return fig


def _training_panels(fig, axes, ds: xr.Dataset, task_label: str, not_learned=()) -> None:
    """Seed-mean accuracy and loss curves per α; α in `not_learned` (most seeds did not learn) drawn thin and
    faint, with their own legend entry, since their Def. 1 times are meaningless."""
    alphas = [float(a) for a in ds["alpha"].values]
    colors = style.alpha_colors(alphas)
    for alpha, color in zip(alphas, colors, strict=True):
        faint = {"lw": 0.7, "alpha": 0.45} if alpha in not_learned else {"lw": 1.2}
        for (kind, dash), ax_index in ((("train", "--"), 0), (("test", "-"), 0), (("train", "--"), 1),
                                       (("test", "-"), 1)):
            metric = ("acc", "loss")[ax_index]
            epochs, values = seed_mean_curve(ds, f"{kind}_{metric}", alpha)
            keep = _log_sample(len(epochs))
            scale = 100 if metric == "acc" else 1
            axes[ax_index].plot(epochs[keep], scale * values[keep], dash, color=color, **faint,
                                gid=f"{kind} α={alpha:g}")
    if not_learned:
        axes[0].plot([], [], "-", color="0.6", lw=0.7, gid="did-not-learn",
                     label="did not learn: α=" + ", ".join(f"{a:g}" for a in not_learned))
    for ax, label in zip(axes, ("accuracy (%)", "cross-entropy loss (nats)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{task_label}: {label.split(' (')[0]}", fontsize=10)
    axes[1].set_yscale("log")
    axes[0].plot([], [], "k--", label="train")
    axes[0].plot([], [], "k-", label="test")
    axes[0].legend(loc="lower right", fontsize=8)
    style.alpha_colorbar(fig, list(axes), alphas)


@figure("fig02", "Train (dashed) and test (solid) accuracy and loss vs epoch, seed mean, colour = α; "
        "(a) Ising (b) modular addition", ("ising-main", "modadd-main"),
        notes="mean over all seeds of the grid (the paper: 5 Ising seeds); x = epochs completed, log scale; α "
              "whose seeds mostly did not learn (final test accuracy below chance + 10% of the way to 1) are "
              "drawn thin and faint and named in the legend")
def fig02(ctx: Context) -> plt.Figure:
    require(ctx, "ising-main", "modadd-main")
    fig, axes = _subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, label) in enumerate((("ising-main", "(a) Ising"), ("modadd-main", "(b) mod-add"))):
        ds = ctx.results(experiment)
        not_learned = [a for a, r in majority_regime(ctx, experiment).items() if r == "did-not-learn"]
        _training_panels(fig, axes[row], ds, f"{label}, {ds.sizes['seed']} seeds", not_learned)
    return fig


@figure("fig03", "Ising: energy vs pre-activation of the most activated FC neuron (top) and the distribution "
        "of per-neuron correlations with energy over all FC neurons (bottom), grokking vs learning α",
        ("ising-main",),
        notes="most activated = largest mean |pre-activation| over the test set (spec §4.4 default); top: "
              "first seed; bottom: all seeds pooled; learning α chosen by Def. 1-2 (see the title)")
def fig03(ctx: Context) -> plt.Figure:
    ds = ctx.results("ising-main")
    arch = archetypes(ctx, "ising-main")
    seeds = [int(s) for s in ds["seed"].values]
    fig, axes = _subplots(2, 2, figsize=(10, 8))
    for col, (_, kind, alpha, color) in enumerate(_columns(arch)):
        x, _ = seed_test_set(ctx, "ising-main", seeds[0])
        features, temperature = seed_test_features(ctx, "ising-main", seeds[0])
        pre = ising_features.pre_activations(final_theta(ctx, "ising-main", alpha, seeds[0]), x)["fc1"]
        neuron = int(ising_features.most_activated_neuron(pre))
        rho = ising_features.feature_correlations(pre[:, [neuron]], features)[0, 0]
        ax = axes[0, col]
        points = ax.scatter(pre[:, neuron], features[:, 0], c=temperature, cmap="viridis", s=6,
                            gid=f"scatter α={alpha:g}")
        fig.colorbar(points, ax=ax, label="temperature T")
        ax.set_xlabel(f"pre-activation of FC neuron {neuron}")
        ax.set_ylabel("energy E (units of J)")
        ax.set_title(f"{_regime_title(kind, alpha)}, seed {seeds[0]}: ρ(E) = {rho:+.3f}", fontsize=10)
        by_seed = final_correlations(ctx, "ising-main", alpha).values()
        rhos = np.concatenate([layers["fc1"][0][:, 0] for layers in by_seed])
        ax = axes[1, col]
        ax.hist(rhos[np.isfinite(rhos)], bins=np.linspace(-1, 1, 41), color=color, gid=f"rho α={alpha:g}")
        ax.set_xlabel("correlation ρ of FC pre-activation with E")
        ax.set_ylabel("neurons")
        ax.set_title(f"{_regime_title(kind, alpha)}: {rhos.size} neurons ({len(seeds)} seeds), "
                     f"{int(np.isnan(rhos).sum())} constant", fontsize=10)
    fig.suptitle(f"Ising FC layer at the end of training: grokking α = {arch.grok:g}, learning α = "
                 f"{arch.learn:g} ({arch.reason})", fontsize=10)
    style.panel_labels(axes)
    return fig


def _ipr_panel(ax, theta_by_seed, alpha, regime, color):
    iprs = np.concatenate([fourier.neuron_ipr(t, "output") for t in theta_by_seed])
    iprs_in = np.concatenate([fourier.neuron_ipr(t, "input") for t in theta_by_seed])
    bins = np.linspace(0, 1, 41)
    ax.hist(iprs[np.isfinite(iprs)], bins=bins, color=color, alpha=0.8, gid=f"ipr α={alpha:g}",
            label=f"unembedding W_out, mean {np.nanmean(iprs):.2f}")
    ax.hist(iprs_in[np.isfinite(iprs_in)], bins=bins, histtype="step", color="k", gid=f"ipr-in α={alpha:g}",
            label=f"embedding W_in (a, b mean), mean {np.nanmean(iprs_in):.2f}")
    ax.axvline(np.nanmean(iprs), color="k", lw=1)
    ax.axvline(PAPER_IPR[regime], color="k", ls=":", lw=1, label=f"paper mean {PAPER_IPR[regime]:.2f}")
    ax.set_xlabel("Fourier IPR per neuron (Eq. 4, r = 2)")
    ax.set_ylabel("neurons")
    ax.set_ylim(0, 1.35 * ax.get_ylim()[1])  # room for the legend above the bars
    ax.legend(fontsize=7, loc="upper right")


@figure("fig04", "Mod-add: |Fourier transform| of the unembedding per neuron and frequency (top) and the "
        "per-neuron IPR distribution (bottom), grokking (α=10) vs learning (α=0.1)", ("modadd-main",),
        notes="heatmap of the first seed, rows sorted by dominant frequency, ω ≤ 56 shown (|û(ω)| = "
              "|û(113−ω)|); IPR histograms pool all seeds; the embedding IPR is overlaid (black outline). IPR "
              "as Eq. 7 is printed (two-sided DFT over ω = 0..112): a real vector's power sits on ±ω, so no "
              "non-constant neuron exceeds 0.5 and the paper's learning mean 0.53 (dotted) is above that ceiling; "
              "the claims report gives the one-sided and real-basis variants and the alive-neuron mean too")
def fig04(ctx: Context) -> plt.Figure:
    ds = ctx.results("modadd-main")
    arch = archetypes(ctx, "modadd-main")
    seeds = [int(s) for s in ds["seed"].values]
    half = fourier.P_MODADD // 2
    fig, axes = _subplots(2, 2, figsize=(11, 9), gridspec_kw={"height_ratios": [1.5, 1]})
    for col, (regime, kind, alpha, color) in enumerate(_columns(arch)):
        thetas = [final_theta(ctx, "modadd-main", alpha, s) for s in seeds]
        spectrum = fourier.neuron_spectrum(thetas[0], "output")[:, : half + 1]
        order = np.lexsort((-spectrum.max(axis=1), fourier.dominant_frequency(thetas[0], "output")))
        ax = axes[0, col]
        image = ax.imshow(spectrum[order], aspect="auto", cmap="magma", interpolation="nearest",
                          gid=f"spectrum α={alpha:g}")
        fig.colorbar(image, ax=ax, label="|û(ω)|")
        ax.set_xlabel("frequency ω")
        ax.set_ylabel("hidden neuron (sorted by dominant ω)")
        ax.set_title(f"{_regime_title(kind, alpha)}: unembedding W_out, seed {seeds[0]}", fontsize=10)
        _ipr_panel(axes[1, col], thetas, alpha, regime, color)
        axes[1, col].set_title(f"{_regime_title(kind, alpha)}: {len(seeds)} seeds × 512 neurons", fontsize=10)
    fig.suptitle(f"Mod-add Fourier features at the end of training ({arch.reason})", fontsize=10)
    style.panel_labels(axes)
    return fig


def _pruning_panel(fig, ax, ctx: Context, experiment: str, title: str, legend: bool = True) -> None:
    acc = final_pruning(ctx, experiment)["acc"]
    alphas = [float(a) for a in acc["alpha"].values]
    for alpha, color in zip(alphas, style.alpha_colors(alphas), strict=True):
        ax.plot(100 * acc["fraction"].values, 100 * acc.sel(alpha=alpha).mean("seed").values, color=color,
                lw=1.3, gid=f"prune {experiment} α={alpha:g}")
    ax.set_xlabel("weights pruned in each layer (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    if legend:
        style.alpha_colorbar(fig, ax, alphas)


def _tradeoff_panel(fig, ax, ctx: Context, experiment: str, title: str, fit_alphas) -> None:
    c = final_compressibility(ctx, experiment)
    loss = final_metrics(ctx, experiment)["train_loss"]
    alphas = [float(a) for a in c["alpha"].values]
    for alpha, color in zip(alphas, style.alpha_colors(alphas), strict=True):
        ax.scatter(loss.sel(alpha=alpha).values, c.sel(alpha=alpha).values, color=color, s=22, edgecolor="k",
                   linewidth=0.3, gid=f"tradeoff {experiment} α={alpha:g}")
    fit = compressibility_fit(ctx, experiment, "train_loss", fit_alphas)
    if np.isfinite(fit.slope):
        x = np.linspace(*np.nanpercentile(loss.sel(alpha=list(fit_alphas)).values, [0, 100]), 20)
        ax.plot(x, fit.slope * x + fit.intercept, "k--", lw=1,
                label=f"linear fit, {'steady α' if len(fit_alphas) < len(alphas) else 'all α'}: "
                      f"slope {fit.slope:.3g}, R² = {fit.r2:.2f} (n = {fit.n})")
        ax.legend(fontsize=7)
    ax.set_xlabel("final train loss (nats)")
    ax.set_ylabel("compressibility c (Eq. 5)")
    ax.set_title(title, fontsize=10)


@figure("fig05", "Per-layer magnitude pruning: test accuracy vs fraction pruned per α (seed mean), inset at "
        "ten-fold weight decay; compressibility vs final train loss for every α × seed; mod-add and Ising",
        ("modadd-main", "ising-main", "modadd-wd"),
        notes="panels follow the paper's text: (a) mod-add with the wd=3e-4 inset, (b) Ising, (c) mod-add "
              "and (d) Ising trade-off (the caption says (a) Ising, (b) mod-add; spec §4.19 item 10); the "
              "mod-add line is fitted over the α that learn steadily (Def. 2), the Ising one over all runs")
def fig05(ctx: Context) -> plt.Figure:
    require(ctx, "modadd-main", "ising-main", "modadd-wd")
    fig, axes = _subplots(2, 2, figsize=(11, 9))
    _pruning_panel(fig, axes[0, 0], ctx, "modadd-main", "mod-add, weight decay 3e-5")
    inset = axes[0, 0].inset_axes([0.1, 0.1, 0.42, 0.42])
    _pruning_panel(fig, inset, ctx, "modadd-wd", "weight decay 3e-4", legend=False)
    inset.set_xlabel("pruned (%)", fontsize=7)
    inset.set_ylabel("test acc. (%)", fontsize=7)
    inset.tick_params(labelsize=6)
    _pruning_panel(fig, axes[0, 1], ctx, "ising-main", "Ising")
    _tradeoff_panel(fig, axes[1, 0], ctx, "modadd-main", "mod-add: compressibility vs end train loss",
                    steady_alphas(ctx, "modadd-main"))
    _tradeoff_panel(fig, axes[1, 1], ctx, "ising-main", "Ising: compressibility vs end train loss",
                    [float(a) for a in ctx.results("ising-main")["alpha"].values])
    style.panel_labels(axes)
    return fig


def _dynamics_column(axes, ctx, experiment, alpha, kind, rows, accuracy: bool = True) -> None:
    """One column of Figs 6-7: each row (DataArray (alpha, seed, checkpoint, ...), ylabel, draw) vs epoch,
    with the seed-mean accuracy on a twin axis if `accuracy`."""
    ds = ctx.results(experiment)
    for ax, (values, ylabel, draw) in zip(axes, rows, strict=True):
        draw(ax, values.sel(alpha=alpha))
        ax.set_ylabel(ylabel)
        ax.set_xlabel("epoch")
        ax.set_title(_regime_title(kind, alpha), fontsize=10)
        ax.set_xscale("symlog", linthresh=max(float(ds["checkpoint"].values[1]), 1.0))
        ax.set_xlim(0, float(ds["checkpoint"].values[-1]))
        if accuracy:
            _accuracy_twin(ax, ds, alpha)


def _seed_band(label: str, gid: str, color: str):
    def draw(ax, values):
        values = values.dropna("checkpoint", how="all")
        x, seeds = values["checkpoint"].values, values.transpose("seed", "checkpoint").values
        _band(ax, x, seeds, color, label, gid)
    return draw


@figure("fig06", "Mod-add dynamics: mean Fourier IPR (top) and compressibility (bottom) vs epoch with "
        "accuracy, grokking vs learning α", ("modadd-dynamics",),
        notes=f"seed mean ± std; IPR of the unembedding at every checkpoint; compressibility at "
              f"~{COMPRESSIBILITY_CHECKPOINTS} checkpoints (21-point pruning grid) from the point where the "
              "test accuracy is halfway from chance to its maximum; grey: train (dashed) and test (solid) "
              "accuracy; symlog x")
def fig06(ctx: Context) -> plt.Figure:
    arch = archetypes(ctx, "modadd-dynamics")
    alphas = (arch.grok, arch.learn)
    ipr = ipr_dynamics(ctx, "modadd-dynamics", alphas)
    comp = dynamics_compressibility(ctx, "modadd-dynamics", alphas)
    fig, axes = _subplots(2, 2, figsize=(11, 8))
    for col, (_, kind, alpha, color) in enumerate(_columns(arch)):
        rows = [(ipr, "mean IPR (Eq. 7)", _seed_band("mean IPR", f"ipr α={alpha:g}", color)),
                (comp, "compressibility c (Eq. 5)", _seed_band("c", f"compressibility α={alpha:g}", color))]
        _dynamics_column(axes[:, col], ctx, "modadd-dynamics", alpha, kind, rows)
    fig.suptitle(f"Mod-add model development ({arch.reason}; mean ± std over "
                 f"{ipr.sizes['seed']} seeds)", fontsize=10)
    style.panel_labels(axes)
    return fig


def _feature_lines(ax, values):
    """Weighted correlation per layer (colour) and feature (line style), values (seed, checkpoint, ...)."""
    layer_colors = {"conv1": "#2ca02c", "conv2": "#1f77b4", "fc1": "#d62728"}
    mean = values.mean("seed")
    for layer in mean["layer"].values:
        for feature, dash in zip(mean["feature"].values, ("-", "--", ":"), strict=True):
            symbol = FEATURE_LABELS[list(ising_features.FEATURES).index(feature)]
            label = f"{LAYER_LABELS[str(layer)]}, {symbol}"
            ax.plot(mean["checkpoint"].values, mean.sel(layer=layer, feature=feature).values, dash,
                    color=layer_colors[str(layer)], lw=1.2, label=label, gid=f"rho {layer} {feature}")
    ax.set_ylim(0, 1.02)


@figure("fig07", "Ising dynamics: weighted correlation (Eq. 6) per layer and feature (top), compressibility "
        "(middle) and accuracy (bottom) vs epoch, grokking vs learning α", ("ising-main",),
        notes=f"seed mean (± std for c); correlations at ~{FEATURE_CHECKPOINTS} checkpoints, c at "
              f"~{COMPRESSIBILITY_CHECKPOINTS} from the point where the test accuracy is halfway from chance "
              "(50%) to its maximum; learning α chosen by Def. 1-2 (title); symlog x")
def fig07(ctx: Context) -> plt.Figure:
    ds = ctx.results("ising-main")
    arch = archetypes(ctx, "ising-main")
    alphas = (arch.grok, arch.learn)
    rho = feature_dynamics(ctx, "ising-main", alphas)["weighted_correlation"]
    comp = dynamics_compressibility(ctx, "ising-main", alphas)
    fig, axes = _subplots(3, 2, figsize=(11, 11))
    for col, (_, kind, alpha, color) in enumerate(_columns(arch)):
        rows = [(rho, "weighted |ρ| (Eq. 6)", _feature_lines),
                (comp, "compressibility c (Eq. 5)", _seed_band("c", f"compressibility α={alpha:g}", color))]
        _dynamics_column(axes[:2, col], ctx, "ising-main", alpha, kind, rows, accuracy=False)
        ax = axes[2, col]
        for name, dash in (("train_acc", "--"), ("test_acc", "-")):
            epochs, values = seed_mean_curve(ds, name, alpha)
            keep = _log_sample(len(epochs))
            ax.plot(epochs[keep], 100 * values[keep], dash, color=color, gid=f"{name} α={alpha:g}",
                    label=name.replace("_acc", ""))
        ax.set_xscale("symlog", linthresh=max(float(ds["checkpoint"].values[1]), 1.0))
        ax.set_xlim(0, float(ds["checkpoint"].values[-1]))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=5, fontsize=7)
    fig.suptitle(f"Ising model development: grokking α = {arch.grok:g}, learning α = {arch.learn:g} "
                 f"({arch.reason}; {ds.sizes['seed']} seeds)", fontsize=10)
    style.panel_labels(axes)
    return fig


def _cosine_panel(ax, ctx: Context, experiment: str, measure: str, arch: Archetypes, title: str) -> None:
    values = trajectory(ctx, experiment, (arch.grok, arch.learn))[measure]
    for _, kind, alpha, color in _columns(arch):
        series = values.sel(alpha=alpha).transpose("seed", "checkpoint")
        _band(ax, series["checkpoint"].values, series.values, color, _regime_title(kind, alpha),
              f"{measure} {experiment} α={alpha:g}")
    for epoch in transition_epochs(ctx, experiment, arch.grok):
        if np.isfinite(epoch) and epoch <= values["checkpoint"].values[-1]:
            ax.axvline(epoch, color="0.4", ls="--", lw=0.8)
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("Fisher cosine similarity (Eq. 9)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")


@figure("fig08", "Fisher cosine similarity of consecutive steps (a Ising, b mod-add) and of each step with "
        "the direction to the origin (c, d), grokking vs learning", ("ising-main", "modadd-dynamics"),
        notes="seed mean ± std; step k plotted at e_k (origin) and e_{k+1} (consecutive), not with the "
              "authors' off-by-one; dashed: the authors' get_times lines (0.9·max train/test accuracy of the "
              "grokking α)")
def fig08(ctx: Context) -> plt.Figure:
    require(ctx, "ising-main", "modadd-dynamics")
    fig, axes = _subplots(2, 2, figsize=(11, 8))
    for col, (experiment, label) in enumerate((("ising-main", "Ising"), ("modadd-dynamics", "mod-add"))):
        arch = archetypes(ctx, experiment)
        _cosine_panel(axes[0, col], ctx, experiment, "cosine", arch,
                      f"{label}: consecutive steps S_F(s_k, s_k+1)")
        _cosine_panel(axes[1, col], ctx, experiment, "origin_cosine", arch,
                      f"{label}: step vs origin S_F(s_k, −θ_k)")
    style.panel_labels(axes)
    return fig
