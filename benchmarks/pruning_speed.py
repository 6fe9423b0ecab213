"""Time per pruned model of pruning.evaluate_thetas vs a plain loop over nn.Module forwards, both tasks."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from train_speed import ising_data, modadd_data  # noqa: E402

from grokcore.measures.pruning import evaluate_thetas  # noqa: E402
from grokcore.models import init_theta, model_at  # noqa: E402


def plain_evaluation(task: str, thetas, x, y) -> None:
    """What one would write by hand: load each θ into the network and evaluate the test set."""
    with torch.no_grad():
        for theta in thetas:
            logits = model_at(task, theta)(x)
            F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).double().mean().item()


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32, help="pruned copies evaluated per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'task':8s} {'test rows':>9s} {'plain ms':>9s} {'ours ms':>8s} {'ratio':>6s}")
    for data in (ising_data(0), modadd_data(0)):
        base = init_theta(data.task, torch.Generator().manual_seed(0)).numpy()
        # pruned copies: the base θ with a growing share of its entries zeroed
        keep = np.random.default_rng(0).random((args.models, base.size)) >= np.linspace(0, 1, args.models)[:, None]
        thetas = np.where(keep, base, 0.0).astype(np.float32)
        inputs = (data.task, thetas, data.x_test, data.y_test)
        plain = best_time(functools.partial(plain_evaluation, *inputs), args.repeats)
        ours = best_time(functools.partial(evaluate_thetas, *inputs), args.repeats)
        per_model = 1000 / args.models
        print(f"{data.task:8s} {len(data.y_test):9d} {plain * per_model:9.2f} {ours * per_model:8.2f} "
              f"{plain / ours:6.2f}")
    print(f"ms per pruned model (wall clock, {torch.get_num_threads()} threads, best of {args.repeats})")


if __name__ == "__main__":
    main()
