"""Rendering every registered figure and the claims report of one scale, reporting what could not be drawn."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from repro.figures import appendix_ac, appendix_df, appendix_g, claims, main_text  # noqa: F401 (register figures)

# isort: off
# Importing a claims module registers its claims; this order, the paper's, is the order of the report.
from repro.figures import claims_runs, claims_features, claims_compression, claims_fisher  # noqa: F401
from repro.figures import claims_development, claims_geometry  # noqa: F401
# isort: on
from repro.figures.registry import FIGURES_DIR, REGISTRY, Context, MissingResults, render
from repro.figures.tables import render_table1


class FiguresMissing(Exception):
    """Some figures could not be drawn because experiments have not been run at this scale.

    `missing` maps each such figure to the MissingResults message naming the `repro run` command.
    """

    def __init__(self, missing: dict[str, str], written: list[Path]):
        self.missing, self.written = missing, written
        lines = [f"  {name}: {message}" for name, message in missing.items()]
        super().__init__(f"{len(missing)} figure(s) not drawn, experiments missing:\n" + "\n".join(lines))


def render_all(ctx: Context, names=None, out_dir: str | None = FIGURES_DIR, echo: Callable = print,
               strict: bool = True) -> list[Path]:
    """Render the figures `names` (default: every registered one) of the scale into out_dir/<scale>/; with out_dir
    None, draw them only for the derived values they read (`render`), without Table 1.

    A figure whose experiment has not been run is skipped with its MissingResults message and the rest are
    drawn; at the end FiguresMissing (carrying the messages and the written paths) is raised if any was
    skipped and `strict`, so that a command line can exit non-zero. Returns the written paths.
    """
    names = [*sorted(REGISTRY), "table1"] if names is None else list(names)
    unknown = [n for n in names if n not in REGISTRY and n != "table1"]
    if unknown:
        raise ValueError(f"unknown figures {unknown}: expected some of {', '.join(sorted(REGISTRY))}, table1")
    written, missing = [], {}
    if "table1" in names:
        names.remove("table1")
        if out_dir is not None:  # from the experiment configs alone: nothing to read
            written += render_table1(ctx, out_dir)
            echo(f"table1: {written[0]} (+ .tex)")
    for name in names:
        try:
            paths = render(name, ctx, out_dir)
        except MissingResults as error:
            missing[name] = str(error)
            echo(f"{name}: skipped: {error}")
            continue
        written += paths
        echo(f"{name}: {paths[0]} (+ .pdf, .txt)" if paths else f"{name}: drawn for the values it reads, not kept")
    if missing and strict:
        raise FiguresMissing(missing, written)
    return written


def write_claims(ctx: Context, out_dir: str = FIGURES_DIR, echo: Callable = print) -> list[Path]:
    """Write the claims report out_dir/<scale>/claims.md and claims.json (unrun experiments say so)."""
    paths = claims.write_report(ctx, out_dir)
    counts = json.loads(paths[1].read_text())["counts"]
    echo(f"claims: {paths[0]} (+ {paths[1].name}): " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return paths
