"""Magnitude pruning (§4.5), compressibility (Eq. 5) and Fisher pruning (App. F.1) of a trained network."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch.func import functional_call

from grokcore.measures._params import tensor_slices, unflatten
from grokcore.models import PARAM_SHAPES, build_model, n_params

SCHEMES = ("per_layer", "global", "global_normalised", "layer")
VARIANTS = ("normalised", "raw", "chance")
DEFAULT_FRACTIONS = np.linspace(0.0, 1.0, 101)
NEVER_DROPS = 1e-9  # S/A(0) this close to 1: the pruning curve never drops, c is undefined (inf)


class PruningCurve(NamedTuple):
    """Test metrics of pruned copies of one model, each (grid,): the pruned fraction of the prunable set, the
    number of parameters zeroed, accuracy and mean cross-entropy loss."""

    fraction: np.ndarray
    count: np.ndarray
    acc: np.ndarray
    loss: np.ndarray


class PruneOrder(NamedTuple):
    """Pruning order of θ (param,): `rank` within its group (0 goes first; inf = never pruned), `group` index
    (param,) and `group_size` (group,). Fraction p of a group prunes its ⌊p·size⌋ lowest ranks."""

    rank: np.ndarray
    group: np.ndarray
    group_size: np.ndarray


def prunable_tensors(task: str, include_biases: bool = False) -> list[str]:
    """Names of the tensors magnitude pruning may touch: the weights, plus the biases if asked."""
    return [name for name, _ in PARAM_SHAPES[task] if include_biases or name.endswith(".weight")]


def _order_groups(score: np.ndarray, groups: list[np.ndarray]) -> PruneOrder:
    rank = np.full(score.shape, np.inf)
    group = np.zeros(score.shape, dtype=np.int64)
    for g, members in enumerate(groups):
        # stable sort: ties at the threshold are pruned in index order
        rank[members[np.argsort(score[members], kind="stable")]] = np.arange(members.size)
        group[members] = g
    return PruneOrder(rank, group, np.array([m.size for m in groups]))


def magnitude_order(task: str, theta, scheme: str = "per_layer", layer: str | None = None,
                    include_biases: bool = False) -> PruneOrder:
    """Magnitude-pruning order of θ (param,) under one of the four schemes of §4.5.

    "per_layer" (main text): each prunable tensor ranked by |w| on its own; "global": |w| ranked jointly;
    "global_normalised": |w|/‖W_l‖_F ranked jointly (the rescaling only orders; kept weights keep their value);
    "layer": only tensor `layer` pruned (Figs 26-27). Biases are never pruned unless include_biases.
    """
    theta = np.asarray(theta, dtype=float)
    spans = tensor_slices(task)
    names = prunable_tensors(task, include_biases)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown pruning scheme {scheme!r}: expected one of {SCHEMES}")
    if (scheme == "layer") != (layer is not None):
        raise ValueError(f"layer={layer!r} must be given exactly when scheme='layer' (scheme={scheme!r})")
    if scheme == "layer" and layer not in names:
        raise ValueError(f"cannot prune layer {layer!r}: expected one of {names}")
    members = {name: np.arange(spans[name].start, spans[name].stop) for name in names}
    score = np.abs(theta)
    if scheme == "global_normalised":
        for name in names:
            norm = np.linalg.norm(theta[spans[name]])
            score[spans[name]] = score[spans[name]] / norm if norm > 0 else 0.0
    if scheme == "per_layer":
        return _order_groups(score, list(members.values()))
    if scheme == "layer":
        return _order_groups(score, [members[layer]])
    return _order_groups(score, [np.concatenate(list(members.values()))])


def fisher_order(task: str, fim_diag, tensor: str | None = None) -> PruneOrder:
    """Fisher-pruning order (App. F.1): ALL parameters by ascending Fisher diagonal, or only those of `tensor`.

    fim_diag (param,) must be the Fisher diagonal of the unpruned final model, also for the per-tensor orders
    (the authors' code reused a Fisher of an already pruned network). The tensor's span is [start, end): no
    parameter of the next tensor is pruned.
    """
    fim_diag = np.asarray(fim_diag, dtype=float)
    if fim_diag.shape != (n_params(task),):
        raise ValueError(f"fim_diag has shape {fim_diag.shape}, expected ({n_params(task)},)")
    spans = tensor_slices(task)
    if tensor is not None and tensor not in spans:
        raise ValueError(f"unknown parameter tensor {tensor!r}: expected one of {list(spans)}")
    span = slice(0, fim_diag.size) if tensor is None else spans[tensor]
    return _order_groups(fim_diag, [np.arange(span.start, span.stop)])


def _two_hot_columns(x: torch.Tensor) -> torch.Tensor | None:
    """Column indices (sample, 2) of the two ones in each row of x (sample, 2p); None unless x is two-hot."""
    if not (((x == 0) | (x == 1)).all() and (x.sum(1) == 2).all()):
        return None
    return x.nonzero()[:, 1].view(-1, 2)  # nonzero lists row by row, columns ascending


def _modadd_logits(params: dict, columns: torch.Tensor) -> torch.Tensor:
    """Mod-add MLP logits (sample, p) of one model's params {name: tensor} on two-hot inputs given by their
    columns (sample, 2).

    A two-hot input's first layer is the sum of two weight columns: the gather (embedding_bag) is about twice as
    fast as the (sample, 2p) matmul on CPU, and equal to it up to float round-off.
    """
    w_in, b_in, w_out, b_out = (params[name] for name, _ in PARAM_SHAPES["modadd"])
    hidden = torch.nn.functional.embedding_bag(columns, w_in.T.contiguous(), mode="sum").add_(b_in).relu_()
    return torch.addmm(b_out, hidden, w_out.T)


def _evaluator(task: str, x, y, device) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """thetas (model, param) -> test loss and accuracy (model,) ×2 on the fixed (x, y); see evaluate_thetas."""
    x = torch.as_tensor(x, dtype=torch.float32).to(device)
    y = torch.as_tensor(y, dtype=torch.int64).to(device)
    columns = _two_hot_columns(x) if task == "modadd" else None
    if columns is not None:
        forward = functools.partial(_modadd_logits, columns=columns)
    else:
        model = build_model(task).to(device)
        forward = functools.partial(functional_call, model, args=(x,))

    def evaluate(thetas):
        params = unflatten(task, torch.as_tensor(np.asarray(thetas), dtype=torch.float32, device=device))
        losses, accs = np.empty(len(thetas)), np.empty(len(thetas))
        with torch.no_grad():
            for k in range(len(thetas)):
                logits = forward({name: value[k] for name, value in params.items()})
                losses[k] = torch.nn.functional.cross_entropy(logits, y).item()
                accs[k] = (logits.argmax(-1) == y).double().mean().item()
        return losses, accs

    return evaluate


def evaluate_thetas(task: str, thetas, x, y, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Test loss (mean cross entropy) and accuracy of many parameter vectors: thetas (model, param) -> (model,) ×2.

    x (sample, ...) float inputs, y (sample,) int labels, evaluated on `device` one model at a time (faster on
    CPU than torch.func.vmap over the stack: benchmarks/pruning_speed.py); two-hot mod-add inputs take a
    gather for the first layer.
    """
    return _evaluator(task, x, y, device)(thetas)


def _pruning_curve(task, theta, order, counts, x, y, chunk_size, device) -> PruningCurve:
    # the pruned copies are built chunk_size at a time: all of them at once would hold (grid, param) floats
    evaluate = _evaluator(task, x, y, device)
    losses, accs = [], []
    for start in range(0, len(counts), chunk_size):
        loss, acc = evaluate(prune(theta, order, counts[start : start + chunk_size]))
        losses.append(loss)
        accs.append(acc)
    total = counts.sum(axis=1)
    return PruningCurve(total / order.group_size.sum(), total, np.concatenate(accs), np.concatenate(losses))


def prune(theta, order: PruneOrder, counts) -> np.ndarray:
    """Pruned copies of θ (param,): counts (grid, group) -> (grid, param), zeroing the counts[g] lowest ranks
    of each group g."""
    counts = np.asarray(counts)
    limit = counts[:, order.group]
    return np.where(order.rank[None, :] < limit, 0.0, np.asarray(theta, dtype=np.float32)[None, :])


def fraction_counts(order: PruneOrder, fractions) -> np.ndarray:
    """⌊p·size⌋ for each fraction p (grid,) in [0, 1] and each group of `order`: -> (grid, group) int."""
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or np.any((fractions < 0) | (fractions > 1)):
        raise ValueError(f"fractions must be a 1-d grid in [0, 1], got {fractions!r}")
    # the small tolerance keeps p·n = 29 from flooring to 28 through round-off (0.29·100 = 28.999…)
    return np.floor(fractions[:, None] * order.group_size[None, :] + 1e-9).astype(np.int64)


def pruning_curve(task: str, theta, x, y, fractions=DEFAULT_FRACTIONS, scheme: str = "per_layer",
                  layer: str | None = None, include_biases: bool = False, chunk_size: int = 16,
                  device: str | torch.device = "cpu") -> PruningCurve:
    """Test accuracy and loss after magnitude pruning θ (param,) at each fraction p (§4.5; Figs 5, 14, 18, 25-27).

    fractions (grid,) in [0, 1]; each group loses its ⌊p·size⌋ smallest-score entries, no retraining. x, y: the
    full test set. See `magnitude_order` for scheme, layer and include_biases; chunk_size: pruned copies held in
    memory at a time; device: see `evaluate_thetas`. Returns PruningCurve (grid,).
    """
    order = magnitude_order(task, theta, scheme, layer, include_biases)
    counts = fraction_counts(order, fractions)
    curve = _pruning_curve(task, theta, order, counts, x, y, chunk_size, device)
    return curve._replace(fraction=np.asarray(fractions, dtype=float))


def fisher_pruning_curve(task: str, theta, fim_diag, x, y, n_points: int = 101, tensor: str | None = None,
                         exact: bool = False, chunk_size: int = 16,
                         device: str | torch.device = "cpu") -> PruningCurve:
    """Test accuracy and loss while cumulatively zeroing parameters by ascending Fisher diagonal (App. F.1, §4.13).

    theta, fim_diag (param,): the final model and ITS Fisher diagonal (computed once, unpruned). tensor: restrict
    to one parameter tensor (the code's per-"layer" curves), else the whole model. The walk is evaluated at
    `n_points` evenly spaced pruning counts 0..n (rounded, duplicates dropped); exact=True evaluates every
    count 0, 1, …, n (the authors' one-parameter-at-a-time walk, plus the unpruned start).
    """
    order = fisher_order(task, fim_diag, tensor)
    n = int(order.group_size[0])
    if exact:
        counts = np.arange(n + 1)
    elif n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points!r}")
    else:
        counts = np.unique(np.round(np.linspace(0, n, n_points)).astype(np.int64))
    return _pruning_curve(task, theta, order, counts[:, None], x, y, chunk_size, device)


