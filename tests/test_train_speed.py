"""Tests of the training benchmark's table (benchmarks/train_speed.py) at a tiny size."""

import pytest
import torch
from train_speed import main


def test_prints_a_row_per_task_and_seed_count(capsys):
    main(["--ising-models", "2", "--ising-seeds", "1,2", "--ising-epochs", "2", "--modadd-models", "1",
          "--modadd-epochs", "1", "--repeats", "1", "--clock", "cpu"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert [row[:4] for row in rows] == [["ising", "2", "1", "2"], ["ising", "2", "2", "2"], ["modadd", "1", "1", "1"]]
    for row in rows:
        plain, ensemble, ratio = map(float, row[4:])
        assert plain > 0 and ensemble > 0 and abs(ratio - plain / ensemble) < 0.01 + 1e-3 * ratio


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_stops_with_one_line():
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["--device", "cuda"])
