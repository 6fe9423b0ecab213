"""Peak memory of a full-scale figure pass (Figs 1-34, Table 1, claims) over stores of the full grid's shape.

Full-scale training takes hours, so the stores are built from finished quick-scale runs stretched onto the
full grid: each full cell (α, seed) copies the quick cell of the nearest α (on a log scale) and of seed
`seed mod n_quick_seeds`, and full epoch e reads quick epoch ⌊e·E_quick/E_full⌋ (metrics) or the nearest
quick checkpoint (θ and the Fisher diagonal). Memory depends on the arrays' shapes and chunks, which are the
full ones; the numbers drawn are NOT full-scale results, and the figures go to a temporary folder.
SGLD chains are shortened to --llc-steps (a chain's memory does not depend on its length).

With --workers N the pass is drawn a second time with its expensive derived data (pruning curves, Fisher
pruning, LLC chains, trajectory compressibility and correlations) as tasks on a LocalCluster of N workers, and
the two wall times are printed as a ratio under the machine line of full_cost.py (the peak RSS is then the
client's alone). --source-scale tiny --scale quick stretches tiny runs onto the quick grid, a few minutes' check.

Usage: .venv/bin/python benchmarks/figure_memory.py [--work DIR] [--llc-steps 200] [--figures fig06,fig08]
       [--workers 2] [--source-scale quick --scale full]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from grokcore import store as st
from repro.config import Experiment, load_experiment
from repro.figures.registry import REGISTRY, Context
from repro.grid import ensure_store, prepare_data

EXPERIMENTS = ("ising-main", "modadd-main", "modadd-dynamics", "modadd-bs200", "modadd-wd")
LIMIT_MB = 4096  # the bound on a full-scale figure pass


def nearest_index(values, targets, log: bool = False) -> np.ndarray:
    """Index into `values` (sorted) of the element nearest each target: (target,) -> (target,) int."""
    values, targets = np.asarray(values, dtype=float), np.asarray(targets, dtype=float)
    if log:
        values, targets = np.log(values), np.log(targets)
    return np.abs(values[None, :] - targets[:, None]).argmin(axis=1)


def stretch_store(target: Experiment, source_dir: str, results_dir: str | Path, data_dir: str,
                  source_scale: str = "quick") -> str:
    """Write results_dir/<experiment>-<scale>.zarr of `target`'s grid from the finished store of source_scale;
    returns its path."""
    experiment, scale = target.name, target.scale
    source_path = st.default_store_path(experiment, source_scale, source_dir)
    if not st.store_exists(source_path) or not (
            st.cell_status(source_path) == st.read_attrs(source_path)["config"]["epochs"]).all():
        raise SystemExit(f"{source_path} is missing or unfinished: run `repro run {experiment} "
                         f"--scale {source_scale}`")
    path = st.default_store_path(experiment, scale, results_dir)
    ensure_store(target, path, prepare_data(target, data_dir, progress=False))
    src = zarr.open_group(source_path, mode="r")
    stretch = src["epoch"].shape[0] / target.epochs
    epochs = np.floor(np.arange(target.epochs) * stretch).astype(int)
    checkpoints = nearest_index(src["checkpoint"][...], np.asarray(target.checkpoint_epochs) * stretch)
    alphas = nearest_index(src["alpha"][...], target.weight_multipliers, log=True)
    seeds = np.arange(len(target.seeds)) % src["seed"].shape[0]
    # every per-cell array (resume state and times too), so that the stores' integrity check finds no chunk missing
    along = {name: (tuple(array.metadata.dimension_names) + (None,))[2] for name, array in src.arrays()
             if tuple(array.metadata.dimension_names or ())[:2] == ("alpha", "seed") and name != "done_epoch"}
    index = {"epoch": epochs, "checkpoint": checkpoints}
    # a chunk equal to the fill value (diverged_epoch -1) must be written too, as the training engine does
    with zarr.config.set({"array.write_empty_chunks": True}):
        dst = zarr.open_group(path, mode="r+")
        for a, s in np.ndindex(src["done_epoch"].shape):  # each source cell is read once, written many times
            cells = [(i, j) for i in np.flatnonzero(alphas == a) for j in np.flatnonzero(seeds == s)]
            if not cells:
                continue
            arrays = {name: np.asarray(src[name][a, s])[index.get(dim, ...)] for name, dim in along.items()}
            for i, j in cells:
                for name, values in arrays.items():
                    dst[name][i, j] = values
                dst["done_epoch"][i, j] = target.epochs
    st.consolidate(path)
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(results_dir: Path, data_dir: str, out_dir: Path, names: list[str] | None, llc_steps: int,
            scale: str = "full", workers: int = 0) -> None:
    """Render in this process (its expensive derived data as tasks on a LocalCluster of `workers` if > 0),
    printing each figure's seconds and the peak RSS so far as JSON lines."""
    from repro.cluster import connected
    from repro.figures import compression

    compression.LLC_STEPS[scale] = llc_steps
    if not workers:
        render_timed(Context(scale, results_dir=str(results_dir), data_dir=data_dir), out_dir, names)
        return
    with connected(n_workers=workers, dashboard_address=None) as client:
        render_timed(Context(scale, results_dir=str(results_dir), data_dir=data_dir, client=lambda: client),
                     out_dir, names)


