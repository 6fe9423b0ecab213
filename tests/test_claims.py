"""Tests of repro.figures.claims: the claims report from the tiny stores, its verdicts, JSON and Markdown.

Each claim is tested both ways on synthetic data in the test module of its claims_* module.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import synthetic as syn

from repro.figures import claims, pipeline, runs

REQUIRED = ["onset-ising", "onset-modadd", "modadd-all-100", "ising-fc-energy-grok", "ising-fc-energy-learn",
            "ising-fc-absmag-grok", "ising-fc-absmag-learn", "ipr-grok", "ipr-learn", "tradeoff-modadd",
            "tradeoff-ising-absent", "tradeoff-bs200-absent", "tradeoff-test-loss-absent", "compress-25x-wd",
            "compress-5x-main", "transient-learn", "transient-grok", "plateau-ising-flat",
            "plateau-modadd-rises", "ising-cosine-peak", "ising-origin-grok", "fisher-roots-ising",
            "fisher-roots-modadd"]


@pytest.fixture(scope="module")
def report(tiny_context, tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    md, js = claims.write_report(tiny_context, str(out))
    return md.read_text(), json.loads(js.read_text())


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """Cells of each claim row of the Markdown table, keyed by the claim; escaped pipes kept as text."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| claim "):
            cells = [c.strip().replace("\\|", "|") for c in line.replace("\\|", "\0").strip("|").split("|")]
            cells = [c.replace("\0", "|") for c in cells]
            rows[cells[0]] = cells
    return rows


def test_every_registered_claim_has_a_verdict_tolerance_and_paper_value(report):
    _, data = report
    assert [c["key"] for c in data["claims"]] == list(claims.CLAIMS)
    assert set(REQUIRED) <= set(claims.CLAIMS)
    for row in data["claims"]:
        assert row["verdict"] in claims.VERDICTS[:3], row  # every claim is run and evaluated on the tiny grid
        assert row["tolerance"] and row["paper"] and row["ours"] and row["scale"] == "tiny"
    assert sum(data["counts"].values()) == len(claims.CLAIMS)


def test_markdown_and_json_agree(report):
    markdown, data = report
    rows = _table_rows(markdown)
    assert list(rows) == [c["key"] for c in data["claims"]]
    for row in data["claims"]:
        key, section, statement, paper, ours, tolerance, verdict = rows[row["key"]]
        assert (section, statement, paper, ours, tolerance, verdict) == (
            row["section"], row["statement"], row["paper"], row["ours"], row["tolerance"], row["verdict"])


def test_claims_of_unrun_experiments_are_not_run_at_this_scale(ising_only_context):
    keys = ["onset-ising", "onset-modadd", "compress-5x-main"]
    by_key = {r.key: r for r in claims.evaluate_claims(ising_only_context, keys)}
    assert by_key["onset-ising"].verdict in claims.VERDICTS[:3]  # tiny Ising runs may not learn at all
    for key, experiment in (("onset-modadd", "modadd-main"), ("compress-5x-main", "modadd-wd")):
        assert by_key[key].verdict == "not run at this scale"
        assert f"repro run {experiment} --scale tiny" in by_key[key].detail


def test_outcome_without_a_judgement_is_not_testable(tiny_context):
    key = "test-untestable"
    claims.claim(key, "§0", "a claim the grid cannot test", paper="x", tolerance="y", experiments=())(
        lambda ctx: claims.Outcome(None, "too few points"))
    try:
        (result,) = claims.evaluate_claims(tiny_context, [key])
        assert result.verdict == "not testable at this scale" and result.ours == "too few points"
    finally:
        del claims.CLAIMS[key]


def test_duplicate_and_unknown_claims_are_refused(tiny_context):
    with pytest.raises(ValueError, match="registered twice"):
        claims.claim("onset-ising", "§3", "", paper="", tolerance="", experiments=())(lambda ctx: None)
    with pytest.raises(ValueError, match="no-such-claim"):
        claims.evaluate_claims(tiny_context, ["no-such-claim"])


def test_summary_is_mean_and_sample_std_of_finite_values():
    assert claims.summary([1.0, 3.0, np.nan, np.inf]) == (2.0, pytest.approx(np.sqrt(2)), 2)
    assert claims.summary([5.0]) == (5.0, 0.0, 1)
    assert np.isnan(claims.summary([np.nan])[0])


def test_a_claim_that_raises_is_reported_and_the_others_still_judged(tmp_path):
    ctx = syn.context(tmp_path)
    syn.final(syn.MODADD)(ctx)
    syn.put(ctx, ("final_metrics", syn.MODADD), runs.final_metrics(ctx, syn.MODADD).drop_vars("train_loss"))
    results = {r.key: r for r in claims.evaluate_claims(ctx, ["modadd-loss-spread", "modadd-all-100"])}
    assert results["modadd-loss-spread"].verdict == "could not be evaluated"
    assert "train_loss" in results["modadd-loss-spread"].detail
    assert results["modadd-all-100"].verdict == "agrees"


def test_ratio_never_raises():
    assert claims.ratio(1.0, 0.0) == math.inf
    assert math.isnan(claims.ratio(math.nan, 0.0))


def test_the_report_lists_the_claims_by_topic():
    topics = (pipeline.claims_runs, pipeline.claims_features, pipeline.claims_compression, pipeline.claims_fisher,
              pipeline.claims_development, pipeline.claims_geometry)
    assert list(claims.CLAIMS) == [key for module in topics for key in syn.claims_of(module)]
