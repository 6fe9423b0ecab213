"""Tests of the Ising convolutions' backward kernels beyond their gradients (in tests/test_ising_conv.py): the
order in which the gathered input gradient adds its taps."""

from __future__ import annotations

import pytest

from grokcore.ising_conv_grad import TAP_ORDER, scatter_order


@pytest.mark.parametrize("y", range(1, 9))
@pytest.mark.parametrize("x", range(1, 9))
def test_every_position_sees_its_taps_in_the_order_of_its_parities(y, x):
    # conv1's pooled cells sit at rows and columns 1-8 of conv2's zero-bordered input; at the border some taps
    # read u's zero border, the rest must come in the order the scatter added them.
    order = scatter_order(y, x)
    assert [t for t in TAP_ORDER[y % 2][x % 2] if t in order] == order
    assert sorted(TAP_ORDER[y % 2][x % 2]) == list(range(9))
