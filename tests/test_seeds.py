"""Tests of the per-role seeds: explicit, reproducible and independent."""

import numpy as np
import torch

from grokcore.seeds import RunSeeds, role_rng


def test_same_seed_same_draws():
    a, b = RunSeeds.from_seed(4), RunSeeds.from_seed(4)
    assert np.array_equal(a.numpy("data").random(5), b.numpy("data").random(5))
    assert torch.equal(torch.rand(5, generator=a.torch("init")), torch.rand(5, generator=b.torch("init")))


def test_roles_are_independent_streams_for_equal_integers():
    seeds = RunSeeds.from_seed(0)
    draws = {role: seeds.numpy(role).random(4).tolist() for role in ("data", "init", "batch", "fisher")}
    assert len({tuple(v) for v in draws.values()}) == 4


def test_changing_one_role_leaves_the_others_alone():
    a, b = RunSeeds(0, 0, 0, 0), RunSeeds(0, 1, 0, 0)
    assert np.array_equal(a.numpy("data").random(3), b.numpy("data").random(3))
    assert not np.array_equal(a.numpy("init").random(3), b.numpy("init").random(3))


def test_role_rng_is_the_run_seeds_stream_of_that_role():
    seeds = RunSeeds(3, 5, 7, 9)
    for role, seed in (("data", 3), ("init", 5), ("batch", 7), ("fisher", 9)):
        assert np.array_equal(role_rng(seed, role).random(4), seeds.numpy(role).random(4))
    assert not np.array_equal(role_rng(9, "fisher").random(4), role_rng(9, "batch").random(4))
