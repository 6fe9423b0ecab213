"""The claims report (claims.md, claims.json): the paper's quantitative claims against our results.

A claim is a small function registered with `@claim`: it reads the Context through the same derived data as
the figures (repro.figures.runs, compression, features, trajectories) and returns an `Outcome`: our number(s)
and whether they agree with the paper by the tolerance written in the registration. Nothing in the report is
typed in except the paper's values and the tolerances; a claim whose experiment has not been run gets the
verdict "not run at this scale", one whose data cannot decide it (e.g. a fit needing 3 points, a confidence
interval too wide to tell) "not testable at this scale", and one whose evaluation raised "could not be
evaluated" with the error in its detail: one failing claim never stops the report. An undefined number (c of a
curve that never drops, a time of a run that did not learn) is reported in words, never as a number.

The claims live in the claims_* modules by the paper's topics; repro.figures.pipeline imports them all, so
that every claim is registered before the report is written (repro/figures/README.md: adding a claim).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from repro.figures.registry import Context, MissingResults, git_revision

VERDICTS = ("agrees", "differs", "not testable at this scale", "not run at this scale", "could not be evaluated")


@dataclass(frozen=True)
class Outcome:
    """Our side of a claim: agrees True/False (None: the grid cannot test it), our number(s) as text, and the
    headline value with its spread over seeds (sample standard deviation) and the number of values."""

    agrees: bool | None
    ours: str
    value: float | None = None
    spread: float | None = None
    n: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim: what the paper says (statement, paper value), how we judge it, what it reads."""

    key: str
    section: str
    statement: str
    paper: str
    tolerance: str
    experiments: tuple[str, ...]
    evaluate: Callable[..., Outcome]  # evaluate(ctx, *experiments)


@dataclass(frozen=True)
class ClaimResult:
    """One row of the report."""

    key: str
    section: str
    statement: str
    paper: str
    ours: str
    tolerance: str
    verdict: str
    experiments: tuple[str, ...]
    scale: str
    value: float | None
    spread: float | None
    n: int | None
    detail: str


CLAIMS: dict[str, ClaimSpec] = {}


def claim(key: str, section: str, statement: str, paper: str, tolerance: str, experiments):
    """Decorator registering `evaluate(ctx, *experiments) -> Outcome` as claim `key`: it receives the names of
    the experiments it declares, in that order."""

    def register(evaluate):
        if key in CLAIMS:
            raise ValueError(f"claim {key!r} is registered twice")
        CLAIMS[key] = ClaimSpec(key, section, statement, paper, tolerance, tuple(experiments), evaluate)
        return evaluate

    return register


def evaluate_claims(ctx: Context, keys=None) -> list[ClaimResult]:
    """Evaluate the claims `keys` (default: all, in registration order) at the context's scale."""
    unknown = set(keys or ()) - set(CLAIMS)
    if unknown:
        raise ValueError(f"unknown claims {sorted(unknown)}: expected some of {', '.join(CLAIMS)}")
    results = []
    for spec in CLAIMS.values():
        if keys is not None and spec.key not in keys:
            continue
        stood_in = [name for name in spec.experiments if name in ctx.stand_ins]
        try:
            out = spec.evaluate(ctx, *spec.experiments)
            verdict = {True: "agrees", False: "differs", None: "not testable at this scale"}[out.agrees]
        except MissingResults as missing:
            out, verdict = Outcome(None, "—", detail=str(missing)), "not run at this scale"
        except Exception as error:  # noqa: BLE001 - one broken claim must not cost the others their verdicts
            out, verdict = Outcome(None, "—", detail=f"{type(error).__name__}: {error}"), "could not be evaluated"
        if stood_in:  # evaluated only so that what it reads of the others is recorded (Context.stand_ins)
            failed = f"; with its stand-in it failed ({out.detail})" if verdict == "could not be evaluated" else ""
            out = Outcome(None, "—", detail=f"{', '.join(stood_in)} has no reference at scale {ctx.scale!r} yet"
                          + failed)
            verdict = "not run at this scale"
        results.append(ClaimResult(spec.key, spec.section, spec.statement, spec.paper, out.ours,
                                   spec.tolerance, verdict, spec.experiments, ctx.scale, _number(out.value),
                                   _number(out.spread), out.n, out.detail))
    return results


def _number(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def write_report(ctx: Context, out_dir: str = "figures", keys=None) -> list[Path]:
    """Write <out_dir>/<scale>/claims.md and claims.json from `evaluate_claims`; returns both paths."""
    results = evaluate_claims(ctx, keys)
    folder = Path(out_dir) / ctx.scale
    folder.mkdir(parents=True, exist_ok=True)
    header = {"scale": ctx.scale, "git": git_revision(),
              "counts": {v: sum(r.verdict == v for r in results) for v in VERDICTS}}
    json_path, md_path = folder / "claims.json", folder / "claims.md"
    json_path.write_text(json.dumps({**header, "claims": [asdict(r) for r in results]}, indent=2,
                                    ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results, header))
    return [md_path, json_path]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results: list[ClaimResult], header: dict) -> str:
    """The report as a Markdown table (one row per claim) with the details below it."""
    counts = ", ".join(f"{n} {v}" for v, n in header["counts"].items())
    lines = [f"# Claims of the paper vs this reproduction (scale {header['scale']}, git {header['git']})", "",
             f"{len(results)} claims: {counts}. Ours: mean ± sample standard deviation over seeds unless "
             "stated.", "", "| claim | § | paper says | paper | ours | tolerance | verdict |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.key} | {r.section} | {_cell(r.statement)} | {_cell(r.paper)} | {_cell(r.ours)} | "
              f"{_cell(r.tolerance)} | {r.verdict} |" for r in results]
    lines += ["", "## Details", ""]
    lines += [f"- **{r.key}** ({', '.join(r.experiments)}): {r.detail}" for r in results if r.detail]
    return "\n".join(lines) + "\n"



# ------------------------------------------------------------------------------------ helpers of the claims


def summary(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of the finite values."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, 0
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0, int(values.size)


def pm(values, digits: int = 2, unit: str = "seeds") -> tuple[str, float, float, int]:
    """"mean ± spread (n unit)" of the finite values, with the `summary` numbers."""
    mean, spread, n = summary(values)
    return f"{mean:.{digits}f} ± {spread:.{digits}f} ({n} {unit})", mean, spread, n


def defined(ok: bool, value) -> bool | None:
    """`ok` where `value` is a finite number, None (not testable: undefined) otherwise."""
    return bool(ok) if value is not None and math.isfinite(float(value)) else None


def ratio(x: float, y: float) -> float:
    """x / y, inf or NaN (not an exception) where y is 0 or either is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(x, y))
