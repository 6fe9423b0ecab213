"""Tests of the figure Context: configs come from the stores they describe."""

import dataclasses

from grokcore import store as st
from repro.config import load_experiment
from repro.figures.registry import Context
from repro.grid import DataRef, ensure_store


def test_experiment_config_comes_from_its_store(tmp_path):
    ctx = Context(scale="tiny", results_dir=str(tmp_path))
    defined = load_experiment("modadd-main", "tiny")
    assert ctx.experiment("modadd-main") == defined  # no store yet: the definition
    written = dataclasses.replace(defined, lr=1e-2)  # e.g. the TOML changed after the run
    ensure_store(written, st.default_store_path("modadd-main", "tiny", tmp_path), DataRef(None, "x"))
    assert ctx.experiment("modadd-main").lr == 1e-2
