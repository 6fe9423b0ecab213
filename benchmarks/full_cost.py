"""Extrapolated wall time of the whole paper at full scale on this machine, training and figure pass, each part
against the plain one-model-at-a-time loop measured in the same run, with a machine reference line.

Training: every full grid (all its α × seed cells, its Fisher diagonals and resume state) runs through the real
engine on a LocalCluster for three short slices: E epochs (checkpoints at 0 and E), 2E epochs (0 and 2E), and 2E
epochs with a checkpoint every max(1, E/10) epochs. The first two differ by E epochs of the whole grid, the last
two by a known number of checkpoints, so that

    full = T(E) + (epochs − E)·t_epoch + (checkpoints − 2)·t_checkpoint.

The plain loop (benchmarks/train_speed.plain_training, one model, no Fisher and no stores) is timed on the same
data for a few epochs and multiplied out to the grid's model-epochs shared by the same number of workers.

Figure pass: one unit of each expensive component (a pruned model evaluated on its test set, one SGLD step of
one chain, one Fourier IPR, one set of Ising layer correlations) is timed on full-shape data and multiplied by
the number of units in a full-scale figure pass (UNITS, counted from repro/figures), and shared by the workers
(`worker_share`): `repro figures` runs these components, but for the Fourier IPRs, as Dask tasks, one per seed, on
the cluster that trained. The cheap rest (reading stores, curves, drawing) is not included;
benchmarks/figure_memory.py times a whole pass.

With --device cuda the grids train on one GPU worker, each α group of all seeds one ensemble (the Fisher diagonals
computed there too), against the plain loop on the same GPU; the figure pass's components are left out (they are
timed on the CPU).

Usage: .venv/bin/python benchmarks/full_cost.py [--workers 2] [--ising-epochs 100] [--modadd-epochs 1]
       [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from pruning_speed import best_time, plain_evaluation  # noqa: E402
from train_speed import modadd_data, plain_training, require_cuda  # noqa: E402

from grokcore.measures import fourier, ising_features, llc, pruning  # noqa: E402
from grokcore.models import init_theta, model_at  # noqa: E402
from grokcore.seeds import RunSeeds  # noqa: E402
from repro.cluster import connected  # noqa: E402
from repro.config import Experiment, load_experiment  # noqa: E402
from repro.grid import prepare_data, run_experiment, task_data, train_config  # noqa: E402
from repro.reference import cpu_name  # noqa: E402

EXPERIMENTS = ("ising-main", "modadd-main", "modadd-wd", "modadd-bs200", "modadd-dynamics")
LLC_STEPS = 10_000  # repro.figures.compression.LLC_STEPS["full"]
LLC_MODELS = 11  # the chains of one seed of a mod-add grid, stacked
SEEDS_PER_GRID = 10  # figure-pass tasks per quantity and grid: one per seed
# Units of each figure-pass component at full scale (repro/figures at this commit):
# - pruned-model evaluations: magnitude-pruning curves of 101 fractions of the final models (Ising: per-layer,
#   global, rescaled global and 4 single layers, 80 models; mod-add main: 3 schemes and 2 layers, batch 200 and
#   ten-fold weight decay: per-layer, 110 models each), Fisher-pruning curves of 101 counts (whole model and per
#   tensor: Ising 1 + 8, mod-add main 1 + 4) and trajectory compressibility (21 fractions at 30 checkpoints of
#   2 α × 10 seeds, Ising main and mod-add dynamics);
# - SGLD steps: one LLC chain of 10,000 steps per final model of the three 110-model mod-add grids;
# - Fourier IPRs: both sides of the final mod-add models of those grids, and every one of the 551 checkpoints of
#   the 20 dynamics runs;
# - Ising layer correlations: 150 checkpoints of 2 α × 10 seeds, and the final models.
UNITS = {
    ("ising", "pruned-model evaluations"): (80 * 7 + 80 * 9) * 101 + 2 * 10 * 30 * 21,
    ("modadd", "pruned-model evaluations"): (110 * 5 + 110 + 110 + 110 * 5) * 101 + 2 * 10 * 30 * 21,
    ("modadd", "SGLD steps"): 3 * 110 * LLC_STEPS,
    ("modadd", "Fourier IPRs"): 3 * 110 * 2 + 20 * 551,
    ("ising", "layer correlations"): 2 * 10 * 150 + 80,
}


def worker_share(workers: int) -> float:
    """The part of a figure-pass component's one-process time that `workers` workers take: `repro figures` runs
    its pruning curves, LLC chains and Ising correlations as Dask tasks, one per seed, a grid's ten at a time
    (Context.map), so the busiest worker does ⌈10 / workers⌉ of them. The Fourier IPRs run in the process."""
    return math.ceil(SEEDS_PER_GRID / workers) / SEEDS_PER_GRID


def machine_reference() -> str:
    """One line to compare runs across days: date, CPU, cores, load, single-thread float32 matmul GFLOP/s, and
    the GPU if there is one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = best_time(lambda: a @ b, 5)
    torch.set_num_threads(threads)
    return (f"machine: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {cpu_name()}, "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, single-thread matmul "
            f"{2 * 1024 ** 3 / best / 1e9:.0f} GFLOP/s"
            + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))


