"""Tests of the ensemble trainer against plain one-model-at-a-time PyTorch training."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from tqdm import tqdm
from train_speed import plain_training

from grokcore.ensemble import StackedNet, two_hot_tokens
from grokcore.models import P_MODADD, flat_params, model_at, scaled_init
from grokcore.numerics import keep_freed_memory
from grokcore.seeds import RunSeeds
from grokcore.train import CHUNK_ROWS, METRICS, EnsembleTrainer, TrainConfig

ALPHAS = (0.5, 1.0, 2.0)
SEEDS = RunSeeds(data=0, init=1, batch=2, fisher=3)
SETTINGS = {
    "ising": {"lr": 1e-3, "weight_decay": 0.1, "batch_size": None},
    "modadd": {"lr": 5e-3, "weight_decay": 3e-5, "batch_size": 64},
}


def split(task: str, x: torch.Tensor, y: torch.Tensor, n_train: int) -> SimpleNamespace:
    """A TaskData-like object: the first n_train rows train, the rest test."""
    return SimpleNamespace(task=task, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])


def ising_data(n_train: int = 150, n_test: int = 130, seed: int = 0) -> SimpleNamespace:
    """TaskData-like random ±1 snapshots, labelled by the sign of the magnetisation (a learnable rule)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n_train + n_test, 1, 16, 16), generator=gen).float() * 2 - 1
    y = (x.sum(dim=(1, 2, 3)) > 0).long()
    return split("ising", x, y, n_train)


def modadd_data(n_train: int = 200, n_test: int = 100, seed: int = 0) -> SimpleNamespace:
    """TaskData-like two-hot rows of random pairs (a, b) → (a+b) mod 113 (a subset, to stay fast)."""
    pairs = torch.randperm(P_MODADD**2, generator=torch.Generator().manual_seed(seed))[: n_train + n_test]
    a, b = pairs // P_MODADD, pairs % P_MODADD
    x = torch.cat([F.one_hot(a, P_MODADD), F.one_hot(b, P_MODADD)], dim=1).float()
    y = (a + b) % P_MODADD
    return split("modadd", x, y, n_train)


# Small splits and few epochs keep the module fast; the mod-add split ends with a short batch, and one Ising case
# splits its batches into several forward passes (CHUNK_ROWS).
DATA = {"ising": ising_data(), "modadd": modadd_data()}


def config(task: str, epochs: int = 4, **overrides) -> TrainConfig:
    return TrainConfig(task=task, epochs=epochs, **{**SETTINGS[task], **overrides})


def assert_same_parameters(actual: np.ndarray, desired: np.ndarray, lr: float) -> None:
    """θ agrees to float round-off: nearly all entries to 1e-6. Where a gradient is near zero, Adam's m/√v
    turns its round-off into an O(1) relative change of a step, so the rare outliers are bounded by lr/100."""
    diff = np.abs(actual - desired)
    assert np.quantile(diff, 0.999) < 1e-6
    np.testing.assert_allclose(actual, desired, rtol=0, atol=lr / 100)


@pytest.mark.parametrize(
    ("task", "overrides", "chunk_rows"),
    [
        ("ising", {}, None),
        ("ising", {}, 64),  # gradients accumulated over forward passes
        ("ising", {"batch_size": 64}, None),  # minibatches for Ising too
        ("modadd", {}, None),
        ("modadd", {"shuffle": True}, None),
        ("modadd", {"eval_every": 2}, None),
    ],
)
def test_ensemble_matches_separate_plain_training(task, overrides, chunk_rows, monkeypatch):
    if chunk_rows is not None:
        monkeypatch.setitem(CHUNK_ROWS, task, chunk_rows)
    cfg = config(task, epochs=4 if task == "ising" else 3, **overrides)
    trainer = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    trainer.train_until(cfg.epochs)
    theta, metrics = trainer.theta(), trainer.metrics()
    for i, alpha in enumerate(ALPHAS):
        plain_theta, plain_metrics = plain_training(DATA[task], alpha, SEEDS, cfg)
        assert_same_parameters(theta[i], plain_theta, cfg.lr)
        for name in METRICS:
            np.testing.assert_allclose(metrics[name][i], plain_metrics[name], rtol=1e-5, atol=1e-6)


