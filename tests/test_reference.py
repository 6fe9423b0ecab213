"""Tests of repro.reference: tiny stores reduced to the figures' numbers, written, read back and compared."""

import numpy as np
import pytest
import xarray as xr

from grokcore.reference_store import open_reference, reference_path, write_reference
from repro.config import experiment_names
from repro.figures import compression, features, runs
from repro.reference import compare_lines, machine_line, reduce_experiment, seed_summaries, short_revisions, summary


@pytest.fixture(scope="module")
def reduced(tiny_context):
    """Every tiny experiment, reduced."""
    return {name: reduce_experiment(tiny_context, name) for name in experiment_names()}


def test_every_run_has_its_curves_final_metrics_and_regime(tiny_context, reduced):
    for name, ds in reduced.items():
        store = tiny_context.results(name)
        assert ds["test_acc"].dims == ("alpha", "seed", "checkpoint")
        np.testing.assert_array_equal(ds["checkpoint"], store["checkpoint"])
        k = int(store["checkpoint"][-1])
        np.testing.assert_allclose(ds["train_acc"].sel(checkpoint=k), store["train_acc"].sel(epoch=k), rtol=1e-6)
        assert np.isnan(ds["train_loss"].sel(checkpoint=0)).all()  # no epoch before the initialisation
        np.testing.assert_allclose(ds["final_test_acc"], runs.final_metrics(tiny_context, name)["test_acc"],
                                   rtol=1e-6)
        np.testing.assert_array_equal(ds["regime"], runs.regimes(tiny_context, name)["regime"])
        assert {"t_train", "t_test", "delta", "transition_train", "transition_test"} <= set(ds.data_vars)
        assert not {"theta", "fim_diag"} & set(ds.variables)
        assert ds.attrs["experiment"] == name and ds.attrs["scale"] == "tiny" and ds.attrs["machine"]
        assert ds.attrs["config"] == store.attrs["config"] and len(ds.attrs["lock_sha256"]) == 64


def test_each_experiment_keeps_what_its_figures_compute(tiny_context, reduced):
    ising = reduced[runs.ISING]
    np.testing.assert_allclose(ising["compressibility"], compression.final_compressibility(tiny_context, runs.ISING),
                               rtol=1e-6)
    assert ising["weighted_correlation"].dims == ("alpha", "seed", "layer", "feature")
    for name in (runs.MODADD, runs.MODADD_BS200, runs.MODADD_WD):
        np.testing.assert_allclose(reduced[name]["llc"], compression.llc(tiny_context, name), rtol=1e-6)
        assert {"compressibility", "ipr_input", "ipr_output", "weight_gini", "fisher_gini"} <= set(reduced[name])
    dynamics = reduced[runs.MODADD_DYNAMICS]["ipr_output_trajectory"]
    arch = runs.archetypes(tiny_context, runs.MODADD_DYNAMICS)
    expected = features.ipr_dynamics(tiny_context, runs.MODADD_DYNAMICS, (arch.grok, arch.learn))
    np.testing.assert_allclose(dynamics.sel(alpha=expected["alpha"]), expected, rtol=1e-6)


def test_a_reduced_store_survives_its_file_and_stays_small(reduced, tmp_path):
    for name, ds in reduced.items():
        path = write_reference(ds, reference_path(name, "tiny", tmp_path))
        xr.testing.assert_identical(open_reference(name, "tiny", tmp_path), ds)
        assert path.stat().st_size < 200_000


def test_compare_puts_each_measure_per_alpha_beside_the_reference(reduced):
    ds = reduced[runs.MODADD]
    lines = compare_lines(ds, ds)
    assert lines[0].split() == ["measure", "α", "yours", "reference"]
    rows = {tuple(line.split()[:2]): line for line in lines[1:]}
    for alpha in ds["alpha"].values:
        row = rows[("final_test_acc", f"{alpha:g}")]
        value = summary(ds["final_test_acc"].sel(alpha=alpha).values)
        assert row.count(value) == 2  # the same store on both sides
        assert ("llc", f"{alpha:g}") in rows and ("regime", f"{alpha:g}") in rows
    assert not any(label.startswith("test_acc") for label, _ in seed_summaries(ds))  # curves are for plots


def test_compare_marks_what_one_side_lacks(reduced):
    ds = reduced[runs.ISING]
    lines = compare_lines(ds.drop_vars("compressibility"), ds.isel(alpha=[0]))
    alpha = float(ds["alpha"][-1])
    row = next(line for line in lines if line.split()[:2] == ["final_test_acc", f"{alpha:g}"])
    assert row.rstrip().endswith("—")
    assert any(line.split()[:2] == ["compressibility", f"{float(ds['alpha'][0]):g}"] and "—" in line
               for line in lines)
    assert any(line.startswith("weighted_correlation[conv1][energy]") for line in lines)


def test_summary_gives_mean_spread_and_counts():
    assert summary(np.array([1.0, 3.0, np.nan])) == "2 ± 1.4 (n = 2)"
    assert summary(np.array([0.5, np.nan])) == "0.5 (n = 1)"
    assert summary(np.array([np.nan])) == "undefined"
    assert summary(np.array(["grok", "steady", "grok"])) == "grok 2, steady 1"


def test_machine_line_names_cores_and_torch():
    line = machine_line()
    assert "cores" in line and "torch" in line and "\n" not in line


@pytest.mark.parametrize(("revisions", "length", "expected"), [
    ("20826732041eba0a79d43d3cc9f0dae9fdd5571e", 12, "20826732041e"),
    ("20826732041eba0a79d43d3cc9f0dae9fdd5571e, 6fe9033bb2c8e8a1f0b7d6e5c4a3b2a1f0e9d8c7", 7, "2082673, 6fe9033"),
    ("unknown", 12, "unknown"),
])
def test_short_revisions_shortens_each_revision_of_a_merged_grid(revisions, length, expected):
    assert short_revisions(revisions, length) == expected
