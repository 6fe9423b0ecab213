"""Mod-add epochs with denormal floats kept vs flushed to zero (grokcore.numerics.flush_denormals), one thread.

The learning and grokking archetypes (α = 0.1 and 10) train as one ensemble with the paper's settings. After
`--warm-in` epochs (denormals appear within about ten), the next `--epochs` are timed with each setting, from
the same state, and printed as CPU ms per model-epoch and their ratio, under full_cost.py's machine line.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from unittest import mock

import torch
from full_cost import machine_reference
from train_speed import SETTINGS, modadd_data

from grokcore.seeds import RunSeeds
from grokcore.train import EnsembleTrainer, TrainConfig

ALPHAS = (0.1, 10.0)


def timed_epochs(trainer: EnsembleTrainer, epochs: int, flush: bool) -> float:
    """CPU seconds per model-epoch of `epochs` more epochs of a copy of `trainer`."""
    trainer = copy.deepcopy(trainer)
    # the trainer always flushes: to keep denormals, its setting is replaced by one that does nothing
    kept = mock.patch("grokcore.train.flush_denormals", contextlib.nullcontext)
    setting = contextlib.nullcontext() if flush else kept
    with setting:
        start = time.process_time()
        trainer.train_until(trainer.epoch + epochs)
    return (time.process_time() - start) / (epochs * trainer.n_models)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm-in", type=int, default=15, help="epochs trained before timing")
    parser.add_argument("--epochs", type=int, default=10, help="epochs timed with each setting")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TrainConfig(task="modadd", epochs=args.warm_in + args.epochs, **SETTINGS["modadd"])
    trainer = EnsembleTrainer(modadd_data(0), list(ALPHAS), RunSeeds.from_seed(0), cfg)
    trainer.train_until(args.warm_in)
    kept, flushed = (timed_epochs(trainer, args.epochs, flush) for flush in (False, True))
    print(machine_reference())
    print(f"mod-add α = {ALPHAS}, epochs {args.warm_in + 1}-{args.warm_in + args.epochs}: denormals kept "
          f"{1e3 * kept:.0f} ms, flushed {1e3 * flushed:.0f} ms per model-epoch (CPU); ratio {kept / flushed:.2f}")


if __name__ == "__main__":
    main()
