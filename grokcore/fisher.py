"""Fisher information diagonal at a checkpoint, and the inputs its average runs over (spec §2.7, §4.7)."""

from __future__ import annotations

import numpy as np
import torch
from nngeometry.metrics import FIM
from nngeometry.object import PMatDiag
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grokcore.models import ModAddMLP
from grokcore.seeds import role_rng

VARIANTS = ("regression", "classif_logits")
METHODS = ("auto", "nngeometry", "closed_form", "per_sample")
SPLITS = ("train", "test")
# (split, n) per task (spec §2.7): the authors averaged over 1000 Ising test snapshots, 16 mod-add test pairs.
DEFAULT_FISHER: dict[str, tuple[str, int | None]] = {"ising": ("test", None), "modadd": ("test", 16)}
FISHER_BATCH_SIZE = 1000


def fim_diag(
    model: nn.Module, x: torch.Tensor, variant: str = "regression", method: str = "auto"
) -> np.ndarray:
    """Fisher diagonal F_ii over the inputs x (N, ...), shape (param,) float32 in model.parameters() order.

    variant "regression" (the authors' code, nngeometry `variant="regression"`):
        F_ii = (1/N) Σ_n Σ_c (∂z_c(x_n)/∂θ_i)², z the logits.
    variant "classif_logits" (the paper's Eq. 14):
        F_ii = (1/N) Σ_n Σ_c p_c(x_n) (∂ log p_c(x_n)/∂θ_i)².
    method "auto" uses the closed form for a ModAddMLP and per-sample gradients otherwise (equal to the
    "nngeometry" method, the authors' tool, to float round-off; several times faster on the Ising CNN).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown Fisher variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    if method not in METHODS:
        raise ValueError(f"unknown Fisher method {method!r}: expected one of {', '.join(METHODS)}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"need at least one Fisher sample, got x of shape {tuple(x.shape)}")
    if method == "auto":
        method = "closed_form" if isinstance(model, ModAddMLP) else "per_sample"
    if method == "closed_form" and not isinstance(model, ModAddMLP):
        raise ValueError(f"the closed-form Fisher needs a ModAddMLP, got {type(model).__name__}")
    compute = {"closed_form": _modadd_closed_form, "per_sample": _per_sample_diag, "nngeometry": _nngeometry_diag}
    return compute[method](model, x, variant).detach().cpu().numpy().astype(np.float32)


def _nngeometry_diag(model: nn.Module, x: torch.Tensor, variant: str) -> torch.Tensor:
    """nngeometry 0.4 `PMatDiag` of the `fisher_rows` (param,): a `regression` Fisher of the logits or the
    score rows (nngeometry's own `classif_logits` turns NaN when the softmax saturates: its Cholesky factor
    takes the root of a round-off-negative number)."""
    param = next(model.parameters())
    # nngeometry sets requires_grad on the batch tensor, so it must be a float leaf of the model's dtype.
    x = x.detach().to(device=param.device, dtype=param.dtype)
    loader = DataLoader(TensorDataset(x), batch_size=FISHER_BATCH_SIZE)
    fim = FIM(model, loader, PMatDiag, variant="regression", device=param.device,
              function=lambda inputs: fisher_rows(model(inputs), variant))
    return fim.get_diag()


def fisher_rows(logits: torch.Tensor, variant: str) -> torch.Tensor:
    """The rows g (N, C) whose squared parameter gradients, summed over c and averaged over samples, are the
    Fisher diagonal: the logits ("regression"), or for Eq. 14 the score rows g_c = √p_c (z_c − Σ_k p_k z_k)
    with p held constant, since ∂g_c/∂θ = √p_c ∂ log p_c/∂θ."""
    if variant == "regression":
        return logits
    p = torch.softmax(logits, dim=1).detach()
    return p.sqrt() * (logits - (p * logits).sum(dim=1, keepdim=True))


def _per_sample_diag(model: nn.Module, x: torch.Tensor, variant: str) -> torch.Tensor:
    """Fisher diagonal (param,) of a network of Linear and Conv2d layers from per-sample gradients.

    The samples of a batch do not interact, so the gradient of Σ_n g_c(x_n) with respect to a layer's output
    holds each sample's own δ_n. With the layer's input a_n, the per-sample weight gradient is δ_n a_nᵀ for
    Linear, whose squares sum over samples as (δ²)ᵀ a², and Σ_p δ_n[:, p] U_n[:, p]ᵀ over the positions p of
    the unfolded input U_n for Conv2d. nngeometry's PMatDiag computes the same sums (tested).
    """
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    covered = sum(p.numel() for m in layers for p in m.parameters(recurse=False))
    if covered != sum(p.numel() for p in model.parameters()) or any(getattr(m, "groups", 1) != 1 for m in layers):
        raise ValueError(f"per-sample Fisher needs a network of Linear and ungrouped Conv2d layers only, got "
                         f"{type(model).__name__}")
    x = x.detach().to(next(model.parameters()))
    sums = {p: torch.zeros_like(p, dtype=torch.float64) for p in model.parameters()}
    for start in range(0, len(x), FISHER_BATCH_SIZE):
        _add_squared_gradients(model, layers, x[start : start + FISHER_BATCH_SIZE], variant, sums)
    return torch.cat([sums[p].flatten() for p in model.parameters()]) / len(x)


def _add_squared_gradients(model, layers, x, variant, sums) -> None:
    """Add Σ_n Σ_c (∂g_c(x_n)/∂θ)² of the batch x to `sums` {parameter: float64 tensor of its shape}."""
    seen = {}
    hooks = [m.register_forward_hook(lambda m, args, out: seen.__setitem__(m, (args[0].detach(), out)))
             for m in layers]
    try:
        rows = fisher_rows(model(x), variant)
    finally:
        for hook in hooks:
            hook.remove()
    inputs = {m: _layer_input(m, seen[m][0]) for m in layers}  # unfolded once for all rows c
    for c in range(rows.shape[1]):
        deltas = torch.autograd.grad(rows[:, c].sum(), [seen[m][1] for m in layers], retain_graph=True)
        for layer, delta in zip(layers, deltas, strict=True):
            weight, bias = _squared_gradient_sums(layer, inputs[layer], delta)
            sums[layer.weight] += weight.view(layer.weight.shape)
            if layer.bias is not None:
                sums[layer.bias] += bias


def _layer_input(layer, a: torch.Tensor) -> torch.Tensor:
    """What multiplies δ in the layer's per-sample weight gradient: its input (N, in) for Linear, the unfolded
    input U (N, in channels · kernel, positions) for Conv2d."""
    if isinstance(layer, nn.Linear):
        return a
    return nn.functional.unfold(a, layer.kernel_size, layer.dilation, layer.padding, layer.stride)


def _squared_gradient_sums(layer, a, delta) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_n of the squared per-sample gradients of the layer's weight (flattened to (out, in)) and bias (out,),
    float64, from its `_layer_input` a and output gradient δ (N, out, …)."""
    if isinstance(layer, nn.Linear):
        return (delta.double() ** 2).T @ a.double() ** 2, (delta.double() ** 2).sum(dim=0)
    delta = delta.flatten(2)  # (N, out channels, positions)
    weight = torch.bmm(delta, a.transpose(1, 2)).double() ** 2  # (N, out channels, in channels · kernel)
    return weight.sum(dim=0), (delta.sum(dim=2).double() ** 2).sum(dim=0)


