"""Tests of repro.figures.pipeline: rendering all figures and the claims, skipping unrun experiments."""

from __future__ import annotations

import json

import pytest
import torch
import xarray as xr
from distributed import Client, LocalCluster, get_task_stream

from repro.cluster import configure_workers
from repro.figures import pipeline
from repro.figures.registry import REGISTRY, Context

MAIN = [f"fig0{i}" for i in range(1, 9)]


def test_render_all_writes_every_requested_figure(tiny_context, tmp_path):
    names = ["fig01", "fig04"]  # each figure's own rendering is tested in test_figures_main
    lines = []
    paths = pipeline.render_all(tiny_context, names, str(tmp_path), echo=lines.append)
    expected = [f"{n}.{ext}" for n in names for ext in ("png", "pdf", "txt")]
    assert sorted(p.name for p in paths) == sorted(expected)
    assert all(p.parent == tmp_path / "tiny" for p in paths)
    assert [line.split(":")[0] for line in lines] == names


def test_render_all_without_a_folder_reads_what_a_saving_pass_reads_and_writes_nothing(tiny_context, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["fig04", "fig15", "table1"]
    fresh = [Context(scale="tiny", results_dir=tiny_context.results_dir, data_dir=tiny_context.data_dir)
             for _ in range(2)]
    lines = []
    assert pipeline.render_all(fresh[0], names, None, echo=lines.append) == []
    assert lines == ["fig04: drawn for the values it reads, not kept", "fig15: drawn for the values it reads, not kept"]
    assert not list(tmp_path.iterdir())
    assert pipeline.render_all(fresh[1], names, str(tmp_path / "figures"), echo=lambda line: None)
    assert fresh[0].derived("modadd-main").keys() == fresh[1].derived("modadd-main").keys() != set()


def test_missing_experiments_are_skipped_reported_and_raised_at_the_end(ising_only_context, tmp_path):
    ctx = ising_only_context
    lines = []
    with pytest.raises(pipeline.FiguresMissing) as raised:
        pipeline.render_all(ctx, ["fig01", "fig04", "fig06", "fig08"], str(tmp_path / "figures"),
                            echo=lines.append)
    missing = raised.value.missing
    assert sorted(missing) == ["fig04", "fig06", "fig08"]
    assert "repro run modadd-main --scale tiny" in missing["fig04"]
    assert "repro run modadd-dynamics --scale tiny" in missing["fig06"]
    assert [p.name for p in raised.value.written] == ["fig01.png", "fig01.pdf", "fig01.txt"]
    assert any("skipped" in line and "repro run modadd-main" in line for line in lines)
    written = pipeline.render_all(ctx, ["fig01", "fig04"], str(tmp_path / "figures"), echo=lines.append,
                                  strict=False)
    assert [p.name for p in written] == ["fig01.png", "fig01.pdf", "fig01.txt"]


def test_default_renders_every_registered_figure(tmp_path):
    ctx = Context(scale="tiny", results_dir=str(tmp_path / "none"), data_dir=str(tmp_path / "data"))
    with pytest.raises(pipeline.FiguresMissing) as raised:
        pipeline.render_all(ctx, out_dir=str(tmp_path / "figures"), echo=lambda line: None)
    drawn = {p.stem for p in raised.value.written}
    assert "table1" in drawn  # drawn from the configs alone, with no results at all
    assert set(raised.value.missing) | drawn == set(REGISTRY) | {"table1"}
    assert set(MAIN) <= set(raised.value.missing)


def test_unknown_figure_is_refused(tiny_context, tmp_path):
    with pytest.raises(ValueError, match="fig99"):
        pipeline.render_all(tiny_context, ["fig99"], str(tmp_path))


def test_write_claims_writes_markdown_and_json(tiny_context, tmp_path):
    lines = []
    paths = pipeline.write_claims(tiny_context, str(tmp_path), echo=lines.append)
    assert [p.name for p in paths] == ["claims.md", "claims.json"]
    assert all(p.exists() and p.parent == tmp_path / "tiny" for p in paths)
    assert lines and "claims.md" in lines[0]


EXPENSIVE = ("magnitude_pruning", "fisher_pruning", "llc", "dynamics_compressibility", "feature_dynamics")


@pytest.fixture(scope="module")
def client():
    configure_workers()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as client:
        yield client


def test_the_expensive_data_as_dask_tasks_are_exactly_the_in_process_data(tiny_context, client, tmp_path):
    here = Context("tiny", tiny_context.results_dir, tiny_context.data_dir)
    there = Context("tiny", tiny_context.results_dir, tiny_context.data_dir, client=lambda: client)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the tasks: a product on more threads may sum in another order
    try:
        with get_task_stream(client) as stream:
            dask_report = pipeline.write_claims(there, str(tmp_path / "dask"), echo=lambda _: None)[1]
        report = pipeline.write_claims(here, str(tmp_path / "here"), echo=lambda _: None)[1]
    finally:
        torch.set_num_threads(threads)
    assert {task["key"].rsplit("-", 2)[0] for task in stream.data} == {
        "pruning_curves", "fisher_pruning_curves", "llc_chains", "trajectory_compressibility", "correlation_dynamics"}
    keys = [key for key in there._cache if key[0] in EXPENSIVE]
    assert {key[0] for key in keys} == set(EXPENSIVE) and set(keys) == {k for k in here._cache if k[0] in EXPENSIVE}
    for key in keys:
        xr.testing.assert_identical(there._cache[key], here._cache[key])
    assert json.loads(dask_report.read_text()) == json.loads(report.read_text())
