"""Derived feature data: Ising feature correlations (Eq. 6) and the mod-add Fourier IPR (Eq. 7).

The Ising data set and its domain walls (App. B), per-neuron correlations of final models and along
trajectories (App. G.1), the IPR of final models and along trajectories. No drawing here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from grokcore.measures import fourier, ising_features, lazy
from repro.figures.registry import Context
from repro.figures.runs import ISING, final_theta, seed_test_set, thin_checkpoints

FEATURE_CHECKPOINTS = 150  # per α along a trajectory at which the Ising correlations (Fig 7, 28-30) are evaluated
PAPER_IPR = {"grok": 0.43, "learn": 0.53}  # §4.2
IPR_DEFAULT = ("two_sided", "all")  # Eq. 7 as printed: the variant the values are judged under
TWO_SIDED_CEILING = 0.5  # the largest two-sided IPR of a non-constant real vector (a pure sinusoid)


def ising_source(ctx: Context, experiment: str) -> xr.Dataset:
    """The Ising data set an experiment trained on (spins, temperature, phase, energy, magnetization per
    snapshot).

    Raises MissingResults if it has not been generated at this scale (figures never start a Monte Carlo run).
    """
    path = ctx.ising_data_path(experiment)
    if path is None:
        raise ValueError(f"experiment {experiment!r} is a {ctx.experiment(experiment).task} experiment, not an "
                         "Ising one")
    return ctx.cached(("ising_source", str(path)), lambda: xr.open_zarr(path, consolidated=None).load())


def seed_test_features(ctx: Context, experiment: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(E, M, |M|) (sample, 3) and temperature (sample,) of the Ising test snapshots of run `seed`."""
    source = ising_source(ctx, experiment)
    index = ctx.task_data(experiment, seed).test_index
    energy, magnetization = source["energy"].values[index], source["magnetization"].values[index]
    features = ising_features.feature_matrix(energy, magnetization)
    return features, source["temperature"].values[index]


