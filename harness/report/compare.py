"""The comparison page: reports/compare/<task>-<versions>-<time>.html (self-contained)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from harness.comparison import OVERALL, Comparison, compare_runs
from harness.report.templating import environment
from harness.fsutil import atomic_write_text

MAX_FLIPS_INLINE = 500


def comparison_path(report_root: Path, comparison: Comparison) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    versions = "-".join(str(run.spec["version"]) for run in comparison.runs)
    return report_root / "compare" / f"{comparison.task}-{versions}-{stamp}.html"


def write_comparison(report_root: Path, refs: Sequence[str | Path], *,
                     out: Path | None = None) -> Path:
    comparison = compare_runs(report_root, refs)
    path = out or comparison_path(report_root, comparison)
    path.parent.mkdir(parents=True, exist_ok=True)
    links = [Path(os.path.relpath(run.directory / "index.html", path.parent)).as_posix()
             for run in comparison.runs]
    html = environment().get_template("compare.html").render(
        c=comparison, ref=comparison.runs[0], others=list(zip(comparison.runs[1:],
                                                             comparison.paired)),
        overall=OVERALL, links=links, max_flips=MAX_FLIPS_INLINE,
        index_link=Path(os.path.relpath(report_root / "index.html", path.parent)).as_posix())
    atomic_write_text(path, html)
    return path