# Two seeds with their own data splits (equal sizes), init, batch order: the ensemble spanning them must train
# every model exactly as the one-seed trainer of its seed does, bit for bit.
OTHER_SEEDS = RunSeeds(data=5, init=6, batch=7, fisher=8)
OTHER_DATA = {"ising": ising_data(seed=1), "modadd": modadd_data(seed=1)}


@pytest.mark.parametrize(("task", "overrides"), [("ising", {}), ("ising", {"batch_size": 64, "shuffle": True}),
                                                 ("modadd", {"shuffle": True}), ("modadd", {})])
def test_ensemble_spanning_seeds_trains_each_seed_as_alone(task, overrides):
    cfg = config(task, epochs=3, **overrides)
    both = EnsembleTrainer([DATA[task], OTHER_DATA[task]], ALPHAS, [SEEDS, OTHER_SEEDS], cfg)
    assert both.n_models == 2 * len(ALPHAS) and both.seed_models(1) == slice(3, 6)
    both.train_until(cfg.epochs)
    for k, (data, seeds) in enumerate([(DATA[task], SEEDS), (OTHER_DATA[task], OTHER_SEEDS)]):
        alone = EnsembleTrainer(data, ALPHAS, seeds, cfg)
        alone.train_until(cfg.epochs)
        np.testing.assert_array_equal(both.theta()[both.seed_models(k)], alone.theta())
        for name in METRICS:
            np.testing.assert_array_equal(both.metrics()[name][both.seed_models(k)], alone.metrics()[name])
        state, alone_state = both.state_dict(k), alone.state_dict()
        np.testing.assert_array_equal(state["batch_generator_state"], alone_state["batch_generator_state"])
        assert state["theta"].shape == alone_state["theta"].shape and state["adam_step"] == alone_state["adam_step"]


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_a_model_trained_alone_has_the_bits_it_has_in_any_ensemble(task):
    # Ensembles of 1, 2 and 3 models put different models' elements at the ends of the stacked tensors, where
    # torch's fused Adam on the CPU rounds differently; the trainer hands it each model's tensors apart.
    cfg = config(task, epochs=8, shuffle=True)
    full = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    full.train_until(cfg.epochs)
    for members in ([1], [2], [0, 2]):
        part = EnsembleTrainer(DATA[task], [ALPHAS[i] for i in members], SEEDS, cfg)
        part.train_until(cfg.epochs)
        np.testing.assert_array_equal(part.theta(), full.theta()[members])
        for name in METRICS:
            np.testing.assert_array_equal(part.metrics()[name], full.metrics()[name][members])


def test_ensemble_spanning_seeds_resumes_from_per_seed_states():
    cfg = config("modadd", epochs=3, shuffle=True)
    datas, seeds = [DATA["modadd"], OTHER_DATA["modadd"]], [SEEDS, OTHER_SEEDS]
    straight = EnsembleTrainer(datas, ALPHAS, seeds, cfg)
    straight.train_until(3)
    first = EnsembleTrainer(datas, ALPHAS, seeds, cfg)
    first.train_until(1)
    resumed = EnsembleTrainer(datas, ALPHAS, seeds, cfg)
    resumed.load_state_dict([first.state_dict(0), first.state_dict(1)])
    resumed.train_until(3)
    for k in range(2):
        for key, value in straight.state_dict(k).items():
            np.testing.assert_array_equal(resumed.state_dict(k)[key], value, err_msg=key)


