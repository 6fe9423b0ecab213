"""The Ising kernels' buffers: each a flat run of rows of LANES lanes, lane m holding model m (`grokcore.ising_conv`,
`grokcore.ising_conv_grad`)."""

from __future__ import annotations

import numba
import numpy as np
import torch

SIDE = 16  # snapshot side; fc1's 64 inputs are 4 channels × 4 × 4 cells after two poolings
LANES = 64  # models per kernel call; larger ensembles go through in blocks (`blocks`)

# Every kernel loops innermost over lanes. Rows of a compile-time length and unsigned offsets are what let LLVM
# vectorise lane loops that read and write many rows, such as conv2's 4 output channels at once (its input read
# once for all 4): with rows of a run-time length it wants more run-time alias checks than it allows, and numba
# wraps signed indices (a negative one counts from the end), which LLVM cannot analyse; either way it gives up
# (4-7× slower).


@numba.njit(cache=True, inline="always")
def row(i, n_j=1, j=0, n_k=1, k=0):
    """Offset of row (i, j, k) of a flat buffer (…, n_j, n_k, LANES), unsigned: `buffer[row(...) + m]` is lane m."""
    return np.uint64(((i * n_j + j) * n_k + k) * LANES)


def blocks(n_models: int, groups: int) -> list[tuple[slice, slice]]:
    """(models, groups) of the kernel calls, ≤ LANES models each: whole seed groups, or parts of one (models
    seed-major, model m reading group m // (N/G))."""
    per_group = n_models // groups
    if per_group <= LANES:
        step = LANES // per_group
        return [(slice(g * per_group, min(g + step, groups) * per_group), slice(g, min(g + step, groups)))
                for g in range(0, groups, step)]
    return [(slice(g * per_group + s, g * per_group + min(s + LANES, per_group)), slice(g, g + 1))
            for g in range(groups) for s in range(0, per_group, LANES)]


def to_lanes(t: torch.Tensor) -> np.ndarray:
    """A parameter (*rows, n) as a flat kernel buffer (*rows, LANES) float32, the lanes past n zero."""
    out = np.zeros((*t.shape[:-1], LANES), np.float32)
    out[..., : t.shape[-1]] = t.detach().numpy()
    return out.ravel()


def from_lanes(flat: np.ndarray, rows: tuple[int, ...], n: int) -> torch.Tensor:
    """A flat kernel buffer (*rows, LANES) as (n, *rows), its first n lanes."""
    return torch.from_numpy(np.moveaxis(flat.reshape(*rows, LANES)[..., :n], -1, 0).copy())
