"""Tests of benchmarks/gpu_agreement.py on the CPU: its comparison, a stored grid read back, and its refusal
without a GPU (the GPU half runs only where there is one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gpu_agreement import COMPARED, largest_difference, main, trained

from repro.config import load_experiment


def test_largest_difference_skips_entries_not_finite_in_both():
    a = np.array([1.0, 2.0, np.nan, 4.0])
    b = np.array([1.5, np.nan, 3.0, 3.0])
    assert largest_difference(a, b) == 1.0
    assert largest_difference(a, b, relative=True) == pytest.approx(1.0 / 4.0)


def test_two_cpu_trainings_of_a_tiny_grid_are_identical(tmp_path):
    exp = load_experiment("modadd-main", "tiny")
    runs = [trained(exp, str(tmp_path), f"run{k}", str(tmp_path / "data")) for k in range(2)]
    assert set(runs[0]) == set(COMPARED)
    assert runs[0]["theta"].shape == (2, 2, 3, 174_193)
    for key in COMPARED:
        assert np.array_equal(runs[0][key], runs[1][key], equal_nan=True)
        assert largest_difference(runs[0][key], runs[1][key]) == 0.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_it_stops_with_one_line():
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["--experiments", "modadd-main"])
