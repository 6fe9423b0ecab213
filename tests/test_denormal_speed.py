"""Tests of benchmarks/denormal_speed.py: a real (short) timing of both settings."""

from __future__ import annotations

import re

from denormal_speed import main


def test_it_prints_both_settings_and_their_ratio(capsys):
    main(["--warm-in", "1", "--epochs", "1"])
    out = capsys.readouterr().out
    assert re.search(r"single-thread matmul \d+ GFLOP/s", out)
    assert re.search(r"epochs 2-2: denormals kept \d+ ms, flushed \d+ ms per model-epoch \(CPU\); ratio [\d.]+$",
                     out.strip())
