"""Tests of the Ising kernels' lane layout: blocks of models per kernel call and the parameters' lane buffers."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from grokcore.ising_layout import LANES, blocks, from_lanes, row, to_lanes


@pytest.mark.parametrize(("n_models", "groups"), [(1, 1), (40, 5), (LANES, 1), (LANES + 6, 1), (90, 3),
                                                  (3 * LANES, 1), (2 * (LANES + 1), 2)])
def test_blocks_cover_every_model_once_with_its_own_groups_and_at_most_lanes_models(n_models, groups):
    per_group = n_models // groups
    seen = []
    for models, group_range in blocks(n_models, groups):
        count = models.stop - models.start
        assert 0 < count <= LANES
        # the block's models read its groups in order, each group's models all in this block or a part of one
        block_groups = range(group_range.start, group_range.stop)
        assert [m // per_group for m in range(models.start, models.stop)] == sorted(
            g for g in block_groups for _ in range(count // len(block_groups)))
        seen.extend(range(models.start, models.stop))
    assert seen == list(range(n_models))


def test_parameters_go_to_lanes_and_back():
    t = torch.randn(9, 2, 5)
    flat = to_lanes(t)
    assert flat.shape == (9 * 2 * LANES,) and flat.dtype == np.float32
    assert flat[int(row(4, 2, 1)) + 3] == t[4, 1, 3]
    assert not flat.reshape(9, 2, LANES)[..., 5:].any()
    torch.testing.assert_close(from_lanes(flat, (9, 2), 5), t.permute(2, 0, 1), rtol=0, atol=0)


def test_row_offsets_are_unsigned_and_row_major():
    assert row(0) == 0 and row(3, 2, 1, 4, 2) == ((3 * 2 + 1) * 4 + 2) * LANES
    assert {sig.return_type for sig in row.nopython_signatures} == {numba.uint64}  # numba wraps no negative index
