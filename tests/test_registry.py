"""Tests of the figure Context: configs come from the stores they describe."""

import dataclasses

import pytest

from grokcore import store as st
from repro.config import load_experiment
from repro.figures.registry import Context, MissingResults
from repro.grid import DataRef, ensure_store


def test_experiment_config_comes_from_its_store(tmp_path):
    ctx = Context(scale="tiny", results_dir=str(tmp_path))
    defined = load_experiment("modadd-main", "tiny")
    assert ctx.experiment("modadd-main") == defined  # no store yet: the definition
    written = dataclasses.replace(defined, lr=1e-2)  # e.g. the TOML changed after the run
    ensure_store(written, st.default_store_path("modadd-main", "tiny", tmp_path), DataRef(None, "x"))
    assert ctx.experiment("modadd-main").lr == 1e-2


def test_missing_ising_data_is_missing_results_naming_the_command_and_nothing_is_generated(tmp_path):
    data = tmp_path / "elsewhere"
    ctx = Context(scale="tiny", results_dir=str(tmp_path), data_dir=str(data))
    with pytest.raises(MissingResults, match=f"repro run ising-main --scale tiny --data-dir {data}"):
        ctx.task_data("ising-main", 0)
    assert not data.exists()  # no Monte Carlo run started
    assert ctx.ising_data_path("modadd-main") is None
    assert ctx.task_data("modadd-main", 0).x_train.shape[0] > 0  # mod-add data is computed, never missing