def temperature_snapshots(ctx: Context, experiment: str, n: int = 6) -> xr.Dataset:
    """Fig. 1's snapshots: at up to n temperatures spread over the data's range, the snapshot with the median |M|
    there; spins (temperature, y, x) and |M| (temperature,), attribute critical_temperature."""

    def compute():
        source = ising_source(ctx, experiment)
        temperatures = np.unique(source["temperature"].values)
        count = min(n, len(temperatures))
        picked = temperatures[np.unique(np.round(np.linspace(0, len(temperatures) - 1, count)).astype(int))]
        magnetization = np.abs(source["magnetization"].values)
        chosen = []
        for t in picked:
            at_t = np.flatnonzero(source["temperature"].values == t)
            chosen.append(int(at_t[np.argsort(magnetization[at_t], kind="stable")[len(at_t) // 2]]))
        return xr.Dataset({"spins": (("temperature", "y", "x"), source["spins"].values[chosen]),
                           "magnetization": ("temperature", magnetization[chosen])}, coords={"temperature": picked},
                          attrs={"critical_temperature": float(source.attrs["critical_temperature"])})

    return ctx.cached(("temperature_snapshots", experiment, n), compute)


def domain_walls(ctx: Context, n: int = 8) -> tuple[np.ndarray, float]:
    """Indices of up to n ordered snapshots (T < T_c) with |m| < 0.5, lowest |m| first (Fig. 11), and the share
    of ordered snapshots with |m| < 0.5 (m = M/L²)."""

    def compute():
        source = ising_source(ctx, ISING)
        m_abs = np.abs(source["magnetization"].values) / (source.sizes["y"] * source.sizes["x"])
        ordered = np.flatnonzero(source["phase"].values == 1)
        walls = ordered[m_abs[ordered] < 0.5]
        share = walls.size / ordered.size if ordered.size else np.nan
        return walls[np.argsort(m_abs[walls], kind="stable")][:n], share

    return ctx.cached(("domain_walls", ISING, n), compute)


def wall_snapshots(ctx: Context, n: int = 8) -> xr.Dataset:
    """The `domain_walls` snapshots (wall,): spins (wall, y, x), temperature, magnetization M and energy E."""

    def compute():
        index, _ = domain_walls(ctx, n)
        source = ising_source(ctx, ISING)
        return source[["spins", "temperature", "magnetization", "energy"]].isel(snapshot=index).rename(snapshot="wall")

    return ctx.cached(("wall_snapshots", ISING, n), compute)


def layer_correlations(theta, x, features) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer: (ρ (neuron, feature), Eq. 6 weight w (neuron,))} of the Ising CNN θ (param,) on inputs x."""
    pre = ising_features.pre_activations(theta, x)
    return {layer: (ising_features.feature_correlations(a, features), ising_features.activation_weights(a))
            for layer, a in pre.items()}


def energy_scatter(ctx: Context, experiment: str, alpha: float, seed: int) -> xr.Dataset:
    """Fig. 3's top row: the FC neuron of the final model (α, seed) most activated on its test set (largest mean
    |pre-activation|, spec §4.4): its pre-activation, the snapshots' energy E and temperature, (sample,);
    attributes neuron and its correlation rho with E."""

    def compute():
        x, _ = seed_test_set(ctx, experiment, seed)
        feature_values, temperature = seed_test_features(ctx, experiment, seed)
        pre = ising_features.pre_activations(final_theta(ctx, experiment, alpha, seed), x)["fc1"]
        neuron = int(ising_features.most_activated_neuron(pre))
        rho = ising_features.feature_correlations(pre[:, [neuron]], feature_values)[0, 0]
        return xr.Dataset({"pre_activation": ("sample", np.asarray(pre)[:, neuron]),
                           "energy": ("sample", feature_values[:, 0]), "temperature": ("sample", temperature)},
                          attrs={"neuron": neuron, "rho": float(rho)})

    return ctx.cached(("energy_scatter", experiment, alpha, seed), compute)


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

    return ctx.cached(("final_correlations", experiment, alpha), compute)


def feature_dynamics(ctx: Context, experiment: str, alphas: Sequence[float]) -> xr.Dataset:
    """Along the trajectory (~FEATURE_CHECKPOINTS checkpoints): the weighted correlation ρ̄ (Eq. 6), the
    fraction of neurons whose best feature is f and its share of the pre-activation (App. G.1), each (alpha,
    seed, checkpoint, layer, feature); cached per α (`Context.per_alpha`)."""

    def compute(alpha):
        ds = ctx.results(experiment)
        index = thin_checkpoints(ds["checkpoint"].values, FEATURE_CHECKPOINTS)
        seeds = ds["seed"].values
        cells = ((ds["theta"].sel(alpha=[alpha], seed=seed).isel(checkpoint=index).values,
                  seed_test_set(ctx, experiment, int(seed))[0], seed_test_features(ctx, experiment, int(seed))[0])
                 for seed in seeds)
        out = np.stack(ctx.map(correlation_dynamics, cells), axis=2)  # (measure, alpha, seed, checkpoint, ...)
        dims = ("alpha", "seed", "checkpoint", "layer", "feature")
        coords = {"alpha": [alpha], "seed": seeds, "checkpoint": ds["checkpoint"].values[index],
                  "layer": list(ising_features.LAYERS), "feature": list(ising_features.FEATURES)}
        names = ("weighted_correlation", "best_fraction", "best_share")
        variables = {name: (dims, values) for name, values in zip(names, out, strict=True)}
        return xr.Dataset(variables, coords=coords)

    return ctx.per_alpha(("feature_dynamics", experiment), alphas, compute)


def correlation_dynamics(thetas: np.ndarray, x, features: np.ndarray) -> np.ndarray:
    """One task of `feature_dynamics`: ρ̄ (Eq. 6), the best-feature fraction and share of the Ising CNNs θ (alpha,
    checkpoint, param) on inputs x with features (sample, feature): (measure, alpha, checkpoint, layer, feature)."""
    out = np.full((3, *thetas.shape[:2], len(ising_features.LAYERS), len(ising_features.FEATURES)), np.nan)
    for i, k in np.ndindex(thetas.shape[:2]):
        for m, (rho, w) in enumerate(layer_correlations(thetas[i, k], x, features).values()):
            out[:, i, k, m] = (ising_features.weighted_correlation(rho, w), ising_features.best_feature_fraction(rho),
                               ising_features.best_feature_share(rho, w))
    return out


def ipr_dynamics(ctx: Context, experiment: str, alphas: Sequence[float], side: str = "output") -> xr.DataArray:
    """Mean Fourier IPR (Eq. 7) at every checkpoint: (alpha, seed, checkpoint); mod-add only; cached per α."""

    def compute(alpha):
        ds = ctx.results(experiment)
        return lazy.mean_fourier_ipr(ds[["theta"]].sel(alpha=[alpha]), side).compute()

    return ctx.per_alpha(("ipr_dynamics", experiment), alphas, compute, side)


def unembedding_spectrum(ctx: Context, experiment: str, alpha: float, seed: int) -> np.ndarray:
    """Fig. 4's heatmap: |û(ω)| of the unembedding of the final model (α, seed), (neuron, ω ≤ P/2) in float32
    (drawn only), rows sorted by dominant frequency, then by decreasing peak."""

    def compute():
        theta = final_theta(ctx, experiment, alpha, seed)
        spectrum = fourier.neuron_spectrum(theta, "output")[:, : fourier.P_MODADD // 2 + 1]
        order = np.lexsort((-spectrum.max(axis=1), fourier.dominant_frequency(theta, "output")))
        return spectrum[order].astype(np.float32)

    return ctx.cached(("unembedding_spectrum", experiment, alpha, seed), compute)


def neuron_iprs(ctx: Context, experiment: str, alpha: float) -> xr.Dataset:
    """Fourier IPR (Eq. 4, r = 2) of every hidden neuron of the final models of α, seeds pooled, in float32
    (drawn only): "output" (unembedding) and "input" (embedding, a and b mean)."""

    def compute():
        thetas = [final_theta(ctx, experiment, alpha, int(s)) for s in ctx.results(experiment)["seed"].values]
        return xr.Dataset({side: (f"{side}_neuron", np.concatenate([fourier.neuron_ipr(t, side) for t in thetas])
                                  .astype(np.float32)) for side in ("output", "input")})

    return ctx.cached(("neuron_iprs", experiment, alpha), compute)


def ipr_variants(ctx: Context, experiment: str, alpha: float) -> dict[tuple[str, str], list[float]]:
    """Layer-mean unembedding IPR (Eq. 7) of every seed's final model of α under each normalisation
    (fourier.BASES) and neuron set (fourier.NEURON_SETS): {(basis, neurons): [per seed]}."""

    def compute():
        seeds = ctx.results(experiment)["seed"].values
        thetas = [final_theta(ctx, experiment, alpha, int(s)) for s in seeds]
        return {(basis, neurons): [float(fourier.mean_ipr(t, "output", basis=basis, neurons=neurons)) for t in thetas]
                for basis in fourier.BASES for neurons in fourier.NEURON_SETS}

    return ctx.cached(("ipr_variants", experiment, alpha), compute)
