"""Tests of grokcore.fisher: Fisher diagonal (closed form, nngeometry, analytic cases) and Fisher samples."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nngeometry.metrics import FIM
from nngeometry.object import PMatDiag
from torch import nn
from torch.func import functional_call, jacrev, vmap
from torch.utils.data import DataLoader, TensorDataset

from grokcore.fisher import DEFAULT_FISHER, VARIANTS, fim_diag, fisher_samples
from grokcore.models import (
    P_MODADD,
    TASKS,
    IsingCNN,
    ModAddMLP,
    load_flat,
    n_params,
    param_tensor_names,
    scaled_init,
)
from grokcore.seeds import RunSeeds


def _two_hot(a: torch.Tensor, b: torch.Tensor, p: int = P_MODADD) -> torch.Tensor:
    """Two-hot inputs (N, 2p) of the pairs (a, b)."""
    return torch.cat([nn.functional.one_hot(a, p), nn.functional.one_hot(b, p)], dim=1).float()


def _modadd_inputs(n: int, seed: int = 0, p: int = P_MODADD) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return _two_hot(torch.randint(0, p, (n,), generator=gen), torch.randint(0, p, (n,), generator=gen), p)


def _spins(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n, 1, 16, 16), generator=gen).float() * 2 - 1


def _model(task: str, alpha: float, seed: int = 0) -> nn.Module:
    model = IsingCNN() if task == "ising" else ModAddMLP()
    return load_flat(model, scaled_init(task, alpha, torch.Generator().manual_seed(seed)))


def _per_sample_fisher(model: nn.Module, x: torch.Tensor, variant: str) -> np.ndarray:
    """The definition itself, from per-sample Jacobians (torch.func) in float64, shape (param,)."""
    model = copy.deepcopy(model).double()
    params = {name: p.detach() for name, p in model.named_parameters()}

    def outputs(params, xn):
        logits = functional_call(model, params, (xn.unsqueeze(0),)).squeeze(0)
        return logits if variant == "regression" else torch.log_softmax(logits, dim=0)

    jac = vmap(jacrev(outputs), in_dims=(None, 0))(params, x.double())  # name -> (N, C, *shape)
    flat = torch.cat([jac[name].flatten(2) for name in params], dim=2)  # (N, C, param)
    weight = torch.ones(flat.shape[:2], dtype=torch.float64)
    if variant == "classif_logits":
        weight = torch.softmax(model(x.double()), dim=1).detach()
    return (weight.unsqueeze(-1) * flat**2).sum(dim=1).mean(dim=0).numpy()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("alpha", [1.0, 3.0, 10.0])
def test_closed_form_matches_nngeometry(variant, alpha):
    """At α = 10 nngeometry's own `classif_logits` is NaN; our route through it must stay finite and agree."""
    model, x = _model("modadd", alpha), _modadd_inputs(32)
    closed = fim_diag(model, x, variant, method="closed_form")
    reference = fim_diag(model, x, variant, method="nngeometry")
    assert closed.dtype == np.float32 and closed.shape == (n_params("modadd"),)
    np.testing.assert_allclose(closed, reference, rtol=1e-4, atol=1e-4 * reference.max())
    assert closed.max() > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_closed_form_matches_definition_small_mlp(variant):
    p, model = 7, ModAddMLP(p=7, hidden=16)
    x = _modadd_inputs(20, p=p)
    expected = _per_sample_fisher(model, x, variant)
    np.testing.assert_allclose(fim_diag(model, x, variant), expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("method", ["per_sample", "nngeometry"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_ising_fisher_matches_definition(variant, method):
    model, x = _model("ising", 1.0), _spins(6)
    fisher = fim_diag(model, x, variant, method=method)
    assert fisher.dtype == np.float32 and fisher.shape == (n_params("ising"),)
    np.testing.assert_allclose(fisher, _per_sample_fisher(model, x, variant), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("alpha", [0.3, 1.0, 3.0])
def test_ising_per_sample_matches_nngeometry(variant, alpha, monkeypatch):
    """Over more samples than one batch of each, so that the batches' sums are added (at larger α the softmax
    saturates and Eq. 14 vanishes: test_saturated_classif_logits_is_finite_and_zero)."""
    monkeypatch.setattr("grokcore.fisher.FISHER_BATCH_SIZE", 32)
    model, x = _model("ising", alpha, seed=3), _spins(70, seed=4)
    ours = fim_diag(model, x, variant, method="per_sample")
    reference = fim_diag(model, x, variant, method="nngeometry")
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5 * reference.max())
    assert ours.max() > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_per_sample_matches_the_modadd_closed_form(variant):
    model, x = _model("modadd", 1.0), _modadd_inputs(24)
    np.testing.assert_allclose(fim_diag(model, x, variant, method="per_sample"),
                               fim_diag(model, x, variant, method="closed_form"), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("model", [nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3)),
                                   nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten())])
def test_per_sample_rejects_layers_it_cannot_split_by_sample(model):
    with pytest.raises(ValueError, match="Linear and ungrouped Conv2d"):
        fim_diag(model, torch.randn(3, 2, 4, 4) if isinstance(model[0], nn.Conv2d) else torch.randn(3, 4),
                 method="per_sample")


@pytest.mark.parametrize(("task", "x"), [("ising", _spins(16)), ("modadd", _modadd_inputs(16))])
def test_classif_logits_equals_nngeometry_native_variant(task, x):
    """Our score-row route equals nngeometry's own `classif_logits` where the latter is finite."""
    model = _model(task, 1.0)
    native = FIM(model, DataLoader(TensorDataset(x), batch_size=16), PMatDiag, variant="classif_logits")
    native = native.get_diag().numpy()
    ours = fim_diag(model, x, "classif_logits", method="nngeometry")
    np.testing.assert_allclose(ours, native, rtol=1e-4, atol=1e-4 * native.max())


@pytest.mark.parametrize("variant", VARIANTS)
def test_linear_model_analytic(variant):
    """z = Wx + b: regression F(W_ki) = mean x_i², F(b_k) = 1; Eq. 14 F(W_ki) = mean p_k(1 − p_k) x_i²."""
    torch.manual_seed(0)
    model, x = nn.Linear(5, 3), torch.randn(40, 5)
    q = torch.ones(40, 3) if variant == "regression" else (lambda p: p * (1 - p))(torch.softmax(model(x), 1))
    q = q.detach().double()
    expected = torch.cat([(q.T @ x.double() ** 2).flatten(), q.sum(0)]) / 40
    np.testing.assert_allclose(fim_diag(model, x, variant), expected.numpy(), rtol=1e-5)


SATURATED = [("modadd", 300.0, "closed_form"), ("modadd", 300.0, "nngeometry"), ("ising", 30.0, "nngeometry"),
             ("ising", 30.0, "per_sample")]


@pytest.mark.parametrize(("task", "alpha", "method"), SATURATED)
def test_saturated_classif_logits_is_finite_and_zero(task, alpha, method):
    """A large weight multiplier saturates the softmax: the Eq. 14 Fisher vanishes without NaN."""
    model = _model(task, alpha)
    x = _modadd_inputs(16) if task == "modadd" else _spins(16)
    assert torch.softmax(model(x), 1).max(1).values.min() > 1 - 1e-4
    fisher = fim_diag(model, x, "classif_logits", method=method)
    regression = fim_diag(model, x, "regression", method=method)
    assert np.isfinite(fisher).all() and (fisher >= 0).all()
    assert fisher.max() < 1e-6 * regression.max()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("method", ["closed_form", "nngeometry", "per_sample"])
def test_modadd_zero_pattern_of_unseen_tokens(variant, method):
    """With 16 pairs only the input columns of tokens that appear get gradient, hence non-zero Fisher."""
    a, b = torch.arange(16), torch.arange(16) + 50
    fisher = fim_diag(_model("modadd", 1.0), _two_hot(a, b), variant, method=method)
    w_in = fisher[param_tensor_names("modadd") == "fc_in.weight"].reshape(512, 2 * P_MODADD)
    seen = np.zeros(2 * P_MODADD, dtype=bool)
    seen[a.numpy()] = seen[P_MODADD + b.numpy()] = True
    assert (w_in[:, ~seen] == 0).all()
    assert (w_in[:, seen].max(axis=0) > 0).all()


def test_fim_diag_rejects_bad_input():
    model, x = _model("modadd", 1.0), _modadd_inputs(4)
    with pytest.raises(ValueError, match="'empirical'"):
        fim_diag(model, x, "empirical")
    with pytest.raises(ValueError, match="'exact'"):
        fim_diag(model, x, method="exact")
    with pytest.raises(ValueError, match=r"\(0, 226\)"):
        fim_diag(model, x[:0])
    with pytest.raises(ValueError, match="IsingCNN"):
        fim_diag(IsingCNN(), _spins(2), method="closed_form")


def _data(n_train: int = 30, n_test: int = 20) -> SimpleNamespace:
    return SimpleNamespace(x_train=_modadd_inputs(n_train, seed=1), x_test=_modadd_inputs(n_test, seed=2))


@pytest.mark.parametrize("split", ["train", "test"])
def test_fisher_samples_whole_split(split):
    data = _data()
    for n in (None, getattr(data, f"x_{split}").shape[0]):
        assert torch.equal(fisher_samples(data, 0, split, n), getattr(data, f"x_{split}"))


def test_fisher_samples_subset_is_the_fisher_stream_permutation():
    data = _data()
    drawn = fisher_samples(data, 7, "test", 5)
    index = RunSeeds(0, 0, 0, 7).numpy("fisher").permutation(20)[:5]
    assert torch.equal(drawn, data.x_test[index])
    assert torch.equal(drawn, fisher_samples(data, 7, "test", 5))
    assert not torch.equal(drawn, fisher_samples(data, 8, "test", 5))


@pytest.mark.parametrize(("split", "n", "message"), [("valid", None, "'valid'"), ("test", 0, "n=0"),
                                                     ("test", 21, "n=21"), ("train", -1, "n=-1")])
def test_fisher_samples_rejects_bad_input(split, n, message):
    with pytest.raises(ValueError, match=message):
        fisher_samples(_data(), 0, split, n)


def test_default_fisher_covers_tasks():
    assert set(DEFAULT_FISHER) == set(TASKS)
    data = _data(n_test=40)
    assert fisher_samples(data, 0, *DEFAULT_FISHER["modadd"]).shape == (16, 2 * P_MODADD)
    assert fisher_samples(data, 0, *DEFAULT_FISHER["ising"]).shape == (40, 2 * P_MODADD)