def render_timed(ctx: Context, out_dir: Path, names: list[str] | None) -> None:
    """Render `names` (default: all, table1 and the claims) one by one, a JSON line each (seconds, peak RSS)."""
    from repro.figures import claims
    from repro.figures.pipeline import render_all

    def report(name: str, start: float) -> None:
        print(json.dumps({"name": name, "seconds": round(time.perf_counter() - start, 1),
                          "peak_rss_mb": round(peak_rss_mb())}), flush=True)

    report("baseline", time.perf_counter())
    for name in names or [*sorted(REGISTRY), "table1"]:
        start = time.perf_counter()
        render_all(ctx, [name], str(out_dir), echo=lambda _: None)
        report(name, start)
    if not names:
        start = time.perf_counter()
        claims.write_report(ctx, str(out_dir))
        report("claims", start)


def run_pass(work: Path, args, workers: int = 0) -> float:
    """Draw the figure pass in a child process, printing each figure; returns its total seconds."""
    command = [sys.executable, __file__, "--measure", "--work", str(work), "--data", args.data, "--llc-steps",
               str(args.llc_steps), "--scale", args.scale, "--workers", str(workers)]
    rows = []
    with subprocess.Popen(command + (["--figures", args.figures] if args.figures else []), stdout=subprocess.PIPE,
                          text=True) as child:
        for line in child.stdout:
            rows.append(json.loads(line))
            print(f"  {rows[-1]['name']:>8}: {rows[-1]['seconds']:7.1f} s, peak RSS {rows[-1]['peak_rss_mb']} MB",
                  flush=True)
    if child.returncode:
        raise SystemExit(f"the figure pass failed with exit code {child.returncode}")
    peak = max(row["peak_rss_mb"] for row in rows)
    total = sum(row["seconds"] for row in rows)
    where = f"derived data on {workers} Dask workers" if workers else "in one process"
    print(f"peak RSS of the figure pass ({where}): {peak} MB ({peak / LIMIT_MB:.2f} of the {LIMIT_MB} MB bound), "
          f"{total / 60:.1f} min, LLC chains of {args.llc_steps} steps", flush=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the stretched stores (default: a temporary one)")
    parser.add_argument("--source", default=st.RESULTS_DIR, help="folder of the finished source stores")
    parser.add_argument("--source-scale", default="quick", help="scale of the source stores (default quick)")
    parser.add_argument("--scale", default="full", help="grid the stores are stretched onto (default full)")
    parser.add_argument("--data", default="data", help="folder of the Ising data stores")
    parser.add_argument("--llc-steps", type=int, default=200)
    parser.add_argument("--figures", help="comma-separated subset (default: all, table1 and the claims)")
    parser.add_argument("--workers", type=int, default=0, help="also time the pass on N Dask workers")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.figures.split(",") if args.figures else None
    if args.measure:
        measure(args.work / "results", args.data, args.work / "figures", names, args.llc_steps, args.scale,
                args.workers)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="figure-memory-"))
    try:
        for experiment in EXPERIMENTS:
            if not st.store_exists(st.default_store_path(experiment, args.scale, work / "results")):
                start = time.perf_counter()
                path = stretch_store(load_experiment(experiment, args.scale), args.source, work / "results",
                                     args.data, args.source_scale)
                size = 2 * zarr.open_group(path, mode="r")["theta"].nbytes / 1e9
                seconds = time.perf_counter() - start
                print(f"{experiment}: {args.scale}-shape store, {size:.1f} GB raw θ + Fisher, {seconds:.0f} s",
                      flush=True)
        alone = run_pass(work, args)
        if args.workers:
            from full_cost import machine_reference

            spread = run_pass(work, args, args.workers)
            print(machine_reference())
            print(f"figure pass: {alone / 60:.1f} min in one process, {spread / 60:.1f} min with its derived data "
                  f"on {args.workers} Dask workers: {alone / spread:.2f}×", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
