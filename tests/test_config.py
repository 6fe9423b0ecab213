"""Tests of the experiment definitions: every TOML file loads at every scale, and bad values are named."""

import dataclasses
import json

import pytest

from repro.config import SCALES, Experiment, experiment_from_dict, experiment_names, load_experiment

PAPER_EXPERIMENTS = {"ising-main", "modadd-main", "modadd-dynamics", "modadd-bs200", "modadd-wd"}


def test_every_paper_experiment_is_defined():
    assert PAPER_EXPERIMENTS <= set(experiment_names())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(PAPER_EXPERIMENTS))
def test_experiments_load_and_checkpoints_include_ends(name, scale):
    exp = load_experiment(name, scale)
    assert exp.checkpoint_epochs[0] == 0 and exp.checkpoint_epochs[-1] == exp.epochs
    assert sorted(i for group in exp.alpha_groups() for i in group) == list(range(len(exp.weight_multipliers)))


def test_full_scale_hyperparameters_follow_the_spec():
    ising = load_experiment("ising-main", "full")
    assert (ising.epochs, ising.lr, ising.weight_decay, ising.batch_size) == (100_000, 1e-4, 0.1, 300)
    assert ising.checkpoint_epochs == tuple(range(0, 100_001, 200))
    modadd = load_experiment("modadd-main", "full")
    assert (modadd.epochs, modadd.lr, modadd.weight_decay, modadd.batch_size) == (1000, 5e-3, 3e-5, 64)
    assert modadd.fisher.n_samples == 16
    assert load_experiment("modadd-bs200", "full").batch_size == 200
    assert load_experiment("modadd-wd", "full").weight_decay == pytest.approx(3e-4)
    dynamics = load_experiment("modadd-dynamics", "full")
    assert dynamics.weight_multipliers == (0.1, 10.0)
    assert dynamics.checkpoint_epochs[:501] == tuple(range(501)) and len(dynamics.checkpoint_epochs) == 551


def test_quick_scale_keeps_the_grokking_and_a_learning_archetype():
    for name in PAPER_EXPERIMENTS:
        alphas = load_experiment(name, "quick").weight_multipliers
        assert min(alphas) <= 1 and max(alphas) == 10


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("weight_multipliers", [0.5, -1.0], "weight multipliers must be > 0"),
     ("seeds", [0, 0], "seeds must be distinct"),
     ("task", "mnist", "unknown task 'mnist'"),
     ("device", "tpu", "device must be"),
     ("checkpoints", [[10, 5, 1]], "checkpoint segments")],
)
def test_bad_values_are_named(key, value, message):
    raw = {"task": "modadd", "weight_multipliers": [1.0], "seeds": [0],
           "train": {"epochs": 2, "lr": 1e-3, "weight_decay": 0.0}}
    raw[key] = value
    with pytest.raises(ValueError, match=message):
        experiment_from_dict(raw, name="bad", scale="tiny")


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        load_experiment("nope")
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        load_experiment("modadd-main", "huge")


@pytest.mark.parametrize("name", sorted(PAPER_EXPERIMENTS))
def test_config_round_trips_through_json(name):
    exp = load_experiment(name, "quick")
    assert Experiment.from_dict(json.loads(exp.to_json())) == exp
    stored = exp.to_dict()
    del stored["device"]  # what a store's `config` attribute holds
    assert Experiment.from_dict(stored) == dataclasses.replace(exp, device="cpu")
    assert dataclasses.replace(exp, device="cuda").to_dict()["device"] == "cuda"
