"""The model x strategy page: reports/matrix/<task>-<version>-<time>.html. Presentation only:
it lays out a harness.matrix.Matrix (cells computed from the runs), never runs a model."""

from __future__ import annotations

from pathlib import Path

from harness.fsutil import atomic_write_text
from harness.matrix import Matrix
from harness.report import charts
from harness.report.templating import environment


def write_matrix_report(path: Path, matrix: Matrix) -> Path:
    priced = matrix.cost_axis == "cost_usd"
    points = [(f"{c.model} · {c.strategy}", (c.cost_usd or 0.0) if priced else float(c.tokens),
               c.metric, c.low, c.high, c.pareto) for c in matrix.cells]
    figure = charts.pareto_chart(
        points, x_label="cost of the run (USD)" if priced else "tokens (prompt + completion)",
        y_label=matrix.metric, reference=matrix.classical,
        reference_label="classical TF-IDF baseline")
    html = environment().get_template("matrix.html").render(m=matrix, figure=figure,
                                                            priced=priced)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html)
    return path
