"""Tests of grokcore.measures.llc: the SGLD local-learning-coefficient estimator (§4.15)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from grokcore.measures.llc import local_learning_coefficient, local_learning_coefficients, sgld_move
from grokcore.models import P_MODADD, init_theta, model_at


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """SGLD steps on tiny models are overhead-bound: a second intra-op thread slows them down several-fold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(1))
    return model, x, x[:, :3].argmax(1)


def test_estimate_is_finite_deterministic_for_a_seed_and_leaves_the_model_alone():
    model, x, y = _classifier()
    before = [p.detach().clone() for p in model.parameters()]
    runs = [
        local_learning_coefficient(model, x, y, n_steps=60, batch_size=32, generator=torch.Generator().manual_seed(s))
        for s in (5, 5, 6)
    ]
    assert np.isfinite(runs[0].llc) and runs[0].chain_loss.shape == (60,)
    assert runs[0].llc == runs[1].llc
    np.testing.assert_array_equal(runs[0].chain_loss, runs[1].chain_loss)
    assert runs[0].llc != runs[2].llc
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)


def _linear_regression(d: int = 60, n: int = 10_000):
    """Exact linear regression with MSE: L_n(w) − L_n(w*) = ½ (w − w*)ᵀ H (w − w*), H = xᵀx/n ≈ I, regular."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=gen)
    w_star = torch.randn(d, generator=gen)
    model = nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(w_star[None])
    return model, x, x @ w_star, w_star


def _half_mse(output, target):
    return 0.5 * ((output.squeeze(-1) - target) ** 2).mean()


def test_regular_quadratic_model_has_llc_half_its_dimension():
    model, x, y, _ = _linear_regression()
    d = x.shape[1]
    estimate = local_learning_coefficient(
        model, x, y, loss_fn=_half_mse, n_steps=3000, epsilon=1e-4, generator=torch.Generator().manual_seed(0),
    )
    assert estimate.init_loss == pytest.approx(0.0, abs=1e-10)
    # SGLD with ε·nβ ≈ 0.1 overestimates by ≈ 3% (discretisation); seeds spread by ±3%
    assert estimate.llc == pytest.approx(d / 2, rel=0.1)


@pytest.mark.parametrize(("gamma", "weight_decay"), [(1000.0, 0.0), (1.0, 0.1)])
def test_localisation_and_weight_decay_shift_the_chain_as_derived(gamma, weight_decay):
    """The chain u = w − w* is a linear Gaussian process with drift A·u + nβ·wd·w*, A = γ + nβ(H + wd): its
    stationary mean is μ = −nβ·wd·A⁻¹w* and, for step ε, its covariance Σ = (A(1 − εA/4))⁻¹, so
    λ̂ = nβ·(½μᵀHμ + ½tr(HΣ)) exactly, up to the minibatch noise."""
    model, x, y, w_star = _linear_regression()
    n, epsilon = len(x), 1e-4
    nbeta = n / np.log(n)
    h = (x.T @ x / n).double().numpy()
    a = gamma * np.eye(len(h)) + nbeta * (h + weight_decay * np.eye(len(h)))
    mu = -nbeta * weight_decay * np.linalg.solve(a, w_star.double().numpy())
    sigma = np.linalg.inv(a @ (np.eye(len(h)) - epsilon * a / 4))
    expected = nbeta * (0.5 * mu @ h @ mu + 0.5 * np.trace(h @ sigma))
    estimate = local_learning_coefficient(
        model, x, y, loss_fn=_half_mse, n_steps=3000, epsilon=epsilon, gamma=gamma, weight_decay=weight_decay,
        generator=torch.Generator().manual_seed(0),
    )
    assert estimate.llc == pytest.approx(expected, rel=0.1)


def test_too_short_chain_is_rejected():
    model, x, y = _classifier()
    with pytest.raises(ValueError, match="3"):
        local_learning_coefficient(model, x, y, n_steps=3)


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_stacked_chains_equal_separate_chains(task):
    """Every model's stacked chain is the chain `local_learning_coefficient` runs alone from the same generator
    state (same minibatches and noise), to float round-off."""
    gen = torch.Generator().manual_seed(3)
    if task == "ising":
        x = torch.randint(0, 2, (200, 1, 16, 16), generator=gen).float() * 2 - 1
        y = torch.randint(0, 2, (200,), generator=gen)
    else:
        a, b = torch.randint(0, P_MODADD, (2, 200), generator=gen)
        x = torch.cat([F.one_hot(a, P_MODADD), F.one_hot(b, P_MODADD)], dim=1).float()
        y = (a + b) % P_MODADD
    thetas = torch.stack([alpha * init_theta(task, torch.Generator().manual_seed(1)) for alpha in (0.5, 1.0, 3.0)])
    options = {"n_steps": 8, "batch_size": 32, "epsilon": 1e-4, "gamma": 100.0, "weight_decay": 0.01}
    stacked = local_learning_coefficients(task, thetas, x, y, generator=torch.Generator().manual_seed(7), **options)
    for theta, estimate in zip(thetas, stacked, strict=True):
        alone = local_learning_coefficient(model_at(task, theta), x, y, generator=torch.Generator().manual_seed(7),
                                           **options)
        np.testing.assert_allclose(estimate.chain_loss, alone.chain_loss, rtol=1e-5)
        assert estimate.init_loss == pytest.approx(alone.init_loss, rel=1e-6)
        assert estimate.llc == pytest.approx(alone.llc, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("layout", ["plain", "stored transposed", "strided", "no model axis"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgld_move_on_the_cpu_gives_the_expressions_bits(layout, weight_decay):
    # sgld_move's CPU kernel against the PyTorch expression it replaces, for the layouts a chain's tensors have
    # (W_in is stored transposed) and one it must copy back (a strided view), with and without a model axis.
    gen = torch.Generator().manual_seed(4)
    p, w_star, grad = (torch.randn(3, 7, 5, generator=gen) for _ in range(3))
    if layout == "stored transposed":
        p, w_star, grad = (t.transpose(1, 2).contiguous().transpose(1, 2) for t in (p, w_star, grad))
    elif layout == "strided":
        p = torch.randn(3, 7, 10, generator=gen)[:, :, ::2]
    elif layout == "no model axis":
        p, w_star, grad = p[0], w_star[0], grad[0]
    noise = torch.randn(7, 5, generator=gen)
    options = {"epsilon": 1e-3, "gamma": 100.0, "nbeta": 1234.5, "weight_decay": weight_decay}
    expected = p + (-options["epsilon"] / 2 * (options["gamma"] * (p - w_star) + options["nbeta"]
                                               * (grad + weight_decay * p)) + math.sqrt(options["epsilon"]) * noise)
    sgld_move(p, w_star, grad, noise, **options)
    assert torch.equal(p, expected)
