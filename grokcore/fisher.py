"""Fisher information diagonal at a checkpoint, and the inputs its average runs over (spec §2.7, §4.7)."""

from __future__ import annotations

import numpy as np
import torch
from nngeometry.metrics import FIM
from nngeometry.object import PMatDiag
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grokcore.models import ModAddMLP
from grokcore.seeds import _ROLE_TAG

VARIANTS = ("regression", "classif_logits")
METHODS = ("auto", "nngeometry", "closed_form")
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
    method "auto" uses the closed form for a ModAddMLP and nngeometry otherwise.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown Fisher variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    if method not in METHODS:
        raise ValueError(f"unknown Fisher method {method!r}: expected one of {', '.join(METHODS)}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"need at least one Fisher sample, got x of shape {tuple(x.shape)}")
    closed_form = isinstance(model, ModAddMLP) if method == "auto" else method == "closed_form"
    if closed_form and not isinstance(model, ModAddMLP):
        raise ValueError(f"the closed-form Fisher needs a ModAddMLP, got {type(model).__name__}")
    diag = _modadd_closed_form(model, x, variant) if closed_form else _nngeometry_diag(model, x, variant)
    return diag.detach().cpu().numpy().astype(np.float32)


def _nngeometry_diag(model: nn.Module, x: torch.Tensor, variant: str) -> torch.Tensor:
    """nngeometry 0.4 `PMatDiag` of the model's logits, or of the classifier's score rows, shape (param,).

    nngeometry's own `classif_logits` turns NaN when the softmax saturates (its Cholesky factor takes the root
    of a round-off-negative number), so Eq. 14 runs as a `regression` Fisher of g_c = √p_c (z_c − Σ_k p_k z_k)
    with p held constant: ∂g_c/∂θ = √p_c ∂ log p_c/∂θ, whose squares summed over c are exactly Eq. 14.
    """
    param = next(model.parameters())
    # nngeometry sets requires_grad on the batch tensor, so it must be a float leaf of the model's dtype.
    x = x.detach().to(device=param.device, dtype=param.dtype)
    loader = DataLoader(TensorDataset(x), batch_size=FISHER_BATCH_SIZE)

    def score_rows(inputs: torch.Tensor) -> torch.Tensor:
        logits = model(inputs)
        p = torch.softmax(logits, dim=1).detach()
        return p.sqrt() * (logits - (p * logits).sum(dim=1, keepdim=True))

    function = score_rows if variant == "classif_logits" else model
    fim = FIM(model, loader, PMatDiag, variant="regression", device=param.device, function=function)
    return fim.get_diag()


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
    rng = np.random.default_rng(np.random.SeedSequence([fisher_seed, _ROLE_TAG["fisher"]]))
    index = rng.permutation(size)[:n]
    return x[torch.as_tensor(index)]
