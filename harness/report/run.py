"""The per-run report: reports/<run-id>/index.html, one self-contained, autoescaped file.

Presentation only: it lays out what the runner, metrics and analysis produced. Big runs inline a
capped sample of examples (every error up to MAX_ERRORS_INLINE, the least confident correct ones per
label) and link the full per-example data (results.csv / results.jsonl) written beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.analysis import RunAnalysis
from harness.gate import GateResult
from harness.metrics import Metrics, collapse_note
from harness.records import INVALID, Example, Prediction, PromptVersion, RunResult
from harness.report import charts
from harness.report.templating import environment
from harness.store import spec_block
from harness.fsutil import atomic_write_text

MAX_ERRORS_INLINE = 1000
MAX_CORRECT_PER_LABEL = 25
ERROR_COLUMN = "call error"  # errored calls: infrastructure failures, not answers


def _confidence_key(p: Prediction) -> float:
    return p.confidence if p.confidence is not None else -1.0


def inline_rows(result: RunResult) -> tuple[list[tuple[Example, Prediction]], int, int]:
    """(rows to inline, total wrong or errored, how many of those are inlined).

    Wrong answers first, least confident first (the ones a reviewer can most likely fix), then
    the least confident correct answers of each label, so every confusion cell has examples."""
    pairs = list(zip(result.examples, result.predictions))
    wrong = sorted(((e, p) for e, p in pairs if not p.correct), key=lambda ep: _confidence_key(ep[1]))
    shown = wrong[:MAX_ERRORS_INLINE]
    for label in result.task.label_names:
        right = sorted(((e, p) for e, p in pairs if p.correct and p.expected == label),
                       key=lambda ep: _confidence_key(ep[1]))
        shown.extend(right[:MAX_CORRECT_PER_LABEL])
    return shown, len(wrong), min(len(wrong), MAX_ERRORS_INLINE)


def _cells(metrics: Metrics, rows: Sequence[tuple[Example, Prediction]]) -> list[list[dict]]:
    """Confusion cells for the clickable table: count from metrics, inlined count from rows,
    and the cell's shade (its share of the row: the table is the heatmap)."""
    columns = [*metrics.labels, INVALID]
    inlined: dict[tuple[str, str], int] = {}
    for _, p in rows:
        key = (p.expected, p.predicted if p.predicted is not None else ERROR_COLUMN)
        inlined[key] = inlined.get(key, 0) + 1
    grid = []
    for i, label in enumerate(metrics.labels):
        support = sum(metrics.confusion[i])
        row = []
        for column, count in zip(columns, metrics.confusion[i]):
            share = count / support if support else 0.0
            row.append({"expected": label, "predicted": column, "count": count, "share": share,
                        "inlined": inlined.get((label, column), 0), "diagonal": label == column,
                        "shade": charts.heat(share, label == column)})
        grid.append(row)
    return grid


def write_run_report(directory: Path, result: RunResult, metrics: Metrics,
                     thresholds: GateResult, baseline: GateResult, *,
                     analysis: RunAnalysis | None = None,
                     parents: Sequence[PromptVersion] = ()) -> Path:
    """`parents`: the templates `result.prompt` extends, nearest first (shown with its source)."""
    rows, n_wrong, n_wrong_inlined = inline_rows(result)
    columns = [*metrics.labels, INVALID]
    has_errors = any(p.error is not None for p in result.predictions)
    figs = {}
    if analysis is not None and analysis.calibration is not None:
        figs["reliability"] = charts.reliability_chart(analysis.calibration)
        figs["coverage"] = charts.coverage_chart(analysis.coverage, metrics.accuracy)
    files = [name for name in ("results.csv", "results.jsonl", "metrics.json", "analysis.json")
             if (directory / name).is_file()]
    html = environment().get_template("run.html").render(
        spec=spec_block(result), result=result, metrics=metrics, thresholds=thresholds,
        baseline=baseline, analysis=analysis, parents=list(parents), columns=columns,
        filter_columns=[*columns, ERROR_COLUMN] if has_errors else columns,
        cells=_cells(metrics, rows), rows=rows, n_rows=len(result.predictions),
        n_wrong=n_wrong, n_wrong_inlined=n_wrong_inlined, max_correct=MAX_CORRECT_PER_LABEL,
        figs=figs, files=files, coverage_table=_coverage_table(analysis),
        error_column=ERROR_COLUMN, collapse=collapse_note(metrics))
    path = directory / "index.html"
    atomic_write_text(path, html)
    return path


def _coverage_table(analysis: RunAnalysis | None) -> list:
    """A few readable operating points from the curve: the strictest threshold that still keeps
    at least 90/75/50/25% of examples."""
    if analysis is None or not analysis.coverage:
        return []
    picked = []
    for target in (1.0, 0.9, 0.75, 0.5, 0.25):
        point = next((p for p in analysis.coverage if p.coverage >= target), None)
        if point is not None and point not in picked:
            picked.append(point)
    return picked