def sliced(exp: Experiment, epochs: int, every: int) -> Experiment:
    """The full grid `exp` trained for `epochs` epochs with a checkpoint every `every` epochs."""
    return dataclasses.replace(exp, scale="bench", epochs=epochs, checkpoint_segments=((0, epochs, every),))


def extrapolate(full: Experiment, slice_epochs: int, t_slice: float, t_epoch: float, t_checkpoint: float) -> float:
    """Seconds of the whole grid: the E-epoch slice (2 checkpoints) plus the remaining epochs and checkpoints."""
    return (t_slice + (full.epochs - slice_epochs) * t_epoch
            + (len(full.checkpoint_epochs) - 2) * t_checkpoint)


def engine_seconds(exp: Experiment, client, data_dir: str) -> float:
    """Wall time of the engine training the whole grid `exp` into a fresh store (data already prepared)."""
    with tempfile.TemporaryDirectory() as tmp:
        return best_time(lambda: run_experiment(exp, f"{tmp}/grid.zarr", client=client, data_dir=data_dir,
                                                progress=False, echo=lambda *_: None), 1)


def training_cost(full: Experiment, epochs: int, client, data_dir: str) -> tuple[float, float, float]:
    """(s per grid epoch, s per grid checkpoint, extrapolated s of the whole grid) from three engine slices."""
    every = max(1, epochs // 10)
    dense = sliced(full, 2 * epochs, every)
    t1 = engine_seconds(sliced(full, epochs, epochs), client, data_dir)
    t2 = engine_seconds(sliced(full, 2 * epochs, 2 * epochs), client, data_dir)
    t3 = engine_seconds(dense, client, data_dir)
    if t2 <= t1 or t3 <= t2:
        print(f"  note: {full.name}: slice times {t1:.1f}, {t2:.1f}, {t3:.1f} s do not grow; a busy machine? "
              "rerun with longer slices")
    # Differences of noisy wall times: a negative one means "too small to see" at this slice length.
    t_epoch = max(t2 - t1, 0.0) / epochs
    t_checkpoint = max(t3 - t2, 0.0) / (len(dense.checkpoint_epochs) - 2)
    return t_epoch, t_checkpoint, extrapolate(full, epochs, t1, t_epoch, t_checkpoint)


def plain_training_cost(full: Experiment, data_dir: str, epochs: int, workers: int) -> float:
    """Extrapolated s of the whole grid trained by the plain loop, one model at a time on each of `workers`."""
    data = task_data(full, prepare_data(full, data_dir, progress=False), full.seeds[0])
    cfg = dataclasses.replace(train_config(full), epochs=epochs)
    alpha = float(np.median(full.weight_multipliers))
    plain_training(data, alpha, RunSeeds.from_seed(full.seeds[0]), dataclasses.replace(cfg, epochs=1))  # warm-up
    per_model_epoch = best_time(lambda: plain_training(data, alpha, RunSeeds.from_seed(full.seeds[0]), cfg), 1) / epochs
    n_models = len(full.weight_multipliers) * len(full.seeds)
    return per_model_epoch * n_models * full.epochs / workers


def _pruning_unit(task: str, x, y) -> tuple[float, float]:
    """s per pruned-model evaluation: a 101-point magnitude-pruning curve, and the plain loop on as many θ."""
    theta = init_theta(task, torch.Generator().manual_seed(0)).numpy()
    fractions = np.linspace(0, 1, 101)
    # best of 2: a first call in this process also loads the compiled kernels
    ours = best_time(lambda: pruning.pruning_curve(task, theta, x, y, fractions), repeats=2)
    plain = best_time(lambda: plain_evaluation(task, np.repeat(theta[None], fractions.size, 0), x, y), repeats=2)
    return ours / fractions.size, plain / fractions.size


def _sgld_unit(thetas: torch.Tensor, x, y, steps: int) -> tuple[float, float]:
    """s per SGLD step of one mod-add chain: the chains of `thetas` (model, param) stacked, and one at a time."""
    options = {"x": x, "y": y, "epsilon": 1e-5, "gamma": 1000.0}

    def plain(n_steps):
        for theta in thetas:
            llc.local_learning_coefficient(model_at("modadd", theta), n_steps=n_steps, **options)

    def stacked(n_steps):
        llc.local_learning_coefficients("modadd", thetas, n_steps=n_steps, **options)

    # The difference of two chain lengths leaves out the full-data loss at w*, computed once per chain; best of 2,
    # since a first call in this process also loads the compiled kernels.
    return tuple((best_time(lambda f=f: f(2 * steps), 2) - best_time(lambda f=f: f(steps), 2))
                 / (steps * len(thetas)) for f in (stacked, plain))


def _correlations_unit(x) -> float:
    """s per set of Ising layer correlations (pre-activations of the three layers, ρ and weights) on x."""
    theta = init_theta("ising", torch.Generator().manual_seed(0)).numpy()
    features = np.random.default_rng(0).normal(size=(len(x), 3))

    def correlations():
        for a in ising_features.pre_activations(theta, x).values():
            ising_features.feature_correlations(a, features), ising_features.activation_weights(a)

    return best_time(correlations, 3)


def figure_components(llc_steps: int) -> list[tuple[str, str, float, float | None]]:
    """(task, component, s per unit, s per unit of the plain loop or None) on full-shape data, one thread."""
    gen = torch.Generator().manual_seed(0)
    x_ising = torch.randint(0, 2, (1000, 1, 16, 16), generator=gen).float() * 2 - 1
    y_ising = torch.randint(0, 2, (1000,), generator=gen)
    mod = modadd_data(0, n_train=8938)
    thetas = torch.stack([init_theta("modadd", torch.Generator().manual_seed(i)) for i in range(LLC_MODELS)])
    ipr = best_time(lambda: [fourier.mean_ipr(t, "output") for t in thetas.numpy()], 1) / len(thetas)
    return [("ising", "pruned-model evaluations", *_pruning_unit("ising", x_ising, y_ising)),
            ("modadd", "pruned-model evaluations", *_pruning_unit("modadd", mod.x_test, mod.y_test)),
            ("modadd", "SGLD steps", *_sgld_unit(thetas, mod.x_train, mod.y_train, llc_steps)),
            ("modadd", "Fourier IPRs", ipr, None),
            ("ising", "layer correlations", _correlations_unit(x_ising), None)]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:6.2f} h"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="engine worker processes (default 2)")
    parser.add_argument("--ising-epochs", type=int, default=100, help="Ising slice E (epochs)")
    parser.add_argument("--modadd-epochs", type=int, default=1, help="mod-add slice E (epochs)")
    parser.add_argument("--plain-ising-epochs", type=int, default=20)
    parser.add_argument("--llc-steps", type=int, default=10, help="SGLD steps timed per chain (and twice as many)")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS), help="comma-separated subset")
    parser.add_argument("--data-dir", default="data", help="Ising data folder (full data generated once, ~1 min)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: train on one GPU, each α group of all seeds one ensemble; no figure pass")
    args = parser.parse_args(argv)
    require_cuda(args.device)
    sys.stdout.reconfigure(line_buffering=True)  # each line as it is measured, also into a file
    torch.set_num_threads(1)
    print(machine_reference())
    names = [n.strip() for n in args.experiments.split(",") if n.strip()]
    fulls = [load_experiment(name, "full") for name in names]
    gpus = 1 if args.device == "cuda" else 0
    if gpus:
        args.workers = 1
        fulls = [dataclasses.replace(full, device="cuda", seed_group_size=len(full.seeds)) for full in fulls]
    for full in fulls:
        prepare_data(full, args.data_dir, progress=False)
    print(f"{'training (full scale)':24s} {'s/epoch':>8s} {'s/ckpt':>7s} {'engine':>9s} {'plain loop':>10s} "
          f"{'ratio':>6s}")
    total = plain_total = 0.0
    with connected(n_workers=args.workers, dashboard_address=None, gpus=gpus) as client:
        client.wait_for_workers(args.workers)
        for full in fulls:
            epochs = args.ising_epochs if full.task == "ising" else args.modadd_epochs
            t_epoch, t_ckpt, engine = training_cost(full, epochs, client, args.data_dir)
            plain = plain_training_cost(full, args.data_dir, args.plain_ising_epochs if full.task == "ising" else 1,
                                        args.workers)
            total, plain_total = total + engine, plain_total + plain
            print(f"{full.name:24s} {t_epoch:8.3f} {t_ckpt:7.2f} {_hours(engine)} {_hours(plain):>10s} "
                  f"{plain / engine:5.2f}×")
    print(f"{'training total':24s} {'':8s} {'':7s} {_hours(total)} {_hours(plain_total):>10s} "
          f"{plain_total / total:5.2f}×")
    if gpus:
        print("figure pass: its components are timed on the CPU, with --device cpu")
        return
    print(f"\n{'figure pass (full scale)':36s} {'units':>9s} {'ms/unit':>8s} {'time':>9s} {'plain':>9s} {'ratio':>6s}")
    one_process = figure_plain_one = 0.0
    figure_total = figure_plain = 0.0
    for task, name, ours, plain in figure_components(args.llc_steps):
        units = UNITS[(task, name)]
        plain = ours if plain is None else plain
        one_process, figure_plain_one = one_process + ours * units, figure_plain_one + plain * units
        share = 1.0 if name == "Fourier IPRs" else worker_share(args.workers)
        figure_total, figure_plain = figure_total + ours * units * share, figure_plain + plain * units * share
        print(f"{task + ' ' + name:36s} {units:9d} {1e3 * ours:8.3f} {_hours(ours * units)} {_hours(plain * units)} "
              f"{plain / ours:5.2f}×")
    print(f"{'figure pass total, one process':36s} {'':9s} {'':8s} {_hours(one_process)} {_hours(figure_plain_one)} "
          f"{figure_plain_one / one_process:5.2f}×")
    print(f"{f'figure pass total, {args.workers} workers':36s} {'':9s} {'':8s} {_hours(figure_total)} "
          f"{_hours(figure_plain)} {figure_plain / figure_total:5.2f}×")
    print(f"\nwhole paper at full scale on {args.workers} workers: {_hours(total + figure_total)} "
          f"(plain loops: {_hours(plain_total + figure_plain).strip()})")


if __name__ == "__main__":
    main()