def test_ensemble_spanning_seeds_refuses_mismatched_inputs():
    cfg = config("ising", epochs=2)
    with pytest.raises(ValueError, match="2 data splits for 1 seeds"):
        EnsembleTrainer([DATA["ising"], OTHER_DATA["ising"]], ALPHAS, [SEEDS], cfg)
    with pytest.raises(ValueError, match=r"y_train sizes differ \(\[100, 150\]\)"):
        EnsembleTrainer([DATA["ising"], ising_data(n_train=100)], ALPHAS, [SEEDS, OTHER_SEEDS], cfg)
    both = EnsembleTrainer([DATA["ising"], OTHER_DATA["ising"]], ALPHAS, [SEEDS, OTHER_SEEDS], cfg)
    early = both.state_dict(0)
    both.train_until(1)
    with pytest.raises(ValueError, match=r"different epochs \[0, 1\]"):
        both.load_state_dict([early, both.state_dict(1)])
    with pytest.raises(ValueError, match="1 states for a trainer of 2 seeds"):
        both.load_state_dict(early)
    with pytest.raises(ValueError, match="seed index 2 out of range for 2 seeds"):
        both.seed_models(2)


@pytest.mark.parametrize("task", ["ising", "modadd"])
def test_checkpoint_zero_is_alpha_times_base_init(task):
    trainer = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, config(task))
    assert trainer.epoch == 0 and trainer.n_models == len(ALPHAS)
    for i, alpha in enumerate(ALPHAS):
        np.testing.assert_array_equal(trainer.theta()[i], scaled_init(task, alpha, SEEDS.torch("init")).numpy())
    assert trainer.theta().dtype == np.float32


def test_models_of_different_seeds_start_apart():
    other = RunSeeds(data=0, init=9, batch=2, fisher=3)
    first = EnsembleTrainer(DATA["ising"], [1.0], SEEDS, config("ising")).theta()
    second = EnsembleTrainer(DATA["ising"], [1.0], other, config("ising")).theta()
    assert not np.array_equal(first, second)


@pytest.mark.parametrize(("task", "shuffle"), [("ising", False), ("modadd", False), ("modadd", True)])
def test_resume_from_state_dict_is_bit_identical(task, shuffle):
    cfg = config(task, epochs=5 if task == "ising" else 3, shuffle=shuffle)
    straight = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    straight.train_until(cfg.epochs)

    first = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    first.train_until(2)
    state = first.state_dict()
    resumed = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2
    resumed.train_until(cfg.epochs)

    final, final_resumed = straight.state_dict(), resumed.state_dict()
    assert final.keys() == final_resumed.keys()
    for key in final:
        np.testing.assert_array_equal(final_resumed[key], final[key], err_msg=key)


def test_state_dict_holds_adam_state_in_parameter_layout():
    cfg = config("modadd", epochs=1)
    trainer = EnsembleTrainer(DATA["modadd"], ALPHAS, SEEDS, cfg)
    state = trainer.state_dict()
    assert state["adam_step"] == 0 and state["epoch"] == 0
    assert not state["exp_avg"].any() and not state["exp_avg_sq"].any()
    trainer.train_until(1)
    state = trainer.state_dict()
    n_batches = math.ceil(200 / 64)
    assert state["adam_step"] == n_batches and state["epoch"] == 1
    for key in ("theta", "exp_avg", "exp_avg_sq"):
        assert state[key].shape == (len(ALPHAS), 174193) and state[key].dtype == np.float32
    # Adam's moments equal those of a plain single-model Adam run, tensor by tensor in θ's layout.
    model = model_at("modadd", scaled_init("modadd", ALPHAS[1], SEEDS.torch("init")))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    data = DATA["modadd"]
    for start in range(0, 200, 64):
        optimizer.zero_grad()
        F.cross_entropy(model(data.x_train[start : start + 64]), data.y_train[start : start + 64]).backward()
        optimizer.step()
    for key in ("exp_avg", "exp_avg_sq"):
        plain = torch.cat([optimizer.state[p][key].flatten() for p in model.parameters()]).numpy()
        np.testing.assert_allclose(state[key][1], plain, rtol=1e-4, atol=1e-9 if key == "exp_avg" else 1e-12)


def test_state_dict_at_epoch_zero_resumes_to_the_same_run():
    cfg = config("ising", epochs=3)
    straight = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, cfg)
    state = straight.state_dict()
    straight.train_until(3)
    resumed = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, cfg)
    resumed.train_until(1)
    resumed.load_state_dict(state)
    assert resumed.epoch == 0 and np.isnan(resumed.metrics()["train_loss"]).all()
    resumed.train_until(3)
    np.testing.assert_array_equal(resumed.theta(), straight.theta())


