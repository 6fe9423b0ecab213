"""Tests of grokcore.measures.curves: grokking time (Def. 1, Eq. 3), Def. 2 classification, final values."""

from __future__ import annotations

import numpy as np
import pytest

from grokcore.measures.curves import (
    classify_regime,
    convergence_epoch,
    final_value,
    grokking_time,
    learned,
    threshold_epoch,
)

NAN = np.nan


def test_grokking_time_of_step_curves():
    epochs = np.arange(20)
    train = np.where(epochs >= 3, 1.0, 0.2)
    test = np.where(epochs >= 10, 0.98, 0.5)
    times = grokking_time(train, test)
    assert (times.t_train, times.t_test, times.delta) == (3, 10, 7)


@pytest.mark.parametrize(("mode", "expected"), [("relative", 2), ("absolute", 1)])
def test_relative_and_absolute_threshold(mode, expected):
    # relative: ≥ 0.95·0.8 = 0.76; absolute: ≥ 0.8 − 0.05 = 0.75
    assert threshold_epoch([0.0, 0.755, 0.765, 0.8], within=0.05, mode=mode) == expected


@pytest.mark.parametrize(("strict", "expected"), [(False, 1), (True, 2)])
def test_strict_threshold_reproduces_the_plotting_lines(strict, expected):
    assert threshold_epoch([0.0, 0.9, 1.0], within=0.1, strict=strict) == expected


def test_unevaluated_epochs_are_skipped_and_epochs_label_the_result():
    # test metrics evaluated every 5 epochs, starting after epoch 0; the epoch axis starts at 100
    test = np.full(21, NAN)
    test[4::5] = [0.1, 0.2, 0.99, 1.0]
    train = np.linspace(0, 1, 21) ** 2
    times = grokking_time(train, test, epochs=np.arange(100, 121))
    assert times.t_test == 114
    assert times.t_train == 120  # only the final epoch reaches 0.95 of the maximum
    assert times.delta == -6


def test_all_nan_curve_gives_nan_time():
    assert np.isnan(threshold_epoch([NAN, NAN, NAN]))


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_grokking_time_is_vectorised_over_runs(mode):
    rng = np.random.default_rng(0)
    train = np.sort(rng.random((2, 3, 40)), axis=-1)
    test = np.sort(rng.random((2, 3, 40)), axis=-1)
    test[..., 1::2] = NAN
    batch = grokking_time(train, test, mode=mode)
    for i, j in np.ndindex(2, 3):
        assert grokking_time(train[i, j], test[i, j], mode=mode) == tuple(b[i, j] for b in batch)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "percent"}, "percent"), ({"within": 1.5}, "1.5"), ({"epochs": np.arange(3)}, r"\(3,\)")],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        threshold_epoch(np.ones(5), **kwargs)


def test_classify_regime_with_an_absolute_threshold():
    labels = classify_regime([5.0, 0.0, -3.0, NAN])
    assert labels.tolist() == ["grok", "steady", "steady", "undetermined"]
    assert classify_regime([5.0, 9.0], threshold=6.0).tolist() == ["steady", "grok"]


def test_classify_regime_with_a_threshold_relative_to_t_train():
    # Δt > 5% of t_train: 6 > 5 groks, 4 does not
    assert classify_regime([6.0, 4.0], threshold=0.05, t_train=[100.0, 100.0]).tolist() == ["grok", "steady"]


def test_final_value_is_the_last_evaluated_one():
    values = np.array([[1.0, 2.0, NAN, 3.0, NAN], [NAN] * 5, [4.0, NAN, NAN, NAN, 5.0]])
    np.testing.assert_array_equal(final_value(values), [3.0, NAN, 5.0])


def test_a_flat_curve_at_chance_is_classified_grok_by_def_1_alone_but_did_not_learn_with_chance():
    # Ising: train acc flat at 0.5 hits its own max at once (t_train 0); test evaluated every 10 epochs → t_test 9
    epochs = np.arange(100)
    train = np.full(100, 0.5)
    test = np.where(epochs % 10 == 9, 0.5, NAN)
    times = grokking_time(train, test)
    assert (times.t_train, times.t_test) == (0, 9)
    assert classify_regime(times.delta, 1.0, times.t_train) == "grok"
    assert classify_regime(times.delta, 1.0, times.t_train, final_acc=0.5, chance=0.5) == "did-not-learn"


@pytest.mark.parametrize(("final_acc", "chance", "margin", "expected"), [
    ([0.5, 0.549, 0.55, 1.0, NAN], 0.5, 0.1, [False, False, True, True, False]),
    ([1 / 113, 0.1, 0.11], 1 / 113, 0.1, [False, False, True]),
    ([0.5, 0.51], 0.5, 0.0, [True, True]),
])
def test_learned_needs_the_final_accuracy_clearly_above_chance(final_acc, chance, margin, expected):
    assert learned(final_acc, chance, margin).tolist() == expected


def test_did_not_learn_overrides_every_def_2_class():
    regime = classify_regime([50.0, 1.0, 50.0, NAN], 1.0, [10, 10, 10, 10], final_acc=[1.0, 1.0, 0.5, 1.0],
                             chance=0.5)
    assert regime.tolist() == ["grok", "steady", "did-not-learn", "undetermined"]
    with pytest.raises(ValueError, match="together"):
        classify_regime([1.0], final_acc=[1.0])
    with pytest.raises(ValueError, match="margin"):
        learned([1.0], 0.5, margin=1.0)


@pytest.mark.parametrize(("loss", "expected"), [
    ([2.0, 1.0, 0.5, 0.26, 0.25, 0.25], 3),  # within 5% of 0.25 from index 3 on
    ([2.0, 0.25, 0.5, 0.25, 0.25, 0.25], 3),  # a later excursion restarts the clock
    ([1.0, 1.0, 1.0], 0),
    ([2.0, NAN, 0.25, NAN, 0.25], 2),  # unevaluated epochs are skipped
    ([NAN, NAN], NAN),
])
def test_convergence_epoch_is_the_start_of_the_final_band(loss, expected):
    np.testing.assert_array_equal(convergence_epoch(np.array(loss)), expected)
    assert convergence_epoch(np.array([loss, loss]), epochs=np.arange(len(loss)) + 1).tolist() == [
        expected + 1] * 2 or np.isnan(expected)