def compressibility(fractions, acc, variant: str = "normalised", chance: float | None = None) -> np.ndarray:
    """Compressibility c = 1/(1 − S/A(0)) (Eq. 5, reconstructed), S = ∫_0^1 A(p) dp by the trapezoid rule.

    fractions (grid,) from 0 to 1 increasing; acc (..., grid) -> (...,). variant "normalised" (default), "raw":
    c = 1/(1 − S), "chance": S and A(0) measured above the accuracy `chance` (e.g. 0.5 for Ising), c =
    1/(1 − ∫(A − chance)dp/(A(0) − chance)). A step from A(0) to 0 (or to chance) at p* gives 1/(1 − p*).
    Guards: NaN where A(0) ≤ 0 (or ≤ chance); inf where the curve never drops (ratio ≥ 1 up to round-off: a
    flat curve's trapezoid sum can fall 1e-16 short of A(0), which would read as c ≈ 9·10¹⁵).
    """
    p = np.asarray(fractions, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if p.ndim != 1 or p.size < 2 or p[0] != 0 or p[-1] != 1 or np.any(np.diff(p) <= 0):
        raise ValueError(f"fractions must increase from 0 to 1, got {p!r}")
    if acc.shape[-1] != p.size:
        raise ValueError(f"acc has {acc.shape[-1]} points on its last axis, fractions {p.size}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown compressibility variant {variant!r}: expected one of {VARIANTS}")
    if (variant == "chance") != (chance is not None):
        raise ValueError(f"chance={chance!r} must be given exactly when variant='chance'")
    floor = chance if variant == "chance" else 0.0
    area = np.trapezoid(acc - floor, p, axis=-1)
    top = np.ones(acc.shape[:-1]) if variant == "raw" else acc[..., 0] - floor
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = area / top
        c = 1.0 / (1.0 - ratio)
    return np.where(top <= 0, np.nan, np.where(ratio >= 1 - NEVER_DROPS, np.inf, c))
