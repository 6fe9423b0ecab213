"""Tests of repro.figures.registry: the figure Context reads stores and data, render writes every figure."""

import dataclasses
from types import SimpleNamespace

import matplotlib.legend
import pytest

from grokcore import store as st
from repro.config import load_experiment
from repro.figures.pipeline import REGISTRY
from repro.figures.registry import Context, MissingResults, render
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


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_render_writes_png_pdf_and_caption(tiny_context, tmp_path, name):
    paths = render(name, tiny_context, str(tmp_path))
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf", f"{name}.txt"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert "scale tiny" in paths[2].read_text()


def test_a_slow_legend_placement_on_a_loaded_machine_is_not_an_error(tiny_context, tmp_path, monkeypatch):
    ticks = iter(range(0, 10**6, 2))  # every reading of matplotlib's clock two seconds after the last
    monkeypatch.setattr(matplotlib.legend, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    paths = render("fig17", tiny_context, str(tmp_path))  # fig17 places its legend where it fits best
    assert paths[0].stat().st_size > 0


def test_render_checks_the_declared_experiments_first(ising_only_context, tmp_path):
    with pytest.raises(MissingResults, match="repro run modadd-main --scale tiny"):
        render("fig02", ising_only_context, str(tmp_path))  # fig02 reads ising-main before modadd-main
    assert not (tmp_path / "tiny").exists()


def test_cached_computes_once_and_forget_recomputes(tmp_path):
    ctx, calls = Context(scale="tiny", results_dir=str(tmp_path)), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert ctx.cached(("x",), compute) == 1 and ctx.cached(("x",), compute) == 1
    ctx.forget(("x",))
    assert ctx.cached(("x",), compute) == 2


def reference_with(tmp_path, recorded: dict):
    """A reference folder holding a tiny modadd-main file with `recorded` values and a Context drawing from it."""
    import numpy as np
    import xarray as xr

    from grokcore.reference_store import reference_path, write_reference

    config = dataclasses.replace(load_experiment("modadd-main", "tiny"), lr=1e-2).to_dict()
    reduced = xr.Dataset({"llc": (("alpha", "seed"), np.ones((2, 1)))}, coords={"alpha": [0.1, 10.0], "seed": [0]},
                         attrs={"task": "modadd", "config": config})
    write_reference(reduced, reference_path("modadd-main", "tiny", tmp_path), recorded)
    return Context(scale="tiny", results_dir=str(tmp_path / "none"), data_dir=str(tmp_path / "none"),
                   reference_dir=str(tmp_path))


def test_a_reference_context_reads_recorded_values_and_names_a_missing_one(tmp_path):
    from repro.figures.registry import MissingRecorded

    ctx = reference_with(tmp_path, {("transition_epochs", "modadd-main", 10.0): (12.0, 40.0)})
    assert ctx.cached(("transition_epochs", "modadd-main", 10.0), lambda: pytest.fail("computed")) == (12.0, 40.0)
    with pytest.raises(MissingRecorded) as missing:
        ctx.cached(("llc", "modadd-main"), lambda: pytest.fail("computed"))
    message = str(missing.value)
    assert len(message.splitlines()) == 1
    assert "modadd-main.zarr.zip holds no recorded llc_modadd-main ('llc', 'modadd-main')" in message
    assert "repro reference --scale tiny" in message


def test_a_reference_context_has_the_grid_and_config_but_no_store(tmp_path):
    ctx = reference_with(tmp_path, {})
    grid = ctx.results("modadd-main")
    assert list(grid["alpha"].values) == [0.1, 10.0] and not grid.data_vars and grid.attrs["task"] == "modadd"
    assert ctx.experiment("modadd-main").lr == 1e-2  # the config the reference was written with
    with pytest.raises(MissingResults, match="no reference results for ising-main at scale 'tiny'"):
        ctx.results("ising-main")
    with pytest.raises(MissingResults, match="holds no recorded"):
        ctx.task_data("modadd-main", 0)  # no data is read either


def test_a_stand_in_is_read_to_record_the_others_values_and_never_drawn(tiny_context, tmp_path):
    from grokcore.reference_store import reference_path, write_reference
    from repro.figures import claims, runs
    from repro.reference import reduce_experiment

    both = Context(scale="tiny", results_dir=tiny_context.results_dir, data_dir=tiny_context.data_dir)
    render("fig08", both, str(tmp_path / "both"))  # from both stores: what fig08 and the claims read of each
    claims.evaluate_claims(both)
    wanted, recorded = set(both.derived(runs.ISING)), both.derived(runs.MODADD_DYNAMICS)
    path = reference_path(runs.MODADD_DYNAMICS, "tiny", tmp_path)
    write_reference(reduce_experiment(both, runs.MODADD_DYNAMICS), path, recorded)
    ctx = Context(scale="tiny", results_dir=tiny_context.results_dir, data_dir=tiny_context.data_dir,
                  references={runs.MODADD_DYNAMICS: str(path)}, stand_ins=frozenset({runs.MODADD_DYNAMICS}))
    with pytest.raises(MissingResults, match="modadd-dynamics has no reference at scale 'tiny' yet"):
        render("fig08", ctx, str(tmp_path / "stand-in"))
    assert not (tmp_path / "stand-in").exists()
    assert ctx.results(runs.MODADD_DYNAMICS).data_vars == {}  # read from the file, not the store
    results = claims.evaluate_claims(ctx)
    assert wanted == set(ctx.derived(runs.ISING))
    stood_in = [r for r in results if runs.MODADD_DYNAMICS in r.experiments]
    assert stood_in and all(r.verdict == "not run at this scale" for r in stood_in)
    assert all(r.detail == "modadd-dynamics has no reference at scale 'tiny' yet" for r in stood_in)


def test_a_figure_failing_on_its_stand_in_says_what_may_not_be_recorded(tmp_path):
    from repro.figures.registry import FigureSpec, record_through_stand_ins

    ctx = Context(scale="full", results_dir=str(tmp_path), stand_ins=frozenset({"ising-main"}))

    def draw(_):
        raise ValueError("alpha 0.5 not in the grid")

    reason = record_through_stand_ins(FigureSpec("figXX", "t", ("ising-main", "modadd-main"), draw), ctx,
                                      ["ising-main"])
    assert reason.startswith("ising-main has no reference at scale 'full' yet; drawn with its stand-in, it failed "
                             "(ValueError: alpha 0.5 not in the grid)")
    assert "reduce them again once it is reduced" in reason