def test_load_state_dict_rejects_other_weight_multipliers():
    cfg = config("ising")
    state = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, cfg).state_dict()
    with pytest.raises(ValueError, match="weight multipliers"):
        EnsembleTrainer(DATA["ising"], [0.5, 1.0, 4.0], SEEDS, cfg).load_state_dict(state)


def test_shuffle_changes_minibatch_training_only():
    results = {}
    for task in ("ising", "modadd"):
        for shuffle in (False, True):
            trainer = EnsembleTrainer(DATA[task], ALPHAS[:1], SEEDS, config(task, epochs=2, shuffle=shuffle))
            trainer.train_until(2)
            results[task, shuffle] = trainer.theta()
    # A full batch is never permuted; minibatches are.
    np.testing.assert_array_equal(results["ising", True], results["ising", False])
    assert not np.allclose(results["modadd", True], results["modadd", False])


def test_shuffled_order_depends_on_the_batch_seed():
    thetas = []
    for batch_seed in (2, 5):
        seeds = RunSeeds(data=0, init=1, batch=batch_seed, fisher=3)
        trainer = EnsembleTrainer(DATA["modadd"], ALPHAS[:1], seeds, config("modadd", epochs=1, shuffle=True))
        trainer.train_until(1)
        thetas.append(trainer.theta())
    assert not np.allclose(*thetas)


def test_metrics_are_nan_where_not_run_or_not_evaluated():
    cfg = config("ising", epochs=7, eval_every=3)
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, cfg)
    trainer.train_until(5)
    metrics = trainer.metrics()
    assert all(values.shape == (len(ALPHAS), 7) and values.dtype == np.float32 for values in metrics.values())
    ran = np.arange(7) < 5
    assert np.isfinite(metrics["train_loss"][:, ran]).all() and np.isnan(metrics["train_loss"][:, ~ran]).all()
    assert np.isfinite(metrics["train_acc"][:, ran]).all()
    assert np.isfinite(metrics["test_acc"][:, 2]).all()
    assert np.isnan(np.delete(metrics["test_acc"], 2, axis=1)).all()
    trainer.train_until(7)
    evaluated = np.isfinite(trainer.metrics()["test_loss"]).all(axis=0)
    np.testing.assert_array_equal(np.flatnonzero(evaluated), [2, 5, 6])  # every 3 epochs, and the last


def test_full_batch_train_metrics_are_the_loss_at_the_start_of_the_epoch():
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, config("ising", epochs=2))
    data = DATA["ising"]
    expected = []
    for _ in range(2):
        with torch.no_grad():
            logits = trainer.member(1)(data.x_train)
        expected.append(F.cross_entropy(logits, data.y_train).item())
        trainer.train_until(trainer.epoch + 1)
    np.testing.assert_allclose(trainer.metrics()["train_loss"][1], expected, rtol=1e-6)


def test_train_until_advances_a_given_progress_bar():
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, config("ising", epochs=3))
    with tqdm(total=3, file=io.StringIO()) as bar:
        trainer.train_until(2, progress=bar)
        assert bar.n == 2
    trainer.train_until(3, progress=True)
    assert trainer.epoch == 3


def test_train_until_calls_keep_freed_memory():
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, config("ising", epochs=1))
    keep_freed_memory.cache_clear()  # as in a fresh process (the setting itself stays)
    trainer.train_until(1)
    assert keep_freed_memory.cache_info().currsize == 1


@pytest.mark.parametrize("epoch", [0, 4, 1.5, True])  # behind the trainer, past the run, not an int
def test_train_until_rejects_epochs_outside_the_run(epoch):
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, config("ising", epochs=3))
    trainer.train_until(1)
    with pytest.raises(ValueError, match="epoch"):
        trainer.train_until(epoch)


@pytest.mark.parametrize("alphas", [[], [1.0, 0.0], [-1.0], [math.nan], [[1.0, 2.0]]])
def test_trainer_rejects_bad_weight_multipliers(alphas):
    with pytest.raises(ValueError, match="weight_multipliers"):
        EnsembleTrainer(DATA["ising"], alphas, SEEDS, config("ising"))


