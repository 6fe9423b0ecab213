"""The reduced reference store of an experiment: what a reader needs to compare their runs, from the figures'
derived data (no θ, no Fisher diagonals).

Per (alpha, seed): the metrics at the checkpoint epochs, the final metrics, grokking times and regimes (Def.
1-2), and what the experiment's figures compute of compressibility c (Eq. 5), the Fourier IPR (Eq. 7), the LLC
(§4.15) and the Ising correlations (Eq. 6); per alpha the transition epochs of the seed-mean curves. Every value
is read through the figures' cached functions, so a reference holds the figures' numbers.

Size at full scale (float32, before compression): Ising 80 runs × 501 checkpoints × 4 metrics ≈ 0.64 MB; the
dynamics grid 20 runs × 551 checkpoints × 5 (metrics and IPR) ≈ 0.22 MB; each other mod-add grid 110 runs × 11
checkpoints × 4 metrics ≈ 19 kB; the per-run measures a few dozen values per run. The reference file also
records the figure pass's derived values (`repro reference`), which are most of its size (README, "Reference
results").
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from grokcore.measures import ising_features
from grokcore.reference_store import SUFFIX, read_reference_attrs
from repro.figures import compression, features, runs
from repro.figures.registry import Context
from repro.grid import git_revision, lock_sha256

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


def reduce_experiment(ctx: Context, experiment: str) -> xr.Dataset:
    """The reference Dataset of `experiment`'s finished store in `ctx` (see the module docstring)."""
    ds = ctx.results(experiment)
    reduced = xr.merge([checkpoint_metrics(ds), runs.final_metrics(ctx, experiment).rename(
        {name: f"final_{name}" for name in METRICS}), run_times(ctx, experiment)])
    for measures in EXTRAS[experiment]:
        reduced = reduced.merge(measures(ctx, experiment))
    floats = {name: reduced[name].astype("float32") for name in reduced.data_vars
              if reduced[name].dtype.kind == "f"}
    return reduced.assign(floats).assign_attrs(reference_attrs(ds))


def checkpoint_metrics(ds: xr.Dataset) -> xr.Dataset:
    """The per-epoch metrics at the checkpoint epochs, (alpha, seed, checkpoint); NaN at checkpoint 0 (before any
    epoch) and where the test set was not evaluated."""
    at = ds[list(METRICS)].reindex(epoch=ds["checkpoint"].values).rename(epoch="checkpoint")
    return at.assign_coords(checkpoint=ds["checkpoint"]).compute()


def run_times(ctx: Context, experiment: str) -> xr.Dataset:
    """Def. 1-2 per run (t_train, t_test, delta, regime; (alpha, seed)) and the transition epochs of the seed-mean
    train and test accuracy per α (the figures' dashed lines; (alpha,))."""
    times = runs.regimes(ctx, experiment)
    alphas = runs.alpha_values(times)
    transitions = np.array([runs.transition_epochs(ctx, experiment, alpha) for alpha in alphas])
    return times.assign(regime=times["regime"].astype(str),
                        transition_train=("alpha", transitions[:, 0]), transition_test=("alpha", transitions[:, 1]))


def ising_correlations(ctx: Context, experiment: str) -> xr.Dataset:
    """Weighted feature correlation ρ̄ (Eq. 6) of every final model, (alpha, seed, layer, feature)."""
    ds = ctx.results(experiment)
    rho = [[[ising_features.weighted_correlation(*by_layer[layer]) for layer in ising_features.LAYERS]
            for _, by_layer in sorted(features.final_correlations(ctx, experiment, alpha).items())]
           for alpha in runs.alpha_values(ds)]
    coords = {"alpha": ds["alpha"], "seed": ds["seed"], "layer": list(ising_features.LAYERS),
              "feature": list(ising_features.FEATURES)}
    return xr.Dataset({"weighted_correlation": (("alpha", "seed", "layer", "feature"), np.array(rho))}, coords)


def compression_summary(ctx: Context, experiment: str) -> xr.Dataset:
    """c, the input and output IPR and the Gini coefficients of every final model (Figs 15-19), (alpha, seed)."""
    return compression.compression_measures(ctx, experiment).drop_vars(["train_loss", "test_loss"])


def ipr_trajectories(ctx: Context, experiment: str) -> xr.Dataset:
    """Mean output IPR along the trajectories of the grokking and learning α (Fig. 8), (alpha, seed, checkpoint);
    NaN for the other α."""
    arch = runs.archetypes(ctx, experiment)
    ipr = features.ipr_dynamics(ctx, experiment, (arch.grok, arch.learn))
    return xr.Dataset({"ipr_output_trajectory": ipr.reindex(alpha=ctx.results(experiment)["alpha"].values)})


def magnitude_compressibility(ctx: Context, experiment: str) -> xr.Dataset:
    """c (Eq. 5) of every final model under per-layer magnitude pruning (Fig. 5), (alpha, seed)."""
    return xr.Dataset({"compressibility": compression.final_compressibility(ctx, experiment)})


def learning_coefficients(ctx: Context, experiment: str) -> xr.Dataset:
    """The LLC λ̂ (§4.15) of every final model (Figs 15, 16, 19), (alpha, seed)."""
    return xr.Dataset({"llc": compression.llc(ctx, experiment)})


