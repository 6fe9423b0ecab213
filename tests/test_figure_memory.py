"""Tests of benchmarks/figure_memory.py: stretching finished stores onto a larger grid."""

import dataclasses
import shutil

import figure_memory
import numpy as np
import pytest
import zarr

from grokcore import integrity
from grokcore import store as st
from repro.config import load_experiment


def test_nearest_index_on_a_log_scale():
    assert list(figure_memory.nearest_index([0.1, 1.0, 10.0], [0.2, 0.5, 3.0, 4.0], log=True)) == [0, 1, 1, 2]
    assert list(figure_memory.nearest_index([0, 10, 20], [4, 6, 20])) == [0, 1, 2]


@pytest.mark.parametrize("experiment", ["modadd-main", "ising-main"])
def test_stretched_store_has_the_target_grid_and_copies_the_nearest_cells(tiny_context, tmp_path, experiment):
    # the quick grid on the tiny Ising data: generating the quick Ising data would take most of the test's time
    target = dataclasses.replace(load_experiment(experiment, "quick"), data=load_experiment(experiment, "tiny").data)
    path = figure_memory.stretch_store(target, tiny_context.results_dir, tmp_path, tiny_context.data_dir,
                                       source_scale="tiny")
    source = tiny_context.results(experiment)
    ds = st.open_results(path)
    assert list(ds["alpha"].values) == list(target.weight_multipliers)
    assert ds.sizes["epoch"] == target.epochs and ds.sizes["checkpoint"] == len(target.checkpoint_epochs)
    assert (st.cell_status(path) == target.epochs).all()
    assert integrity.cell_states(path).isin(["finished", "diverged"]).all()  # a figure pass can open it
    alpha = figure_memory.nearest_index(source["alpha"].values, target.weight_multipliers, log=True)[-1]
    n_seeds = source.sizes["seed"]
    np.testing.assert_array_equal(ds["theta"].isel(alpha=-1, seed=-1, checkpoint=0).values,
                                  source["theta"].isel(alpha=alpha, seed=(ds.sizes["seed"] - 1) % n_seeds,
                                                       checkpoint=0).values)
    np.testing.assert_array_equal(ds["train_acc"].isel(alpha=-1, seed=-1, epoch=-1).values,
                                  source["train_acc"].isel(alpha=alpha, seed=(ds.sizes["seed"] - 1) % n_seeds,
                                                           epoch=-1).values)


@pytest.mark.parametrize("source", ["missing", "partial"])
def test_an_unfinished_source_is_named(tiny_context, tmp_path, source):
    results = tmp_path / "results"
    if source == "partial":
        name = "modadd-wd-tiny.zarr"
        shutil.copytree(f"{tiny_context.results_dir}/{name}", results / name)
        zarr.open_group(str(results / name), mode="r+")["done_epoch"][0, 0] = 1
    with pytest.raises(SystemExit, match="repro run modadd-wd --scale tiny"):
        figure_memory.stretch_store(load_experiment("modadd-wd", "quick"), str(results), tmp_path / "out",
                                    tiny_context.data_dir, source_scale="tiny")
