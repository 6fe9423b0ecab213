"""Ensemble trainer: the models of one seed at several weight multipliers α, trained at once by per-model Adam."""

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

from grokcore.ensemble import StackedNet, two_hot_tokens
from grokcore.models import check_task, init_theta
from grokcore.numerics import flush_denormals
from grokcore.seeds import RunSeeds

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
# Rows per forward pass, gradients accumulated over passes. Mod-add: a chunk's activations stay in cache. Ising:
# the convolution kernels work one snapshot at a time, so one pass per batch saves the per-pass overhead (10 % of
# the step at 8 models).
CHUNK_ROWS = {"ising": 1000, "modadd": 100}


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


def _memory_order(p: torch.Tensor) -> tuple[int, ...]:
    """The dimension order in which `p` is laid out in memory: p.permute(order) is contiguous."""
    return tuple(sorted(range(p.ndim), key=lambda d: -p.stride(d)))


class EnsembleTrainer:
    """Trains the models θ_i(0) = α_i·θ_init of one seed together on one data split (spec §3.2).

    All models share the training batches; the loss is the sum over models of each model's mean cross entropy,
    so that stacked Adam is exactly per-model Adam (Adam and coupled L2 act element-wise). `data` needs the
    attributes task, x_train, y_train, x_test, y_test of `grokcore.data.task.TaskData`.
    """

    def __init__(self, data, weight_multipliers: Sequence[float], seeds: RunSeeds, cfg: TrainConfig):
        if data.task != cfg.task:
            raise ValueError(f"data is for task {data.task!r} but the config is for {cfg.task!r}")
        alphas = np.asarray(weight_multipliers, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ValueError(f"weight_multipliers must be a non-empty list of finite α > 0, got {weight_multipliers!r}")
        self.cfg, self.seeds, self.weight_multipliers = cfg, seeds, alphas
        self.device = torch.device(cfg.device)
        theta_init = init_theta(cfg.task, seeds.torch("init"))
        # Same product as grokcore.models.scaled_init, so checkpoint 0 equals it bit for bit.
        theta0 = torch.stack([float(alpha) * theta_init for alpha in alphas])
        self.net = StackedNet.from_theta(cfg.task, theta0).to(self.device)
        self._x_train, self._y_train = self._inputs(data.x_train), data.y_train.to(self.device)
        self._x_test, self._y_test = self._inputs(data.x_test), data.y_test.to(self.device)
        self.n_train, self.n_test = len(self._y_train), len(self._y_test)
        self.batch_size = min(cfg.batch_size or self.n_train, self.n_train)
        self._batch_generator = seeds.torch("batch")
        self._leaves = self._optimizer_leaves()
        # The fused kernel makes one pass over memory per step: about 3× faster than the default on the CPU.
        leaves = [leaf for _, leaf, _ in self._leaves]
        self.optimizer = torch.optim.Adam(leaves, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.epoch = 0
        self._metrics = torch.full((len(METRICS), self.n_models, cfg.epochs), math.nan, device=self.device)
        self._diverged = torch.full((self.n_models,), -1, dtype=torch.int64, device=self.device)
        self._note_divergence(None)

    @property
    def n_models(self) -> int:
        """Number of models N (one per weight multiplier)."""
        return self.net.n_models

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Network inputs on the device: token pairs for two-hot mod-add rows (the fast first layer), else x."""
        tokens = two_hot_tokens(x) if self.cfg.task == "modadd" else None
        return (x if tokens is None else tokens).to(self.device)

    def _optimizer_leaves(self) -> list[tuple[nn.Parameter, torch.Tensor, tuple[int, ...]]]:
        """(parameter, leaf Adam updates, memory order) per parameter.

        The fused Adam kernel copies non-contiguous tensors in and out at every step. A parameter stored
        transposed (mod-add W_in, for its fast column lookup) is therefore handed to Adam as a contiguous leaf
        sharing its storage; Adam is element-wise, so the layout changes nothing numerically.
        """
        leaves = []
        for p in self.net.parameters():
            order = _memory_order(p)
            leaf = p if p.is_contiguous() else nn.Parameter(p.detach().permute(order))
            leaves.append((p, leaf, order))
        return leaves

    def train_until(self, epoch: int, progress=False) -> None:
        """Train until `epoch` epochs are completed. `progress` True shows a bar; an object with a tqdm-like
        `update(n)` (a tqdm bar, a grid progress reporter) is advanced by 1 after every epoch."""
        is_int = isinstance(epoch, numbers.Integral) and not isinstance(epoch, bool)
        if not (is_int and self.epoch <= epoch <= self.cfg.epochs):
            raise ValueError(f"epoch must be an int in [{self.epoch}, {self.cfg.epochs}], got {epoch!r}")
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
        """(inputs, labels) of this epoch's batches: fixed order, or a fresh permutation when shuffling."""
        n, size = self.n_train, self.batch_size
        if self.cfg.shuffle and size < n:
            order = torch.randperm(n, generator=self._batch_generator).to(self.device)
            for start in range(0, n, size):
                index = order[start : start + size]
                yield self._x_train[index], self._y_train[index]
        else:
            for start in range(0, n, size):
                yield self._x_train[start : start + size], self._y_train[start : start + size]

    def _train_epoch(self) -> None:
        """One pass over the training batches; records pre-step train metrics and, on schedule, test metrics,
        at index e = epochs completed − 1 of the metric arrays."""
        e = self.epoch
        batch_losses, hits = [], []
        for x, y in self._batches():
            self.net.zero_grad(set_to_none=True)
            ce_sum, batch_hits = self._pass(x, y, backward=True)
            self._step()
            batch_losses.append(ce_sum / len(y))
            hits.append(batch_hits)
        self._metrics[0, :, e] = torch.stack(batch_losses).double().mean(dim=0)
        self._metrics[1, :, e] = torch.stack(hits).sum(dim=0) / self.n_train
        if (e + 1) % self.cfg.eval_every == 0 or e + 1 == self.cfg.epochs:
            with torch.no_grad():
                ce_sum, test_hits = self._pass(self._x_test, self._y_test, backward=False)
            self._metrics[2, :, e] = ce_sum / self.n_test
            self._metrics[3, :, e] = test_hits / self.n_test
        self.epoch = e + 1
        self._note_divergence(self._metrics[0, :, e])

    def _note_divergence(self, train_loss: torch.Tensor | None) -> None:
        """Record self.epoch as the divergence epoch of every model whose θ or `train_loss` (model,) is not
        finite for the first time. Stays on the device: no synchronisation per epoch."""
        finite = torch.stack([torch.isfinite(p).flatten(1).all(dim=1) for p in self.net.parameters()]).all(dim=0)
        if train_loss is not None:
            finite &= torch.isfinite(train_loss)
        self._diverged = torch.where(~finite & (self._diverged < 0), self.epoch, self._diverged)

    def diverged_epoch(self) -> np.ndarray:
        """Per model (model,): the epoch e after which θ, or during which the train loss, first was not finite
        (0: the α-scaled initialisation already was); -1 for models that have not diverged."""
        return self._diverged.cpu().numpy()

    def _pass(self, x: torch.Tensor, y: torch.Tensor, backward: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross entropy (model,) and correct predictions (model,) of every model on (x, y).

        With `backward`, accumulates the gradient of Σ_models mean cross entropy over the rows of (x, y).
        """
        ce_sums, hits = [], []
        rows = CHUNK_ROWS[self.cfg.task]
        for start in range(0, len(y), rows):
            x_chunk, y_chunk = x[start : start + rows], y[start : start + rows]
            logits = self.net(x_chunk)  # (model, row, class)
            ce = F.cross_entropy(logits.flatten(0, 1), y_chunk.repeat(self.n_models), reduction="none")
            ce = ce.view(self.n_models, -1).sum(dim=1)
            if backward:
                (ce.sum() / len(y)).backward()
            ce_sums.append(ce.detach())
            hits.append((logits.detach().argmax(dim=2) == y_chunk).sum(dim=1))
        return sum(ce_sums[1:], ce_sums[0]), sum(hits[1:], hits[0])

    def _step(self) -> None:
        """One Adam step on the optimiser leaves, which see each parameter's gradient in their memory order."""
        for p, leaf, order in self._leaves:
            if leaf is not p:
                leaf.grad = p.grad.permute(order)
        self.optimizer.step()
        for _, leaf, _ in self._leaves:
            leaf.grad = None

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

    def _adam_moments(self) -> dict[str, torch.Tensor]:
        """Adam's exp_avg and exp_avg_sq (model, param) in the layout of PARAM_SHAPES (zeros before step 1)."""
        moments = {}
        for key in ("exp_avg", "exp_avg_sq"):
            parts = []
            for p, leaf, order in self._leaves:
                state = self.optimizer.state.get(leaf, {})
                value = state[key].permute(np.argsort(order).tolist()) if key in state else torch.zeros_like(p)
                parts.append(value.detach().reshape(self.n_models, -1))
            moments[key] = torch.cat(parts, dim=1)
        return moments

    def state_dict(self) -> dict:
        """Everything needed to resume exactly: θ and Adam moments (model, param), Adam step, epoch,
        batch-order generator state, weight multipliers and the metrics so far (model, epoch)."""
        first_state = self.optimizer.state.get(self._leaves[0][1], {})
        state = {
            "theta": self.theta(),
            **{key: value.cpu().numpy() for key, value in self._adam_moments().items()},
            "adam_step": int(first_state["step"]) if "step" in first_state else 0,
            "epoch": self.epoch,
            "batch_generator_state": self._batch_generator.get_state().numpy(),
            "weight_multipliers": self.weight_multipliers.copy(),
            "diverged_epoch": self.diverged_epoch(),
        }
        state.update(self.metrics())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a `state_dict()` taken from a trainer with the same data, seeds, α values and config."""
        if not np.array_equal(np.asarray(state["weight_multipliers"]), self.weight_multipliers):
            raise ValueError(
                f"state is for weight multipliers {state['weight_multipliers']!r}, not {self.weight_multipliers!r}"
            )
        epoch = state["epoch"]
        if not 0 <= epoch <= self.cfg.epochs:
            raise ValueError(f"state epoch {epoch!r} is outside [0, {self.cfg.epochs}]")
        self.net.load_theta(torch.as_tensor(state["theta"]).to(self.device))
        self._load_adam(state)
        self._batch_generator.set_state(torch.as_tensor(state["batch_generator_state"], dtype=torch.uint8))
        self._metrics.copy_(torch.as_tensor(np.stack([state[name] for name in METRICS])))
        diverged = state.get("diverged_epoch", np.full(self.n_models, -1))
        self._diverged = torch.as_tensor(np.asarray(diverged, dtype=np.int64)).to(self.device)
        self.epoch = int(epoch)

    def _load_adam(self, state: dict) -> None:
        step = int(state["adam_step"])
        adam = {"state": {}, "param_groups": self.optimizer.state_dict()["param_groups"]}
        if step > 0:
            offset = 0
            for k, (p, _, order) in enumerate(self._leaves):
                size = p[0].numel()
                adam["state"][k] = {
                    key: torch.as_tensor(state[key][:, offset : offset + size])
                    .reshape(p.shape)
                    .permute(order)
                    .contiguous()
                    .to(self.device)
                    for key in ("exp_avg", "exp_avg_sq")
                }
                adam["state"][k]["step"] = torch.tensor(float(step))
                offset += size
        self.optimizer.load_state_dict(adam)

