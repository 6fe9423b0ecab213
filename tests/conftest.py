"""Shared fixtures: every experiment at the `tiny` scale, trained once per test session into real stores."""

import pytest


def train_serially(exp, path: str, data_dir: str, derivation: dict | None = None) -> str:
    """Train the grid of Experiment `exp` into a new store at `path`, task by task in this process (no Dask)."""
    from grokcore import store as st
    from repro.grid import ensure_store, pending_tasks, prepare_data, train_cells

    data = prepare_data(exp, str(data_dir), progress=False)
    ensure_store(exp, path, data, derivation)
    for seed_indices, group in pending_tasks(exp, path):
        train_cells(exp, path, data, seed_indices, group)
    st.consolidate(path)
    return path


@pytest.fixture(scope="session")
def tiny_context(tmp_path_factory):
    """A figure Context over tiny-scale stores of every experiment, trained serially (no Dask)."""
    from grokcore import store as st
    from repro.config import experiment_names, load_experiment
    from repro.figures.registry import Context

    results = tmp_path_factory.mktemp("results")
    data_dir = tmp_path_factory.mktemp("data")
    for name in experiment_names():
        train_serially(load_experiment(name, "tiny"), st.default_store_path(name, "tiny", results), data_dir)
    return Context(scale="tiny", results_dir=str(results), data_dir=str(data_dir))


@pytest.fixture(scope="session")
def tiny_reference(tiny_context, tmp_path_factory):
    """`repro reference --scale tiny` of every tiny store, run once per session because its figure pass is the
    slowest step several tests share: (reference folder, figures folder), each holding tiny/. Read only: a test
    that writes there copies it first."""
    from repro.cli import main

    root = tmp_path_factory.mktemp("tiny-reference")
    main(["reference", "--scale", "tiny", "--results-dir", tiny_context.results_dir, "--data-dir",
          tiny_context.data_dir, "--figures-dir", str(root / "figures"), "--reference-dir", str(root / "reference")])
    return root / "reference", root / "figures"


@pytest.fixture(scope="session")
def train_tiny():
    """`train_serially`: an experiment's grid trained in this process into a new store."""
    return train_serially


@pytest.fixture
def ising_only_context(tiny_context, tmp_path):
    """A tiny Context in which only ising-main has been run (its store linked from tiny_context)."""
    from repro.figures.registry import Context

    results = tmp_path / "results"
    results.mkdir()
    name = "ising-main-tiny.zarr"
    (results / name).symlink_to(f"{tiny_context.results_dir}/{name}")
    return Context(scale="tiny", results_dir=str(results), data_dir=tiny_context.data_dir)
