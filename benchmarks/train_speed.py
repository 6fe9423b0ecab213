"""Per-model epoch time of the ensemble trainer vs a plain one-model-at-a-time PyTorch loop, single thread (or
on a GPU with --device cuda, wall clock)."""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch.nn import functional as F

from grokcore.models import P_MODADD, flat_params, model_at, scaled_init
from grokcore.numerics import deterministic_cuda
from grokcore.seeds import RunSeeds
from grokcore.train import METRICS, EnsembleTrainer, TrainConfig

# The paper's settings (spec §3.1).
SETTINGS = {
    "ising": {"lr": 1e-4, "weight_decay": 0.1, "batch_size": None},
    "modadd": {"lr": 5e-3, "weight_decay": 3e-5, "batch_size": 64},
}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def ising_data(seed: int, n_train: int = 300, n_test: int = 1000) -> SimpleNamespace:
    """Random ±1 snapshots with random labels, shaped like the Ising task (the speed does not depend on them)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n_train + n_test, 1, 16, 16), generator=gen).float() * 2 - 1
    y = torch.randint(0, 2, (n_train + n_test,), generator=gen)
    return SimpleNamespace(task="ising", x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:],
                           y_test=y[n_train:])


def modadd_data(seed: int, n_train: int = 8939) -> SimpleNamespace:
    """All 113² two-hot pairs (a, b) → (a+b) mod 113, split at random into n_train training rows and the rest."""
    a, b = torch.cartesian_prod(torch.arange(P_MODADD), torch.arange(P_MODADD)).T
    x = torch.cat([F.one_hot(a, P_MODADD), F.one_hot(b, P_MODADD)], dim=1).float()
    y = (a + b) % P_MODADD
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, test = order[:n_train], order[n_train:]
    return SimpleNamespace(task="modadd", x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])


def plain_training(data, alpha: float, seeds: RunSeeds, cfg: TrainConfig) -> tuple[np.ndarray, dict]:
    """The reference: one model, a standard nn.Module + torch.optim.Adam loop with the trainer's batches and
    metric definitions (pre-step train loss/accuracy, whole-test-set evaluation at the trainer's cadence).
    tests/test_train.py checks that the ensemble trainer reproduces it.

    Returns θ after training (param,) and the metrics, each (epoch,).
    """
    device = torch.device(cfg.device)
    if device.type == "cuda":
        deterministic_cuda()  # the ensemble trainer's convolution settings, so both loops time the same kernels
    model = model_at(cfg.task, scaled_init(cfg.task, alpha, seeds.torch("init"))).to(device)
    data = SimpleNamespace(**{name: getattr(data, name).to(device) for name in ("x_train", "y_train", "x_test",
                                                                               "y_test")})
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch_gen = seeds.torch("batch")
    n, size = len(data.y_train), cfg.batch_size or len(data.y_train)
    metrics = {name: np.full(cfg.epochs, np.nan) for name in METRICS}
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=batch_gen) if cfg.shuffle and size < n else torch.arange(n)
        losses, correct = [], 0
        for start in range(0, n, size):
            index = order[start : start + size].to(device)
            x, y = data.x_train[index], data.y_train[index]
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += (logits.argmax(dim=1) == y).sum().item()
        metrics["train_loss"][epoch], metrics["train_acc"][epoch] = np.mean(losses), correct / n
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            with torch.no_grad():
                logits = model(data.x_test)
            metrics["test_loss"][epoch] = F.cross_entropy(logits, data.y_test).item()
            metrics["test_acc"][epoch] = (logits.argmax(dim=1) == data.y_test).double().mean().item()
    return flat_params(model).cpu().numpy(), metrics


def require_cuda(device: str) -> None:
    """Stop with one line if `device` is cuda and torch sees no CUDA device."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("this needs a GPU, and torch sees no CUDA device here")


def plain_grid(data, alphas, seeds: RunSeeds, cfg: TrainConfig) -> None:
    """Each α alone with `plain_training`, one after the other."""
    for alpha in alphas:
        plain_training(data, alpha, seeds, cfg)


def ensemble_training(datas, alphas, seeds: list[RunSeeds], cfg: TrainConfig) -> None:
    """All models of every seed at once with the ensemble trainer (one seed: datas and seeds of length 1)."""
    trainer = EnsembleTrainer(datas, alphas, seeds, cfg)
    trainer.train_until(cfg.epochs)
    trainer.diverged_epoch()  # waits for a GPU to finish


def compare(task: str, n_models: int, seed_counts: list[int], epochs: int, args) -> list[float]:
    """Best-of-`repeats` ms per model-epoch of the plain loop and of the ensemble trainer spanning each number of
    seeds in `seed_counts` (each seed its own data and init), timed alternately after one untimed warm-up
    epoch of each (the first touch of fresh memory is slow on some machines). The plain loop trains the first
    seed's models: its cost per model-epoch does not depend on the seed."""
    clock, make_data = CLOCKS[args.clock], {"ising": ising_data, "modadd": modadd_data}[task]
    alphas = list(np.geomspace(0.5, 4.0, n_models))
    datas = [make_data(seed) for seed in range(max(seed_counts))]
    seeds = [RunSeeds.from_seed(seed) for seed in range(max(seed_counts))]
    cfg = TrainConfig(task=task, epochs=epochs, eval_every=args.eval_every, device=args.device, **SETTINGS[task])
    warm_up = TrainConfig(task=task, epochs=1, device=args.device, **SETTINGS[task])
    runs = {0: lambda c: plain_grid(datas[0], alphas, seeds[0], c)}
    runs.update({k: (lambda c, k=k: ensemble_training(datas[:k], alphas, seeds[:k], c)) for k in seed_counts})
    best = dict.fromkeys(runs, np.inf)
    for train in runs.values():
        train(warm_up)
    for _ in range(args.repeats):
        for key, train in runs.items():
            start = clock()
            train(cfg)
            best[key] = min(best[key], clock() - start)
    return [1e3 * best[key] / (n_models * max(key, 1) * epochs) for key in runs]


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ising-models", type=int, default=8, help="number of α values (models per seed) for Ising")
    parser.add_argument("--ising-seeds", type=_counts, default=[1, 5],
                        help="seeds one Ising ensemble spans, a row each (ising-main at full scale: 5)")
    parser.add_argument("--ising-epochs", type=int, default=300)
    parser.add_argument("--modadd-models", type=int, default=11,
                        help="number of α values (models) for mod-add (modadd-main's ensemble at full scale: 11)")
    parser.add_argument("--modadd-seeds", type=_counts, default=[1], help="seeds one mod-add ensemble spans")
    parser.add_argument("--modadd-epochs", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=1, help="test-evaluation cadence in epochs")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many timings per entry")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time (steadier on a shared machine)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (a smoke run)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: both loops on the GPU")
    args = parser.parse_args(argv)
    require_cuda(args.device)
    if args.device == "cuda":
        args.clock = "wall"  # the GPU's work is not this process's CPU time
    if args.quick:
        args.ising_epochs, args.modadd_epochs, args.repeats = 30, 1, 1
    torch.set_num_threads(1)
    runs = [("ising", args.ising_models, args.ising_seeds, args.ising_epochs),
            ("modadd", args.modadd_models, args.modadd_seeds, args.modadd_epochs)]
    print(f"{'task':8s} {'models':>6s} {'seeds':>5s} {'epochs':>6s} {'plain ms':>10s} {'ensemble ms':>12s} "
          f"{'ratio':>6s}")
    for task, n_models, seed_counts, epochs in runs:
        plain, *ensembles = compare(task, n_models, seed_counts, epochs, args)
        for n_seeds, ensemble in zip(seed_counts, ensembles, strict=True):
            print(f"{task:8s} {n_models:6d} {n_seeds:5d} {epochs:6d} {plain:10.2f} {ensemble:12.2f} "
                  f"{plain / ensemble:6.2f}")
    where = "GPU" if args.device == "cuda" else "one thread"
    print(f"ms per model-epoch ({args.clock} clock, {where}, best of {args.repeats}); models = α values per seed; "
          "ratio = plain / ensemble, higher is better")


if __name__ == "__main__":
    main()
