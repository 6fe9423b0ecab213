"""Peak memory of lazy store reductions (grokcore.measures.lazy) against the size of the arrays they read.

Writes a synthetic Ising-layout store (theta and fim_diag, chunked per run and a few checkpoints) of about
--size-mb MB, then, in a fresh process, computes the Fisher/Euclidean step measures, the Gini coefficients
and the final Fisher spectrum and reports the peak resident memory above the post-import baseline.
Usage: .venv/bin/python benchmarks/lazy_memory.py [--size-mb 300] [--checkpoints-per-chunk 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from grokcore.models import n_params

ALPHAS = [0.1, 1.0, 10.0]
SEEDS = list(range(5))


def write_store(path: Path, size_mb: float, per_chunk: int) -> float:
    """A store of theta and fim_diag (alpha, seed, checkpoint, param) float32; returns its raw size in MB."""
    d = n_params("ising")
    checkpoints = max(2, int(size_mb * 2**20 / (2 * 4 * d * len(ALPHAS) * len(SEEDS))))
    shape = (len(ALPHAS), len(SEEDS), checkpoints, d)
    chunks = (1, 1, per_chunk, d)
    rng = da.random.default_rng(0)
    theta = rng.standard_normal(shape, chunks=chunks, dtype=np.float32)
    fim = rng.random(shape, chunks=chunks, dtype=np.float32) ** 4
    coords = {"alpha": ALPHAS, "seed": SEEDS, "checkpoint": np.arange(checkpoints) * 200, "param": np.arange(d)}
    dims = ("alpha", "seed", "checkpoint", "param")
    ds = xr.Dataset({"theta": (dims, theta), "fim_diag": (dims, fim)}, coords=coords, attrs={"task": "ising"})
    ds.to_zarr(path, consolidated=False)
    return 2 * np.prod(shape) * 4 / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(path: Path) -> dict:
    """Run the lazy reductions on the store at `path` and report peak RSS above the baseline (in this process)."""
    from grokcore.measures import lazy

    ds = xr.open_zarr(path, chunks={}, consolidated=False)
    baseline = peak_rss_mb()
    start = time.perf_counter()
    steps = lazy.step_measures(ds).mean("seed").compute(scheduler="threads", num_workers=2)
    lazy.gini_coefficients(ds).compute(scheduler="threads", num_workers=2)
    lazy.fisher_spectrum(ds).compute(scheduler="threads", num_workers=2)
    return {
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "reduction_mb": peak_rss_mb() - baseline,
        "seconds": time.perf_counter() - start,
        "finite_step_values": int(np.isfinite(steps["magnitude"].values).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=300.0)
    parser.add_argument("--checkpoints-per-chunk", type=int, default=20)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.zarr"
        size = write_store(path, args.size_mb, args.checkpoints_per_chunk)
        out = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True,
                             text=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"arrays read: {size:.0f} MB (theta + fim_diag, float32)")
    print(f"peak RSS above baseline during the reductions: {report['reduction_mb']:.0f} MB "
          f"(baseline {report['baseline_rss_mb']:.0f} MB, peak {report['peak_rss_mb']:.0f} MB), "
          f"{report['seconds']:.1f} s")
    print(f"ratio: {report['reduction_mb'] / size:.2f} of the array size")


if __name__ == "__main__":
    main()