def test_trainer_rejects_data_of_another_task():
    with pytest.raises(ValueError, match="'modadd'"):
        EnsembleTrainer(DATA["modadd"], ALPHAS, SEEDS, config("ising"))


def test_member_is_a_standalone_copy():
    trainer = EnsembleTrainer(DATA["ising"], ALPHAS, SEEDS, config("ising", epochs=2))
    member = trainer.member(2)
    trainer.train_until(2)
    np.testing.assert_array_equal(flat_params(member).numpy(), scaled_init("ising", 2.0, SEEDS.torch("init")).numpy())
    np.testing.assert_array_equal(flat_params(trainer.member(2)).numpy(), trainer.theta()[2])


@pytest.mark.parametrize(
    ("overrides", "bad"),
    [
        ({"task": "mnist"}, "'mnist'"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"batch_size": 0}, "batch_size"),
        ({"eval_every": 0}, "eval_every"),
        ({"shuffle": 1}, "shuffle"),
        ({"device": "gpu0"}, "device"),
    ],
)
def test_config_rejects_bad_values(overrides, bad):
    kwargs = {"task": "ising", "epochs": 3, "lr": 1e-3, "weight_decay": 0.1, **overrides}
    with pytest.raises(ValueError, match=bad):
        TrainConfig(**kwargs)


def test_config_accepts_cuda_device_name_without_a_gpu():
    assert TrainConfig(task="ising", epochs=1, lr=1e-3, weight_decay=0.0, device="cuda").device == "cuda"


@pytest.mark.parametrize("task", ["ising", "modadd"])
@pytest.mark.parametrize(("alpha", "epoch"), [(1e300, 0), (1e20, 1)], ids=["init-overflows", "loss-overflows"])
def test_a_non_finite_model_is_marked_diverged_and_leaves_its_neighbour_alone(task, alpha, epoch):
    cfg = config(task, epochs=3)
    trainer = EnsembleTrainer(DATA[task], (1.0, alpha), SEEDS, cfg)
    trainer.train_until(cfg.epochs)
    alone = EnsembleTrainer(DATA[task], (1.0,), SEEDS, cfg)
    alone.train_until(cfg.epochs)
    assert trainer.diverged_epoch().tolist() == [-1, epoch]
    assert np.isnan(trainer.theta()[1]).all() and np.isfinite(trainer.theta()[0]).all()
    np.testing.assert_array_equal(trainer.theta()[0], alone.theta()[0])
    for name, values in trainer.metrics().items():
        assert np.isnan(values[1]).all(), name  # no accuracy of a NaN model that looks like a result
        np.testing.assert_array_equal(values[0], alone.metrics()[name][0])
    resumed = EnsembleTrainer(DATA[task], (1.0, alpha), SEEDS, cfg)
    resumed.load_state_dict(trainer.state_dict())
    assert resumed.diverged_epoch().tolist() == [-1, epoch]


@pytest.mark.parametrize(("name", "value"), [("fc_in.weight", -math.inf), ("fc_out.weight", math.inf),
                                             ("fc_out.bias", math.nan)])
def test_one_non_finite_parameter_value_marks_its_model_diverged(name, value):
    # W_in is stored transposed; -inf shows only in a minimum, +inf only in a maximum.
    trainer = EnsembleTrainer(DATA["modadd"], ALPHAS, SEEDS, config("modadd", epochs=2))
    with torch.no_grad():
        model_1 = dict(trainer.net.named_parameters())[name][1]
        model_1[(3,) * model_1.ndim] = value
    trainer._note_divergence(None)
    assert trainer.diverged_epoch().tolist() == [-1, 0] + [-1] * (len(ALPHAS) - 2)


