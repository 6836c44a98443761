"""The per-run report: reports/<run-id>/index.html (self-contained, autoescaped)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from harness.gate import GateResult
from harness.metrics import Metrics
from harness.records import INVALID, RunResult
from harness.store import spec_block

MAX_ERRORS_INLINE = 500

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=True,  # dataset text is data: always escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def write_run_report(directory: Path, result: RunResult, metrics: Metrics,
                     thresholds: GateResult, baseline: GateResult) -> Path:
    errors = [(e, p) for e, p in zip(result.examples, result.predictions) if not p.correct]
    # Lowest-confidence errors first: those are the ones a reviewer can most likely fix.
    errors.sort(key=lambda pair: (pair[1].confidence if pair[1].confidence is not None else -1.0))
    columns = [*metrics.labels, INVALID]
    html = _env.get_template("run.html").render(
        spec=spec_block(result), result=result, metrics=metrics, thresholds=thresholds,
        baseline=baseline, columns=columns, errors=errors[:MAX_ERRORS_INLINE],
        n_errors=len(errors), max_errors=MAX_ERRORS_INLINE,
    )
    path = directory / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
