"""Wall time of a small α × seed grid through the engine (Dask, ensembles, Zarr writes) against the same grid
trained one model at a time in a plain PyTorch loop in this process; prints the ratio."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_speed import plain_grid  # noqa: E402

from grokcore.seeds import RunSeeds  # noqa: E402
from repro.cluster import connected  # noqa: E402
from repro.config import experiment_from_dict  # noqa: E402
from repro.grid import prepare_data, run_experiment, task_data, train_config  # noqa: E402


def small_grid(task: str, n_alphas: int, n_seeds: int, epochs: int):
    """A grid like the paper's (same hyperparameters), without Fisher diagonals, which the plain loop lacks."""
    raw = {"task": task, "weight_multipliers": [round(0.5 * 2 ** (i / 2), 3) for i in range(n_alphas)],
           "seeds": list(range(n_seeds)), "checkpoints": [[0, epochs, max(1, epochs // 5)]],
           "fisher": {"enabled": False},
           "train": {"epochs": epochs, "lr": 1e-4 if task == "ising" else 5e-3,
                     "weight_decay": 0.1 if task == "ising" else 3e-5, "batch_size": 300 if task == "ising" else 64,
                     "eval_every": 1}}
    if task == "ising":
        raw["data"] = {"temperatures": [1.0, 3.5, 10], "n_per_temperature": 130, "n_updates": 100_000}
    return experiment_from_dict(raw, name=f"bench-{task}", scale="bench")


def time_plain(exp, data_dir: str) -> float:
    torch.set_num_threads(1)
    ref = prepare_data(exp, data_dir, progress=False)
    start = time.perf_counter()
    for seed in exp.seeds:
        plain_grid(task_data(exp, ref, seed), exp.weight_multipliers, RunSeeds.from_seed(seed), train_config(exp))
    return time.perf_counter() - start


def time_engine(exp, data_dir: str, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, connected(n_workers=workers, dashboard_address=None) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter()
        run_experiment(exp, f"{tmp}/grid.zarr", client=client, data_dir=data_dir, progress=False,
                       echo=lambda *_: None)
        elapsed = time.perf_counter() - start
    return elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="engine worker processes (default 2)")
    parser.add_argument("--ising-epochs", type=int, default=300)
    parser.add_argument("--modadd-epochs", type=int, default=10)
    parser.add_argument("--alphas", type=int, default=4, help="α values per grid")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per grid")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        print(f"{'grid':32s} {'plain loop':>11s} {'engine':>9s} {'ratio':>7s}")
        for task, epochs in (("ising", args.ising_epochs), ("modadd", args.modadd_epochs)):
            exp = small_grid(task, args.alphas, args.seeds, epochs)
            plain = time_plain(exp, data_dir)
            engine = time_engine(exp, data_dir, args.workers)
            label = f"{task}: {args.alphas} α × {args.seeds} seeds × {epochs} ep"
            print(f"{label:32s} {plain:10.1f}s {engine:8.1f}s {plain / engine:6.2f}×")


if __name__ == "__main__":
    main()