# What each paper experiment's figures compute beyond the runs' own measures (c, IPR, LLC, correlations).
EXTRAS = {
    runs.ISING: (magnitude_compressibility, ising_correlations),
    runs.MODADD: (compression_summary, learning_coefficients),
    runs.MODADD_BS200: (compression_summary, learning_coefficients),
    runs.MODADD_WD: (compression_summary, learning_coefficients),
    runs.MODADD_DYNAMICS: (ipr_trajectories,),
}


def reference_attrs(ds: xr.Dataset) -> dict:
    """Where a reference came from: the store's experiment, scale, config and training revision, and the code,
    lock, date and machine that reduced it."""
    return {"experiment": ds.attrs["experiment"], "scale": ds.attrs["scale"], "task": ds.attrs["task"],
            "config": ds.attrs["config"], "store_git_revision": ds.attrs.get("git_revision", "unknown"),
            "kind": "grokcore-reference", **provenance()}


def provenance() -> dict:
    """git revision, lock hash, date and machine line of this process."""
    return {"git_revision": git_revision(), "lock_sha256": lock_sha256(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine_line()}


def machine_line() -> str:
    """One line naming the machine: CPU, cores, GPU if any, system, torch build."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_name()}, {os.cpu_count()} cores, {gpu}, {platform.system()} {platform.release()}, "
            f"torch {torch.__version__}")


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return name or platform.processor() or platform.machine()


# ------------------------------------------------------------------------------- shipping and comparing


FIGURE_OUTPUTS = ("*.png", "*.txt", "table1.md", "claims.md", "claims.json")  # what a reference folder ships


def copy_figures(source: Path, folder: Path) -> list[Path]:
    """Copy a scale's figures (PNG and caption), Table 1 and the claims report from `source` into `folder`."""
    copied = []
    for pattern in FIGURE_OUTPUTS:
        for file in sorted(source.glob(pattern)):
            copied.append(Path(shutil.copy2(file, folder / file.name)))
    return copied


def short_revisions(revisions: str, length: int = 12) -> str:
    """Each git revision of `revisions` ("rev" or "rev1, rev2": a grid merged from parts trained at several)
    shortened to `length` characters."""
    return ", ".join(revision.strip()[:length] for revision in revisions.split(","))


def provenance_text(scale: str, folder: Path, copied: list[Path]) -> str:
    """The provenance file of a reference folder: where this pass's figures came from, and for every reference
    file in `folder` (reduced by this pass or an earlier one) where it was trained and reduced."""
    lines = [f"reference results at scale {scale}, reduced and copied by `repro reference --scale {scale}`",
             "the last pass (figures, Table 1, claims):",
             *(f"{key}: {value}" for key, value in provenance().items()),
             "figures and claims copied: " + ", ".join(sorted(file.name for file in copied))]
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        attrs = read_reference_attrs(path)
        lines.append(f"{path.name}: trained at git {short_revisions(attrs['store_git_revision'])}, reduced at git "
                     f"{attrs['git_revision'][:12]} on {attrs['created']}, {attrs['machine']}")
    return "\n".join(lines) + "\n"


def compare_lines(yours: xr.Dataset, reference: xr.Dataset) -> list[str]:
    """A table of every per-run measure of two reduced stores, per α: mean ± standard deviation over seeds (n:
    seeds where it is defined), regimes as counts; yours next to the reference's, "—" where one lacks it."""
    mine, theirs = seed_summaries(yours), seed_summaries(reference)
    width = max(len(label) for label, _ in [*mine, *theirs, ("measure", 0)])
    lines = [f"{'measure':<{width}}  {'α':>8}  {'yours':<30}  reference"]
    for label, alpha in sorted(set(mine) | set(theirs), key=[*mine, *theirs].index):
        lines.append(f"{label:<{width}}  {alpha:>8g}  {mine.get((label, alpha), '—'):<30}  "
                     f"{theirs.get((label, alpha), '—')}")
    return lines


def seed_summaries(ds: xr.Dataset) -> dict[tuple[str, float], str]:
    """{(measure, α): summary over seeds} of every variable per (alpha, seed[, layer, feature]) or per alpha; the
    per-checkpoint curves are left to plots."""
    rows = {}
    for name, values in ds.data_vars.items():
        if "alpha" not in values.dims or "checkpoint" in values.dims:
            continue
        extra = [d for d in values.dims if d not in ("alpha", "seed")]
        for index in np.ndindex(*(values.sizes[d] for d in extra)):
            part = values.isel(dict(zip(extra, index, strict=True)))
            label = name + "".join(f"[{part[d].item()}]" for d in extra)
            for alpha in part["alpha"].values:
                rows[(label, float(alpha))] = summary(part.sel(alpha=alpha).values)
    return rows


def summary(values: np.ndarray) -> str:
    """mean ± std (n) of the finite values; counts of each label for strings (regimes)."""
    values = np.ravel(values)
    if values.dtype.kind not in "fiu":
        labels, counts = np.unique([str(value) for value in values], return_counts=True)
        return ", ".join(f"{label} {count}" for label, count in zip(labels, counts, strict=True))
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return f"{finite[0]:.4g} (n = 1)" if finite.size else "undefined"
    return f"{finite.mean():.4g} ± {finite.std(ddof=1):.2g} (n = {finite.size})"
