"""Tests of repro.figures.claims: the claims report from the tiny stores, its verdicts, JSON and Markdown."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repro.figures import claims

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
        assert row["verdict"] in claims.VERDICTS
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
    assert by_key["onset-ising"].verdict in ("agrees", "differs")
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


ACC_EPOCHS = np.arange(1, 101, dtype=float)
TRAIN = np.where(ACC_EPOCHS >= 10, 1.0, 0.5)  # t_train = 10
TEST = np.where(ACC_EPOCHS >= 60, 0.95, 0.1)  # the test accuracy jumps at epoch 60
EPOCHS = np.arange(0, 101, 5, dtype=float)


@pytest.mark.parametrize("measure, expected", [
    (np.where(EPOCHS >= 60, 1.0, 0.0), 0.0),  # develops only at the jump: flat plateau
    (np.clip((EPOCHS - 10) / 50, 0, 1), 45 / 50),  # rises linearly through the plateau [10, 60)
    (-np.clip((EPOCHS - 10) / 50, 0, 1), -45 / 50),
])
def test_plateau_progress(measure, expected):
    assert claims.plateau_progress(EPOCHS, measure, ACC_EPOCHS, TRAIN, TEST) == pytest.approx(expected)


def test_plateau_progress_is_nan_without_a_plateau():
    test = np.where(ACC_EPOCHS >= 10, 0.95, 0.1)  # the test accuracy jumps together with the train accuracy
    assert np.isnan(claims.plateau_progress(EPOCHS, EPOCHS, ACC_EPOCHS, TRAIN, test))
