"""Tests of grokcore.data.ising: Glauber rule, energy, magnetization, the Monte Carlo data and the split."""

from __future__ import annotations

import hashlib
import json
import math
import random

import numba
import numpy as np
import pytest

from grokcore.data.ising import (
    CRITICAL_TEMPERATURE,
    IsingParams,
    delta_energy,
    generate_ising,
    glauber_flip_probability,
    ising_dataset,
    ising_energy,
    ising_split,
    magnetization,
)
from grokcore.seeds import RunSeeds

SMALL = IsingParams(L=8, temperatures=(1.5, 3.0), n_per_temperature=20, n_updates=2_000, seed=3)


def random_lattice(L, seed=0, n=None):
    shape = (L, L) if n is None else (n, L, L)
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=shape)


def test_critical_temperature():
    assert CRITICAL_TEMPERATURE == pytest.approx(2.269185314213022)


@pytest.mark.parametrize(
    ("dE", "T", "expected"),
    [(0.0, 1.0, 0.5), (0.0, 3.0, 0.5), (4.0, 2.0, 1 / (1 + math.e**2)), (-8.0, 1.0, 1 / (1 + math.e**-8))],
)
def test_glauber_flip_probability_values(dE, T, expected):
    assert glauber_flip_probability(dE, T) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dE", [0.5, 4.0, 8.0, 100.0])
@pytest.mark.parametrize("T", [0.5, 2.0, 10.0])
def test_glauber_flip_probability_is_complementary(dE, T):
    assert glauber_flip_probability(dE, T) + glauber_flip_probability(-dE, T) == pytest.approx(1.0)


def test_glauber_flip_probability_limits():
    assert glauber_flip_probability(1e6, 1.0) == 0.0
    assert glauber_flip_probability(-1e6, 1.0) == 1.0
    assert glauber_flip_probability(8.0, 1e-3) < 1e-300
    assert glauber_flip_probability(8.0, 1e6) == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize("L", [3, 4, 5, 16])
@pytest.mark.parametrize("J", [1.0, 0.5])
def test_delta_energy_matches_recomputation(L, J):
    spins = random_lattice(L, seed=L)
    rng = np.random.default_rng(1)
    for i, j in rng.integers(L, size=(20, 2)):
        flipped = spins.copy()
        flipped[i, j] *= -1
        direct = ising_energy(flipped, J) - ising_energy(spins, J)
        assert delta_energy(spins, i, j, J) == pytest.approx(direct)


def hand_made(L):
    up = np.ones((L, L), dtype=np.int8)
    checker = np.where(np.add.outer(np.arange(L), np.arange(L)) % 2 == 0, 1, -1).astype(np.int8)
    one_flipped = up.copy()
    one_flipped[1, 2] = -1
    return up, -up, checker, one_flipped


@pytest.mark.parametrize("L", [4, 6, 16])
@pytest.mark.parametrize("J", [1.0, 2.0])
def test_energy_and_magnetization_of_hand_made_lattices(L, J):
    lattices = np.stack(hand_made(L))
    n = L * L
    expected = np.array([-2 * n, -2 * n, 2 * n, -2 * n + 8]) * J
    np.testing.assert_allclose(ising_energy(lattices, J), expected)
    np.testing.assert_array_equal(magnetization(lattices), [n, -n, 0, n - 2])


def test_energy_and_magnetization_vectorise_over_leading_axes():
    spins = random_lattice(5, n=6).reshape(2, 3, 5, 5)
    assert ising_energy(spins).shape == magnetization(spins).shape == (2, 3)
    assert ising_energy(spins)[1, 2] == ising_energy(spins[1, 2])


@pytest.mark.parametrize("shape", [(16,), (4, 5), (2, 4, 5)])
def test_lattice_shape_is_checked(shape):
    with pytest.raises(ValueError, match="shape"):
        ising_energy(np.ones(shape))
    with pytest.raises(ValueError, match="shape"):
        magnetization(np.ones(shape))


def test_default_params():
    params = IsingParams()
    assert (params.L, params.J, params.n_per_temperature, params.n_updates) == (16, 1.0, 1000, 100_000)
    assert params.n_snapshots == 50_000
    assert sum(t < CRITICAL_TEMPERATURE for t in params.temperatures) == 25
    json.dumps(params.to_dict())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("L", 1),
        ("L", 16.0),
        ("J", 0.0),
        ("J", float("nan")),
        ("temperatures", ()),
        ("temperatures", (1.0, -2.0)),
        ("temperatures", (1.0, float("inf"))),
        ("temperatures", ("hot",)),
        ("n_per_temperature", 0),
        ("n_updates", -1),
        ("seed", -1),
        ("seed", True),
    ],
)
def test_params_validation_names_the_bad_value(field, value):
    with pytest.raises(ValueError, match=field):
        IsingParams(**{field: value})


def test_low_temperature_ordered_high_temperature_disordered():
    ds = generate_ising(IsingParams(L=8, temperatures=(1.0, 5.0), n_per_temperature=50, n_updates=20_000))
    m = np.abs(ds["magnetization"].values) / 64
    assert np.median(m[:50]) > 0.95
    assert m[50:].mean() < 0.25


