"""Tests of repro.figures.tables: Table 1 generated from the experiment configs, as Markdown and LaTeX."""

from __future__ import annotations

import pytest

from grokcore.models import P_MODADD, n_params
from repro.config import SCALES, load_experiment
from repro.figures.registry import REGISTRY, Context
from repro.figures.tables import HEADER, TRAIN_FRACTION, latex, markdown, render_table1, table1_rows


def _markdown_rows(text: str) -> dict[str, list[str]]:
    """{parameter: [Ising, mod-add, paper]} of the Markdown table."""
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.mark.parametrize("scale", SCALES)
def test_table1_values_equal_the_configs(tmp_path, scale):
    md_path, tex_path = render_table1(Context(scale=scale), str(tmp_path))
    assert (md_path.name, tex_path.name) == ("table1.md", "table1.tex")
    assert md_path.parent.name == scale
    rows = _markdown_rows(md_path.read_text())
    ising, modadd = load_experiment("ising-main", scale), load_experiment("modadd-main", scale)
    for name, field in (("Weight decay", "weight_decay"), ("Learning rate", "lr"), ("Epochs", "epochs"),
                        ("Batch size", "batch_size")):
        assert _number(rows[name][0]) == getattr(ising, field)
        assert _number(rows[name][1]) == getattr(modadd, field)
    assert _number(rows["Train dataset size"][0]) == ising.data.n_train
    assert _number(rows["Test dataset size"][0]) == ising.data.n_test
    n_train, n_test = _number(rows["Train dataset size"][1]), _number(rows["Test dataset size"][1])
    assert n_train + n_test == P_MODADD**2
    assert (n_train, n_test) == ((8938, 3831) if modadd.data.split_sizes == "paper" else (8939, 3830))
    assert rows["Train fraction"][1] == f"{100 * TRAIN_FRACTION:g}%"
    assert rows["Modulus (P)"][1] == str(P_MODADD)
    assert [float(a) for a in rows["Weight multipliers α"][0].split(",")] == list(ising.weight_multipliers)
    assert [float(a) for a in rows["Weight multipliers α"][1].split(",")] == list(modadd.weight_multipliers)
    assert int(rows["Seeds"][0]) == len(ising.seeds) and int(rows["Seeds"][1]) == len(modadd.seeds)
    assert _number(rows["Parameters"][0]) == n_params("ising") and _number(rows["Parameters"][1]) == n_params("modadd")


def test_table1_architecture_rows_describe_the_models():
    rows = {row.parameter: row for row in table1_rows(Context(scale="full"))}
    assert (rows["Fully connected layer size"].ising, rows["Fully connected layer size"].modadd) == ("100", "512")
    assert rows["Convolutional channels"].ising == "2, 4"
    assert rows["Kernel size"].ising == "3×3, 3×3"
    assert rows["Convolutional stride"].ising.startswith("1, 1")
    # the paper's (stripped) column is kept apart from ours
    assert rows["Learning rate"].paper == "(stripped) / (stripped)"
    assert rows["Epochs"].ising == "100,000" and rows["Epochs"].paper == "100,000 / 1000"


def test_small_numbers_are_written_as_in_the_configs():
    rows = {row.parameter: row for row in table1_rows(Context(scale="full"))}
    assert (rows["Learning rate"].ising, rows["Learning rate"].modadd) == ("1e-4", "5e-3")
    assert rows["Weight decay"].modadd == "3e-5"


def test_latex_has_one_escaped_row_per_markdown_row():
    rows = table1_rows(Context(scale="quick"))
    tex, md = latex(rows, "quick"), markdown(rows, "quick")
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == len(rows) + 1  # plus the header
    assert body[0].count("&") == len(HEADER) - 1
    assert r"70\%" in tex and "70%" in md
    assert r"$\alpha$" in tex and "α" not in tex and "×" not in tex
    assert tex.startswith(r"\begin{table}") and tex.rstrip().endswith(r"\end{table}")


def test_table1_is_not_a_registered_figure():
    assert "table1" not in REGISTRY
