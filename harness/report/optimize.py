"""The optimizer's trajectory report: reports/<run-id>/index.html (self-contained, autoescaped).

Presentation only: it reads the OptimizeResult (candidates, evaluations, final outcomes) and
never runs a model or recomputes a metric.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from markupsafe import Markup

from harness.optimizer import VERDICTS, OptimizeResult
from harness.records import INVALID
from harness.fsutil import atomic_write_text
from harness.report import charts
from harness.report.templating import environment


def instruction_diff(parent: str, child: str) -> list[tuple[str, str]]:
    """[(kind, line)] with kind in ' ', '+', '-': a line diff a reviewer reads top to bottom."""
    rows = []
    for line in difflib.ndiff(parent.splitlines(), child.splitlines()):
        if line.startswith("? "):
            continue
        rows.append((line[0], line[2:]))
    return rows


def trajectory(result: OptimizeResult) -> Markup:
    """Every candidate's validation (and screening) score per iteration, with best-so-far."""
    proposers = {c.id: c.proposer for c in result.candidates}
    evaluations = [(e.iteration, e.score.value, proposers[e.candidate], e.stage == "validation")
                   for e in result.evaluations if e.stage in ("screen", "validation")]
    start = next(e.score.value for e in result.evaluations
                 if e.candidate == 0 and e.stage == "validation")
    best = [(0, start)] + [(i.iteration, i.best.value) for i in result.iterations]
    return charts.trajectory_chart(evaluations, best, metric=result.metric)


def _status(result: OptimizeResult, cid: int, evals: list) -> str:
    """What happened to a candidate, from its recorded verdicts (never guessed)."""
    if cid == result.winner:
        return "winner" if cid else "winner (no candidate showed a real gain)"
    if cid == 0:
        return "start"
    if any(i.accepted == cid for i in result.iterations):
        return "accepted, later beaten"
    for stage in ("validation", "screen"):
        verdict = next((e.verdict for e in evals if e.stage == stage), None)
        if verdict:
            return VERDICTS[verdict]
    return "not scored: call budget spent"


def _rows(result: OptimizeResult) -> list[dict]:
    rows = []
    for c in result.candidates:
        evals = [e for e in result.evaluations if e.candidate == c.id]
        screen = next((e for e in evals if e.stage == "screen" and e.against), None)
        validation = next((e for e in evals if e.stage == "validation"), None)
        parent = result.instructions[c.parent] if c.parent is not None else ""
        rows.append({
            "c": c, "status": _status(result, c.id, evals), "screen": screen,
            "validation": validation,
            "calls": sum(e.calls for e in evals), "charged": sum(e.charged for e in evals),
            "tokens": sum(e.tokens for e in evals), "instruction": result.instructions[c.id],
            "diff": instruction_diff(parent, result.instructions[c.id]) if c.parent is not None
            else [], "changed": c.parent is not None and
            parent != result.instructions[c.id]})
    return rows


def budget_split(result: OptimizeResult) -> dict[str, int]:
    """Charged calls by what they bought: the start, error sampling, the teacher, screening,
    and full validation runs of candidates that were better on screening."""
    split = {"start": 0, "train errors": 0, "screening": 0, "validation (contenders)": 0}
    for e in result.evaluations:
        key = {"train": "train errors", "screen": "screening"}.get(e.stage)
        if e.stage == "validation":
            key = "start" if e.verdict == "start" else "validation (contenders)"
        if key:
            split[key] += e.charged
    split["teacher"] = result.charged - sum(split.values())
    return split


def write_optimize_report(directory: Path, result: OptimizeResult) -> Path:
    labels = result.start_test.metrics.labels
    html = environment().get_template("optimize.html").render(
        r=result, rows=_rows(result), plot=trajectory(result), labels=labels,
        columns=[*labels, INVALID], winner=result.candidates[result.winner],
        metric=result.metric, budget=budget_split(result),
        splits=[("validation", result.start_validation, result.winner_validation,
                 result.validation_gain),
                ("test", result.start_test, result.winner_test, result.test_gain)])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    atomic_write_text(path, html)
    return path