@pytest.mark.parametrize("L", [3, 4])
def test_equilibrium_averages_match_exact_enumeration(L):
    n = L * L
    states = (((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1).astype(np.int8).reshape(-1, L, L)
    T = 2.5
    energy, abs_m = ising_energy(states), np.abs(magnetization(states))
    weight = np.exp(-(energy - energy.min()) / T)
    weight /= weight.sum()
    ds = generate_ising(IsingParams(L=L, temperatures=(T,), n_per_temperature=4000, n_updates=200 * n))
    for name, exact in (("energy", weight @ energy), ("magnetization", weight @ abs_m)):
        sample = np.abs(ds[name].values) if name == "magnetization" else ds[name].values
        assert abs(sample.mean() - exact) < 5 * sample.std() / np.sqrt(len(sample)), name


def test_generated_dataset_layout():
    ds = generate_ising(SMALL)
    assert dict(ds.sizes) == {"snapshot": 40, "y": 8, "x": 8}
    assert ds["spins"].dtype == np.int8 and ds["phase"].dtype == np.int8
    assert set(np.unique(ds["spins"].values)) == {-1, 1}
    np.testing.assert_array_equal(ds["temperature"].values, np.repeat([1.5, 3.0], 20))
    np.testing.assert_array_equal(ds["phase"].values, np.repeat([1, 0], 20))
    np.testing.assert_array_equal(ds["energy"].values, ising_energy(ds["spins"].values))
    np.testing.assert_array_equal(ds["magnetization"].values, magnetization(ds["spins"].values))
    attrs = json.loads(json.dumps(ds.attrs))
    assert {k: attrs[k] for k in SMALL.to_dict()} == SMALL.to_dict()
    digest = hashlib.sha256(ds["spins"].values.tobytes() + ds["temperature"].values.tobytes()).hexdigest()
    assert attrs["content_hash"] == digest


def test_generation_is_deterministic_and_seed_dependent():
    first, again = generate_ising(SMALL), generate_ising(SMALL)
    assert first["spins"].values.tobytes() == again["spins"].values.tobytes()
    other = generate_ising(IsingParams(**{**SMALL.to_dict(), "seed": 4}))
    assert other.attrs["content_hash"] != first.attrs["content_hash"]


def test_chains_are_independent_of_the_number_of_chains():
    short = generate_ising(IsingParams(L=8, temperatures=(2.0,), n_per_temperature=5, n_updates=500))
    long = generate_ising(IsingParams(L=8, temperatures=(2.0,), n_per_temperature=12, n_updates=500))
    np.testing.assert_array_equal(short["spins"].values, long["spins"].values[:5])
    assert len({s.tobytes() for s in long["spins"].values}) == 12


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_bit_identical_for_one_and_two_threads():
    params = IsingParams(L=16, temperatures=(1.0, 2.3, 3.5), n_per_temperature=40, n_updates=20_000, seed=7)
    one, two = generate_ising(params, threads=1), generate_ising(params, threads=2)
    assert one["spins"].values.tobytes() == two["spins"].values.tobytes()
    assert one.attrs["content_hash"] == two.attrs["content_hash"]


@pytest.mark.parametrize("threads", [0, 10_000, 1.5])
def test_bad_thread_count(threads):
    with pytest.raises(ValueError, match="threads"):
        generate_ising(SMALL, threads=threads)


def labelled(n_ordered, n_disordered, L=4):
    temperature = np.concatenate([np.full(n_ordered, 1.0), np.full(n_disordered, 3.0)])
    return ising_dataset(random_lattice(L, n=len(temperature)), temperature, 1.0, {})


def test_split_sizes_disjoint_and_seeded_stream():
    train, test = ising_split(2000, data_seed=5)
    assert (len(train), len(test)) == (300, 1000)
    assert not set(train) & set(test)
    order = RunSeeds(data=5, init=0, batch=0, fisher=0).numpy("data").permutation(2000)
    np.testing.assert_array_equal(np.concatenate([test, train]), order[:1300])
    again = ising_split(2000, data_seed=5)
    np.testing.assert_array_equal(again[0], train)
    assert not np.array_equal(ising_split(2000, data_seed=6)[1], test)


def test_authors_shuffle_matches_python_random():
    items = list(range(1500))
    random.seed(2)
    random.shuffle(items)
    train, test = ising_split(1500, data_seed=2, shuffle="authors")
    assert list(test) == items[:1000] and list(train) == items[1000:1300]


@pytest.mark.parametrize("shuffle", ["seeded", "authors"])
def test_stratified_split_is_balanced(shuffle):
    ds = labelled(700, 900)
    train, test = ising_split(ds, data_seed=1, stratified=True, shuffle=shuffle)
    assert len(train) == 300 and len(test) == 1000
    assert not set(train) & set(test)
    assert ds["phase"].values[train].sum() == 150
    plain_test = ising_split(ds, data_seed=1, shuffle=shuffle)[1]
    np.testing.assert_array_equal(test, plain_test)


def test_stratified_split_takes_phase_array():
    phase = np.tile([0, 1, 1, 1], 100)
    train, _ = ising_split(400, data_seed=0, n_test=100, n_train=40, stratified=True, phase=phase)
    assert phase[train].sum() == 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": 1299}, "exceeds the 1299"),
        ({"data": 0}, "n_snapshots"),
        ({"n_train": 0}, "n_train"),
        ({"data_seed": -1}, "data_seed"),
        ({"stratified": True}, "phase labels"),
        ({"stratified": True, "phase": np.ones(2000), "n_train": 301}, "even n_train"),
        ({"stratified": True, "phase": np.ones(2000)}, "only 0 disordered"),
        ({"stratified": True, "phase": np.ones(5)}, "shape"),
        ({"shuffle": "python"}, "shuffle"),
    ],
)
def test_split_errors(kwargs, match):
    args = {"data": 2000, "data_seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        ising_split(**args)
