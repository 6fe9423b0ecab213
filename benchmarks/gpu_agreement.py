"""Does training on a GPU give the CPU's numbers? Tiny grids through the real engine on both, compared.

Each experiment's tiny grid is trained into stores three times, each α group of all seeds one ensemble (as a GPU
run would): on one CPU worker, and twice on one GPU worker. Printed per experiment: the largest difference
of θ, of the Fisher diagonals (relative to their largest value) and of the metrics between the CPU and the GPU
(float round-off, amplified by training, is expected), and whether the two GPU runs are identical bit for bit.

Usage: .venv/bin/python benchmarks/gpu_agreement.py [--experiments ising-main,modadd-main] [--data-dir data]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from full_cost import machine_reference  # noqa: E402
from train_speed import require_cuda  # noqa: E402

from grokcore.store import open_results  # noqa: E402
from repro.cluster import connected  # noqa: E402
from repro.config import Experiment, load_experiment  # noqa: E402
from repro.grid import run_experiment  # noqa: E402

COMPARED = ("theta", "fim_diag", "train_loss", "test_acc")


def trained(exp: Experiment, directory: str, name: str, data_dir: str) -> dict[str, np.ndarray]:
    """The stored arrays COMPARED of `exp` trained into a fresh store on a one-worker cluster of its device."""
    gpus = 1 if exp.device == "cuda" else 0
    with connected(n_workers=1, dashboard_address=None, gpus=gpus) as client:
        path = run_experiment(exp, f"{directory}/{name}.zarr", client=client, data_dir=data_dir, progress=False,
                              echo=lambda *_: None)
    ds = open_results(path)
    return {key: ds[key].values for key in COMPARED if key in ds}


def largest_difference(a: np.ndarray, b: np.ndarray, relative: bool = False) -> float:
    """max |a − b| over the entries finite in both (relative: over max |a|)."""
    both = np.isfinite(a) & np.isfinite(b)
    diff = float(np.abs(a[both] - b[both]).max(initial=0.0))
    return diff / max(float(np.abs(a[both]).max(initial=0.0)), 1e-30) if relative else diff


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="ising-main,modadd-main", help="comma-separated")
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(argv)
    require_cuda("cuda")
    print(machine_reference())
    for name in (n.strip() for n in args.experiments.split(",") if n.strip()):
        exp = load_experiment(name, args.scale)
        # Both devices train each α group of all seeds as one ensemble, so that only the device differs.
        cpu = dataclasses.replace(exp, seed_group_size=len(exp.seeds))
        gpu = dataclasses.replace(cpu, device="cuda")
        with tempfile.TemporaryDirectory() as tmp:
            cpu_run = trained(cpu, tmp, "cpu", args.data_dir)
            gpu_runs = [trained(gpu, tmp, f"gpu{k}", args.data_dir) for k in range(2)]
        diffs = [f"{key} {largest_difference(cpu_run[key], gpu_runs[0][key], relative=key == 'fim_diag'):.2e}"
                 for key in cpu_run]
        same = all(np.array_equal(gpu_runs[0][key], gpu_runs[1][key], equal_nan=True) for key in cpu_run)
        print(f"{name} ({args.scale}): CPU vs GPU largest difference: {', '.join(diffs)} (fim_diag relative to its "
              f"largest value); two GPU runs {'identical' if same else 'DIFFER'} bit for bit")


if __name__ == "__main__":
    main()
