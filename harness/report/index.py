"""reports/index.html: every run newest first, and the main metric per version over time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.report import charts
from harness.report.templating import environment
from harness.metrics import Metrics
from harness.stored import RunInfo, list_runs
from harness.fsutil import atomic_write_text

MAX_RUNS_LISTED = 2000


def _when(started_at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class _Listed:
    dir: Path
    spec: RunInfo
    metrics: Metrics
    main_metric: str
    value: float


def write_index(report_root: Path) -> Path:
    """Regenerate reports/index.html. Two processes finishing at once could each list the runs
    before the other's existed, and the slower one then replace a complete index with its
    older list: after writing, a writer that finds a run it did not list writes again."""
    for _ in range(_REWRITES):
        listed = _run_names(report_root)
        path = _write_index_once(report_root)
        if _run_names(report_root) <= listed:
            break
    return path


_REWRITES = 5


def _run_names(report_root: Path) -> set[str]:
    return {p.parent.name for p in report_root.glob("*/metrics.json")}


def _write_index_once(report_root: Path) -> Path:
    runs = [_Listed(directory, info, metrics, info.main_metric,
                    metrics.value(info.main_metric))
            for directory, info, metrics in list_runs(report_root)]
    # A version's line joins runs of the task's usual mode and split; runs with another mode or
    # split get their own line, so a generate-mode run does not look like a regression.
    usual = {task: Counter((r.spec.mode, r.spec.split) for r in runs
                           if r.spec.task == task).most_common(1)[0][0]
             for task in {r.spec.task for r in runs}}
    trends: dict[str, dict] = {}
    for run in runs:
        spec = run.spec
        when = _when(spec.started_at)
        if when is not None:
            task = trends.setdefault(spec.task, {"metric": run.main_metric, "series": {}})
            setting = (spec.mode, spec.split)
            line = spec.version if setting == usual[spec.task] else \
                f"{spec.version} ({setting[0]}, {setting[1]})"
            if spec.strategy != "zero-shot":  # another strategy is another line, not a jump
                line += f" [{spec.strategy}]"
            task["series"].setdefault(line, []).append((when, run.value))
    plots = {task: charts.trend_chart(task, t["metric"], t["series"])
             for task, t in sorted(trends.items())}
    comparisons = sorted((report_root / "compare").glob("*.html"),
                         key=lambda p: p.stat().st_mtime, reverse=True) \
        if (report_root / "compare").is_dir() else []
    html = environment().get_template("index.html").render(
        runs=runs[:MAX_RUNS_LISTED], n_runs=len(runs), max_runs=MAX_RUNS_LISTED, plots=plots,
        comparisons=[p.relative_to(report_root).as_posix() for p in comparisons])
    report_root.mkdir(parents=True, exist_ok=True)
    path = report_root / "index.html"
    atomic_write_text(path, html)  # a browser refreshing mid-write never sees half a page
    return path
