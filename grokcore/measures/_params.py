"""Named views of flattened parameter vectors θ (param,) in the layout of grokcore.models.PARAM_SHAPES."""

from __future__ import annotations

import math

from grokcore.models import PARAM_SHAPES, check_task, n_params


def tensor_slices(task: str) -> dict[str, slice]:
    """Span of each parameter tensor inside θ, in layout order (spec §1.3)."""
    spans, start = {}, 0
    for name, shape in PARAM_SHAPES[check_task(task)]:
        spans[name] = slice(start, start + math.prod(shape))
        start += math.prod(shape)
    return spans


def unflatten(task: str, theta) -> dict:
    """Named tensors of θ: theta (..., param) -> {name: (..., *shape)}.

    Works on numpy arrays, torch tensors and dask arrays alike (views where the backend allows).
    """
    if theta.shape[-1] != n_params(task):
        raise ValueError(f"theta has {theta.shape[-1]} parameters, task {task!r} has {n_params(task)}")
    lead = tuple(theta.shape[:-1])
    shapes = dict(PARAM_SHAPES[task])
    return {name: theta[..., span].reshape(lead + shapes[name]) for name, span in tensor_slices(task).items()}
