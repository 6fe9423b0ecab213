"""Tests of benchmarks/full_cost.py: the slice experiments, the extrapolation and one real engine slice."""

from __future__ import annotations

import math
import re

import pytest
import torch
from full_cost import UNITS, extrapolate, machine_reference, main, sliced, training_cost, worker_share

from repro.cluster import connected
from repro.config import load_experiment


def test_sliced_grid_keeps_the_cells_and_sets_epochs_and_checkpoints():
    full = load_experiment("modadd-dynamics", "full")
    part = sliced(full, 4, 1)
    assert (part.weight_multipliers, part.seeds, part.group_size) == (full.weight_multipliers, full.seeds,
                                                                     full.group_size)
    assert part.epochs == 4 and part.checkpoint_epochs == (0, 1, 2, 3, 4)
    assert sliced(full, 4, 4).checkpoint_epochs == (0, 4)


def test_extrapolation_adds_the_remaining_epochs_and_checkpoints():
    full = load_experiment("ising-main", "full")  # 100,000 epochs, 501 checkpoints
    assert extrapolate(full, 100, t_slice=10.0, t_epoch=0.5, t_checkpoint=2.0) == pytest.approx(
        10.0 + 99_900 * 0.5 + 499 * 2.0)


def test_figure_units_are_whole_positive_counts():
    assert all(isinstance(n, int) and n > 0 for n in UNITS.values())


def test_machine_reference_names_the_matmul_speed():
    assert re.search(r"single-thread matmul \d+ GFLOP/s", machine_reference())


def test_training_cost_of_a_real_engine_slice_is_positive(tmp_path):
    exp = load_experiment("modadd-main", "tiny")
    with connected(n_workers=1, dashboard_address=None) as client:
        t_epoch, t_checkpoint, total = training_cost(exp, 1, client, str(tmp_path))
    assert t_epoch >= 0 and t_checkpoint >= 0 and math.isfinite(total) and total > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_stops_with_one_line():
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["--device", "cuda"])


@pytest.mark.parametrize(("workers", "share"), [(1, 1.0), (2, 0.5), (3, 0.4), (4, 0.3), (10, 0.1), (16, 0.1)])
def test_figure_tasks_are_shared_by_the_busiest_worker(workers, share):
    assert worker_share(workers) == pytest.approx(share)