def _modadd_closed_form(model: ModAddMLP, x: torch.Tensor, variant: str) -> torch.Tensor:
    """Closed-form Fisher diagonal of z = W2 relu(W1 x + b1) + b2, shape (param,), in float64 internally.

    With a = relu(h), m = 1[h > 0] and the logit Jacobians ∂z_c/∂W2[k,j] = δ_ck a_j, ∂z_c/∂b2[k] = δ_ck,
    ∂z_c/∂W1[j,i] = W2[c,j] m_j x_i, ∂z_c/∂b1[j] = W2[c,j] m_j, each diagonal entry is J^T Q J with
    Q = I ("regression") or Q = diag(p) − p p^T ("classif_logits"). Per sample that gives
        W2[k,j]: Q_kk a_j²,   b2[k]: Q_kk,   W1[j,i]: v_j m_j x_i²,   b1[j]: v_j m_j,
    with v_j = W2[:,j]^T Q W2[:,j], i.e. Σ_c W2[c,j]² (regression) or Σ_c p_c W2[c,j]² − (Σ_c p_c W2[c,j])².
    """
    w2 = model.fc_out.weight.detach().double()
    x = x.detach().to(device=w2.device, dtype=torch.float64)
    h = x @ model.fc_in.weight.detach().double().T + model.fc_in.bias.detach().double()
    a, mask = torch.relu(h), (h > 0).double()
    n = x.shape[0]
    if variant == "regression":
        q_diag = torch.ones(n, w2.shape[0], dtype=torch.float64, device=w2.device)
        v = (w2**2).sum(dim=0).expand(n, -1)
    else:
        p = torch.softmax(a @ w2.T + model.fc_out.bias.detach().double(), dim=1)
        q_diag = p * (1 - p)
        # a variance under p: clamp the round-off below 0 that a saturated softmax leaves
        v = (p @ w2**2 - (p @ w2) ** 2).clamp(min=0)
    vm = v * mask
    parts = (vm.T @ x**2, vm.sum(dim=0), q_diag.T @ a**2, q_diag.sum(dim=0))
    return torch.cat([part.flatten() for part in parts]) / n


def fisher_samples(data, fisher_seed: int, split: str = "test", n: int | None = None) -> torch.Tensor:
    """Inputs (n, ...) of the Fisher average: the whole `split` of `data`, or n of it drawn by `fisher_seed`.

    `data` has attributes x_train, x_test. The n are the first entries of a permutation drawn from the seed's
    'fisher' stream, the same as grokcore.seeds.RunSeeds(..., fisher=fisher_seed).numpy("fisher").
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Fisher split {split!r}: expected one of {', '.join(SPLITS)}")
    x = getattr(data, f"x_{split}")
    size = x.shape[0]
    if n is None or n == size:
        return x
    if not 0 < n <= size:
        raise ValueError(f"Fisher sample count n={n!r} must lie in 1..{size} (the size of the {split} split)")
    index = role_rng(fisher_seed, "fisher").permutation(size)[:n]
    return x[torch.as_tensor(index)]
