"""Rendering every registered figure and the claims report of one scale, reporting what could not be drawn."""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from repro.figures.registry import FIGURES_DIR, REGISTRY, Context, MissingResults, render

# The modules that register figures and claims; all but main are optional (written separately).
FIGURE_MODULES = ("repro.figures.main", "repro.figures.appendix", "repro.figures.appendix_claims",
                  "repro.figures.tables")


class FiguresMissing(Exception):
    """Some figures could not be drawn because experiments have not been run at this scale.

    `missing` maps each such figure to the MissingResults message naming the `repro run` command.
    """

    def __init__(self, missing: dict[str, str], written: list[Path]):
        self.missing, self.written = missing, written
        lines = [f"  {name}: {message}" for name, message in missing.items()]
        super().__init__(f"{len(missing)} figure(s) not drawn, experiments missing:\n" + "\n".join(lines))


def load_figure_modules() -> list[str]:
    """Import every figure module that exists, so that its figures and claims are registered; returns them."""
    present = [name for name in FIGURE_MODULES if importlib.util.find_spec(name) is not None]
    for name in present:
        importlib.import_module(name)
    return present


def render_all(ctx: Context, names=None, out_dir: str = FIGURES_DIR, echo: Callable = print,
               strict: bool = True) -> list[Path]:
    """Render the figures `names` (default: every registered one) of the scale into out_dir/<scale>/.

    A figure whose experiment has not been run is skipped with its MissingResults message and the rest are
    drawn; at the end FiguresMissing (carrying the messages and the written paths) is raised if any was
    skipped and `strict`, so that a command line can exit non-zero. Returns the written paths.
    """
    from repro.figures.tables import render_table1

    load_figure_modules()
    names = [*sorted(REGISTRY), "table1"] if names is None else list(names)
    unknown = [n for n in names if n not in REGISTRY and n != "table1"]
    if unknown:
        raise ValueError(f"unknown figures {unknown}: expected some of {', '.join(sorted(REGISTRY))}, table1")
    written, missing = [], {}
    if "table1" in names:
        names.remove("table1")
        written += render_table1(ctx, out_dir)  # from the experiment configs alone
        echo(f"table1: {written[0]} (+ .tex)")
    for name in names:
        try:
            paths = render(name, ctx, out_dir)
        except MissingResults as error:
            missing[name] = str(error)
            echo(f"{name}: skipped: {error}")
            continue
        written += paths
        echo(f"{name}: {paths[0]} (+ .pdf, .txt)")
    if missing and strict:
        raise FiguresMissing(missing, written)
    return written


def write_claims(ctx: Context, out_dir: str = FIGURES_DIR, echo: Callable = print) -> list[Path]:
    """Write the claims report out_dir/<scale>/claims.md and claims.json (unrun experiments say so)."""
    from repro.figures import claims

    load_figure_modules()
    paths = claims.write_report(ctx, out_dir)
    counts = json.loads(paths[1].read_text())["counts"]
    echo(f"claims: {paths[0]} (+ {paths[1].name}): " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return paths
