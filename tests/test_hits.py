"""Tests of the numba count of correct predictions against torch.max's choice of the predicted class."""

from __future__ import annotations

import pytest
import torch

from grokcore.hits import correct_predictions

NAN, INF = float("nan"), float("inf")


def awkward_logits(n_classes: int, seed: int = 0) -> torch.Tensor:
    """(3 models, 12 rows, class) logits: random rows and rows with ties, NaNs, infinities and zeros of both signs,
    where a careless argmax picks another class than torch.max."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 12, n_classes, generator=gen)
    rows = [
        [1.0] * n_classes,  # all tied: the first
        [NAN] * n_classes,  # all NaN: the first
        [-1.0, NAN] + [5.0] * (n_classes - 2),  # a NaN beats any number
        [INF, NAN] + [0.0] * (n_classes - 2),
        [1.0, -NAN] + [2.0] * (n_classes - 2),  # a NaN with its sign bit set too
        [-INF] * n_classes,
        [-0.0, 0.0] + [-1.0] * (n_classes - 2),  # −0 and +0 tie: the first
        [0.0, -0.0] + [-1.0] * (n_classes - 2),
        [-1.0, -0.0] + [0.0] * (n_classes - 2),
        [-2.0] * (n_classes - 1) + [-1.0],  # the last
    ]
    for r, row in enumerate(rows):
        logits[r % 3, r] = torch.tensor(row)
    return logits


@pytest.mark.parametrize("n_classes", [2, 3, 113])
def test_each_row_predicts_the_class_torch_max_picks(n_classes):
    logits = awkward_logits(n_classes)
    predicted = logits.max(dim=2).indices
    assert correct_predictions(logits, predicted).tolist() == [12, 12, 12]
    assert correct_predictions(logits, (predicted + 1) % n_classes).tolist() == [0, 0, 0]


@pytest.mark.parametrize("n_classes", [2, 113])
def test_counts_equal_torch_on_random_labels(n_classes):
    logits = awkward_logits(n_classes, seed=1)
    y = torch.randint(0, n_classes, (3, 12), generator=torch.Generator().manual_seed(2))
    counts = correct_predictions(logits, y)
    assert counts.dtype == torch.int64
    assert torch.equal(counts, (logits.max(dim=2).indices == y).sum(dim=1))


def test_other_dtypes_are_counted_by_torch():
    logits = awkward_logits(5).double()
    predicted = logits.max(dim=2).indices
    assert correct_predictions(logits, predicted).tolist() == [12, 12, 12]


@pytest.mark.parametrize("n_classes", [1, 2, 7, 113])
def test_rows_drawn_from_awkward_values_predict_as_torch_max(n_classes):
    # every value a careless argmax gets wrong, repeated so that rows tie and mix them; denormals included
    palette = torch.tensor([0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, -NAN, 1e-40, -1e-40])
    picks = torch.randint(0, len(palette), (4, 250, n_classes), generator=torch.Generator().manual_seed(3))
    logits = palette[picks]
    predicted = logits.max(dim=2).indices
    assert correct_predictions(logits, predicted).tolist() == [250] * 4
    y = torch.randint(0, n_classes, (4, 250), generator=torch.Generator().manual_seed(4))
    assert torch.equal(correct_predictions(logits, y), (predicted == y).sum(dim=1))


def test_strided_logits_and_an_empty_batch():
    logits = awkward_logits(113)[:, ::2]  # every other row: not contiguous
    assert not logits.is_contiguous()
    assert correct_predictions(logits, logits.max(dim=2).indices).tolist() == [6, 6, 6]
    empty = torch.zeros(3, 0, 113)
    assert correct_predictions(empty, torch.zeros(3, 0, dtype=torch.int64)).tolist() == [0, 0, 0]
