"""Tests of repro.figures.pipeline: rendering all figures and the claims, skipping unrun experiments."""

from __future__ import annotations

import pytest

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
