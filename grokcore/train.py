"""Ensemble trainer: the models of one or several seeds at several weight multipliers α, trained at once by
per-model Adam."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from grokcore.ensemble import StackedNet, memory_order, two_hot_tokens
from grokcore.hits import correct_predictions
from grokcore.models import check_task, init_theta
from grokcore.numerics import deterministic_cuda, finite_rows, flush_denormals, keep_freed_memory
from grokcore.seeds import RunSeeds
from grokcore.stacked_adam import StackedAdam

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
# Rows per forward pass, gradients accumulated over passes; one pass per batch saves the per-pass overhead. Ising:
# 10 % of the step at 8 models (the convolution kernels work one snapshot at a time). Mod-add: the batch-200 grid's
# epoch 12 % faster than in passes of 100 rows (11 models); batch 64 and the test pass measured alike.
CHUNK_ROWS = {"ising": 1000, "modadd": 200}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one run (spec §3.1): Adam with coupled L2 `weight_decay`, `epochs` passes.

    batch_size None (or ≥ the training-set size) is full batch. Epochs are counted as epochs completed, k = 1..E
    (the store's `epoch` and `checkpoint` coordinates). Test metrics are computed at θ after k epochs when
    k % eval_every == 0, and always after the last epoch.
    """

    task: str
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int | None = None
    shuffle: bool = False
    eval_every: int = 1
    device: str = "cpu"

    def __post_init__(self):
        check_task(self.task)
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("eval_every", self.eval_every, minimum=1)
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, minimum=1)
        if not (_is_real(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (_is_real(self.weight_decay) and math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be a bool, got {self.shuffle!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device, got {self.device!r}") from err


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _per_seed(value) -> list:
    """One seed's value as a list of one; a list or tuple of per-seed values as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


class EnsembleTrainer:
    """Trains the models θ(0) = α·θ_init(seed) of one seed, or of several seeds, together (spec §3.2).

    `data` and `seeds` are one seed's data split and `RunSeeds`, or equal-length lists of them: the ensemble then
    spans those seeds, models seed-major (model g·A + a is α_a of seed g), each seed with its own data split,
    initialisation and batch order. The models of a seed share its training batches; the loss is the sum over
    models of each model's mean cross entropy, so that stacked Adam is exactly per-model Adam (Adam and coupled
    L2 act element-wise) and every model trains as it would alone (on the CPU bit for bit: `StackedAdam`).
    `data` needs the attributes task, x_train, y_train, x_test, y_test of `grokcore.data.task.TaskData`.
    """

    def __init__(self, data, weight_multipliers: Sequence[float], seeds: RunSeeds | Sequence[RunSeeds],
                 cfg: TrainConfig):
        datas, seed_list = _per_seed(data), _per_seed(seeds)
        if len(datas) != len(seed_list):
            raise ValueError(f"{len(datas)} data splits for {len(seed_list)} seeds: give one per seed")
        for split in datas:
            if split.task != cfg.task:
                raise ValueError(f"data is for task {split.task!r} but the config is for {cfg.task!r}")
        for name in ("y_train", "y_test"):
            sizes = sorted({len(getattr(split, name)) for split in datas})
            if len(sizes) > 1:
                raise ValueError(f"the seeds' {name} sizes differ ({sizes}): an ensemble needs equal splits")
        alphas = np.asarray(weight_multipliers, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ValueError(f"weight_multipliers must be a non-empty list of finite α > 0, got {weight_multipliers!r}")
        self.cfg, self.seeds, self.weight_multipliers = cfg, seeds, alphas
        self.n_seeds = len(seed_list)
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda":
            deterministic_cuda()
        # Same product as grokcore.models.scaled_init, so checkpoint 0 equals it bit for bit.
        theta0 = torch.cat([torch.stack([float(alpha) * theta_init for alpha in alphas])
                            for theta_init in (init_theta(cfg.task, s.torch("init")) for s in seed_list)])
        self.net = StackedNet.from_theta(cfg.task, theta0).to(self.device)
        self._x_train = torch.stack([self._inputs(split.x_train) for split in datas])  # (seed, row, ...)
        self._y_train = torch.stack([split.y_train for split in datas]).to(self.device)
        self._x_test = torch.stack([self._inputs(split.x_test) for split in datas])
        self._y_test = torch.stack([split.y_test for split in datas]).to(self.device)
        self.n_train, self.n_test = self._y_train.shape[1], self._y_test.shape[1]
        self.batch_size = min(cfg.batch_size or self.n_train, self.n_train)
        self._batch_generators = [s.torch("batch") for s in seed_list]
        self.adam = StackedAdam(list(self.net.parameters()), cfg.lr, cfg.weight_decay)
        self.epoch = 0
        self._metrics = torch.full((len(METRICS), self.n_models, cfg.epochs), math.nan, device=self.device)
        self._diverged = torch.full((self.n_models,), -1, dtype=torch.int64, device=self.device)
        self._note_divergence(None)

    @property
    def n_models(self) -> int:
        """Number of models N (one per weight multiplier and seed)."""
        return self.net.n_models

    def seed_models(self, seed_index: int) -> slice:
        """The models (α values in order) of the seed_index-th seed."""
        if not 0 <= seed_index < self.n_seeds:
            raise ValueError(f"seed index {seed_index!r} out of range for {self.n_seeds} seeds")
        per_seed = len(self.weight_multipliers)
        return slice(seed_index * per_seed, (seed_index + 1) * per_seed)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Network inputs on the device: on the CPU token pairs for two-hot mod-add rows (the fast first layer),
        else x. On a GPU the lookup's backward would scatter with atomic adds, in an order that changes from run to
        run; the dense product of the two-hot rows is as cheap there and gives the same bits every time."""
        tokens = two_hot_tokens(x) if self.cfg.task == "modadd" and self.device.type == "cpu" else None
        return (x if tokens is None else tokens).to(self.device)

    def train_until(self, epoch: int, progress=False) -> None:
        """Train until `epoch` epochs are completed. `progress` True shows a bar; an object with a tqdm-like
        `update(n)` (a tqdm bar, a grid progress reporter) is advanced by 1 after every epoch. From here on, on
        glibc without malloc settings of its own, the process keeps freed memory for reuse
        (`grokcore.numerics.keep_freed_memory`)."""
        is_int = isinstance(epoch, numbers.Integral) and not isinstance(epoch, bool)
        if not (is_int and self.epoch <= epoch <= self.cfg.epochs):
            raise ValueError(f"epoch must be an int in [{self.epoch}, {self.cfg.epochs}], got {epoch!r}")
        keep_freed_memory()
        own_bar = progress is True
        bar = tqdm(total=epoch - self.epoch, desc=f"{self.cfg.task} ×{self.n_models}") if own_bar else progress
        if bool((self._diverged >= 0).all()):  # every model has diverged: nothing left worth computing
            if bar is not False:
                bar.update(epoch - self.epoch)
            self.epoch = epoch
        with flush_denormals():
            while self.epoch < epoch:
                self._train_epoch()
                if bar is not False:
                    bar.update(1)
        if own_bar:
            bar.close()

    def _batches(self):
        """(inputs, labels) (seed, row, ...) of this epoch's batches: fixed order, or a fresh permutation per seed
        when shuffling."""
        n, size = self.n_train, self.batch_size
        if self.cfg.shuffle and size < n:
            order = torch.stack([torch.randperm(n, generator=gen) for gen in self._batch_generators])
            order, seed = order.to(self.device), torch.arange(self.n_seeds, device=self.device).unsqueeze(1)
            for start in range(0, n, size):
                index = order[:, start : start + size]
                yield self._x_train[seed, index], self._y_train[seed, index]
        else:
            for start in range(0, n, size):
                yield self._x_train[:, start : start + size], self._y_train[:, start : start + size]

    def _train_epoch(self) -> None:
        """One pass over the training batches; records pre-step train metrics and, on schedule, test metrics,
        at index e = epochs completed − 1 of the metric arrays."""
        e = self.epoch
        batch_losses, hits = [], []
        for x, y in self._batches():
            ce_sum, batch_hits, grads = self._pass(x, y, backward=True)
            self.adam.step(grads)
            batch_losses.append(ce_sum / y.shape[1])
            hits.append(batch_hits)
        self._metrics[0, :, e] = torch.stack(batch_losses).double().mean(dim=0)
        self._metrics[1, :, e] = torch.stack(hits).sum(dim=0) / self.n_train
        if (e + 1) % self.cfg.eval_every == 0 or e + 1 == self.cfg.epochs:
            with torch.no_grad():
                ce_sum, test_hits, _ = self._pass(self._x_test, self._y_test, backward=False)
            self._metrics[2, :, e] = ce_sum / self.n_test
            self._metrics[3, :, e] = test_hits / self.n_test
        self.epoch = e + 1
        self._note_divergence(self._metrics[0, :, e])

    def _note_divergence(self, train_loss: torch.Tensor | None) -> None:
        """Record self.epoch as the divergence epoch of every model whose θ or `train_loss` (model,) is not
        finite for the first time. Stays on the device: no synchronisation per epoch."""
        # each parameter in its memory order, one pass over it
        finite = finite_rows([p.detach().permute(memory_order(p)).reshape(self.n_models, -1)
                              for p in self.net.parameters()])
        if train_loss is not None:
            finite &= torch.isfinite(train_loss)
        self._diverged = torch.where(~finite & (self._diverged < 0), self.epoch, self._diverged)

    def diverged_epoch(self) -> np.ndarray:
        """Per model (model,): the epoch e after which θ, or during which the train loss, first was not finite
        (0: the α-scaled initialisation already was); -1 for models that have not diverged."""
        return self._diverged.cpu().numpy()

    def _pass(self, x: torch.Tensor, y: torch.Tensor,
              backward: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        """Summed cross entropy (model,) and correct predictions (model,) of every model on its seed's rows of
        (x, y) (seed, row, ...), and with `backward` the gradient of Σ_models mean cross entropy over those rows,
        one tensor per parameter (else None), summed over the passes as autograd accumulates it."""
        ce_sums, hits, grads = [], [], None
        rows, n_rows = CHUNK_ROWS[self.cfg.task], y.shape[1]
        for start in range(0, n_rows, rows):
            x_chunk = x[:, start : start + rows]
            y_chunk = y[:, start : start + rows].repeat_interleave(len(self.weight_multipliers), dim=0)
            if backward:
                ce, logits, chunk_grads = self.net.loss_grads(x_chunk, y_chunk, n_rows)
                if grads is None:
                    grads = list(chunk_grads)
                else:
                    grads = [g.add_(c) for g, c in zip(grads, chunk_grads, strict=True)]
            else:
                logits = self.net(x_chunk)  # (model, row, class)
                ce = F.cross_entropy(logits.flatten(0, 1), y_chunk.flatten(), reduction="none")
                ce = ce.view(self.n_models, -1).sum(dim=1)
            ce_sums.append(ce)
            hits.append(correct_predictions(logits, y_chunk))
        return sum(ce_sums[1:], ce_sums[0]), sum(hits[1:], hits[0]), grads

    def theta(self) -> np.ndarray:
        """Current parameters θ (model, param) float32 in the layout of PARAM_SHAPES; NaN for diverged models."""
        theta = self.net.theta().cpu().numpy()
        theta[self.diverged_epoch() >= 0] = np.nan
        return theta

    def member(self, i: int) -> nn.Module:
        """A standalone IsingCNN / ModAddMLP (on the CPU) holding model i's current parameters."""
        return self.net.member(i)

    def metrics(self) -> dict[str, np.ndarray]:
        """train_loss, train_acc, test_loss, test_acc, each (model, epoch) float32 over all cfg.epochs epochs.

        Column k − 1 belongs to epochs completed k = 1..E (the store's `epoch` coordinate). Train values of
        epoch k are the mean over its batches of the pre-step batch loss, and the pre-step correct count over
        the training-set size; test values are taken at θ after k epochs, the θ of checkpoint k. NaN where an
        epoch has not run or was not evaluated, and from the epoch a model diverged on.
        """
        values = self._metrics.cpu().numpy()
        for i, epoch in enumerate(self.diverged_epoch()):
            if epoch >= 0:
                values[:, i, max(epoch - 1, 0):] = np.nan
        return {name: values[k].copy() for k, name in enumerate(METRICS)}

    def state_dict(self, seed_index: int = 0) -> dict:
        """Everything needed to resume the models of the seed_index-th seed exactly: θ and Adam moments (model,
        param), Adam step, epoch, batch-order generator state, weight multipliers and the metrics so far
        (model, epoch); the same dict a trainer of that seed alone gives."""
        self.seed_models(seed_index)  # a bad index is one clear line
        return self.seed_states()[seed_index]

    def seed_states(self) -> list[dict]:
        """`state_dict(k)` of every seed k, reading θ, the Adam moments and the metrics once."""
        theta, diverged, metrics = self.theta(), self.diverged_epoch(), self.metrics()
        moments = {key: value.cpu().numpy() for key, value in self.adam.moments().items()}
        states = []
        for k, gen in enumerate(self._batch_generators):
            rows = self.seed_models(k)
            states.append({
                "theta": theta[rows],
                **{key: value[rows] for key, value in moments.items()},
                "adam_step": self.adam.step_count(),
                "epoch": self.epoch,
                "batch_generator_state": gen.get_state().numpy(),
                "weight_multipliers": self.weight_multipliers.copy(),
                "diverged_epoch": diverged[rows],
                **{name: values[rows] for name, values in metrics.items()},
            })
        return states

    def load_state_dict(self, state: dict | Sequence[dict]) -> None:
        """Restore `state_dict()` (one per seed, in order, for an ensemble spanning seeds) taken from a trainer
        with the same data, seeds, α values and config, at one epoch and Adam step."""
        states = _per_seed(state)
        if len(states) != self.n_seeds:
            raise ValueError(f"{len(states)} states for a trainer of {self.n_seeds} seeds: give one per seed")
        for part in states:
            if not np.array_equal(np.asarray(part["weight_multipliers"]), self.weight_multipliers):
                raise ValueError(f"state is for weight multipliers {part['weight_multipliers']!r}, "
                                 f"not {self.weight_multipliers!r}")
        epochs, steps = {int(part["epoch"]) for part in states}, {int(part["adam_step"]) for part in states}
        if len(epochs) > 1 or len(steps) > 1:
            raise ValueError(f"the seeds' states are at different epochs {sorted(epochs)} or Adam steps "
                             f"{sorted(steps)}: an ensemble resumes from one")
        (epoch,) = epochs
        if not 0 <= epoch <= self.cfg.epochs:
            raise ValueError(f"state epoch {epoch!r} is outside [0, {self.cfg.epochs}]")
        joined = {key: np.concatenate([part[key] for part in states]) for key in ("theta", "exp_avg", "exp_avg_sq")}
        self.net.load_theta(torch.as_tensor(joined["theta"]).to(self.device))
        self.adam.load(joined["exp_avg"], joined["exp_avg_sq"], steps.pop())
        for gen, part in zip(self._batch_generators, states, strict=True):
            gen.set_state(torch.as_tensor(part["batch_generator_state"], dtype=torch.uint8))
        self._metrics.copy_(torch.as_tensor(np.stack([np.concatenate([part[name] for part in states])
                                                      for name in METRICS])))
        diverged = np.concatenate([np.asarray(part.get("diverged_epoch", np.full(len(self.weight_multipliers), -1)))
                                   for part in states])
        self._diverged = torch.as_tensor(diverged.astype(np.int64)).to(self.device)
        self.epoch = epoch