def test_training_stops_once_every_model_has_diverged(monkeypatch):
    trainer = EnsembleTrainer(DATA["modadd"], (1e300,), SEEDS, config("modadd", epochs=50))
    monkeypatch.setattr(trainer, "_train_epoch", lambda: pytest.fail("a diverged ensemble was trained"))
    trainer.train_until(50)
    assert trainer.epoch == 50 and trainer.diverged_epoch().tolist() == [0]
    assert all(np.isnan(values).all() for values in trainer.metrics().values())


@pytest.mark.parametrize("batch_size", [64, 200])  # 200: passes of CHUNK_ROWS rows
def test_dense_two_hot_rows_train_to_the_token_lookups_bits(batch_size, monkeypatch):
    # On a GPU the trainer feeds mod-add the dense two-hot rows (no atomic scatter); on the CPU, token pairs. With
    # batches of at most CHUNK_ROWS rows the two forms sum in the same order, so they give the same bits.
    assert batch_size <= CHUNK_ROWS["modadd"]
    cfg = config("modadd", epochs=3, batch_size=batch_size)
    lookup = EnsembleTrainer(DATA["modadd"], ALPHAS, SEEDS, cfg)
    asked = []
    monkeypatch.setattr("grokcore.train.two_hot_tokens", lambda x: asked.append(x) or None)  # "not two-hot"
    dense = EnsembleTrainer(DATA["modadd"], ALPHAS, SEEDS, cfg)
    assert len(asked) == 2  # the training and the test rows are fed dense
    for trainer in (lookup, dense):
        trainer.train_until(3)
    assert np.array_equal(lookup.theta(), dense.theta())
    for name in METRICS:
        np.testing.assert_array_equal(lookup.metrics()[name], dense.metrics()[name])


@pytest.mark.parametrize(("task", "chunk_rows"), [("ising", None), ("ising", 40), ("modadd", None), ("modadd", 24)])
def test_each_step_is_torch_adams_step_bit_for_bit(task, chunk_rows, monkeypatch):
    # The trainer takes hand-written gradients (mod-add), sums them over passes of CHUNK_ROWS rows and calls
    # Adam's fused kernel itself. Autograd through forward, accumulating each pass into .grad, and
    # torch.optim.Adam stepping each model's parameters alone (contiguous copies in the trainer's memory layout:
    # W_in stored transposed) must land on the same bits.
    if chunk_rows:
        monkeypatch.setitem(CHUNK_ROWS, task, chunk_rows)
    cfg = config(task, epochs=3)
    trainer = EnsembleTrainer(DATA[task], ALPHAS, SEEDS, cfg)
    net = StackedNet.from_theta(task, trainer.theta())
    layout = [p if p.is_contiguous() else p.transpose(1, 2) for p in net.parameters()]
    leaves = [torch.nn.Parameter(view[i].detach().clone()) for view in layout for i in range(len(ALPHAS))]
    adam = torch.optim.Adam(leaves, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    x, y = DATA[task].x_train, DATA[task].y_train
    x = two_hot_tokens(x) if task == "modadd" else x
    size, rows = cfg.batch_size or len(y), CHUNK_ROWS[task]
    for _ in range(cfg.epochs):
        for start in range(0, len(y), size):
            x_batch, y_batch = x[start : start + size], y[start : start + size]
            for first in range(0, len(y_batch), rows):
                logits = net(x_batch[first : first + rows])
                labels = y_batch[first : first + rows].repeat(len(ALPHAS))
                ce = F.cross_entropy(logits.flatten(0, 1), labels, reduction="none")
                (ce.view(len(ALPHAS), -1).sum(dim=1).sum() / len(y_batch)).backward()
            grads = [p.grad if view is p else p.grad.transpose(1, 2)
                     for view, p in zip(layout, net.parameters(), strict=True)]
            for leaf, grad in zip(leaves, [g[i] for g in grads for i in range(len(ALPHAS))], strict=True):
                leaf.grad = grad.contiguous()
            adam.step()
            net.zero_grad(set_to_none=True)
            with torch.no_grad():
                for leaf, view in zip(leaves, [v[i] for v in layout for i in range(len(ALPHAS))], strict=True):
                    view.copy_(leaf)
    trainer.train_until(cfg.epochs)
    assert np.array_equal(trainer.theta(), net.theta().numpy())
