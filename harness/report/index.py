"""reports/index.html: every run newest first, and the main metric per version over time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from harness.report import figures
from harness.report.templating import environment
from harness.store import list_runs
from harness.fsutil import atomic_write_text

MAX_RUNS_LISTED = 2000


def _when(started_at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None


def write_index(report_root: Path) -> Path:
    runs = list_runs(report_root)
    # A version's line joins runs of the task's usual mode and split; runs with another mode or
    # split get their own line, so a generate-mode run does not look like a regression.
    usual = {task: Counter((r["spec"].get("mode"), r["spec"].get("split")) for r in runs
                           if r["spec"].get("task") == task).most_common(1)[0][0]
             for task in {r["spec"].get("task") for r in runs}}
    trends: dict[str, dict] = {}
    for run in runs:
        spec, metrics = run["spec"], run["metrics"]
        metric = spec.get("main_metric", "macro_f1")
        run["main_metric"], run["value"] = metric, metrics.get(metric)
        when = _when(spec.get("started_at", ""))
        if when is not None and isinstance(run["value"], (int, float)):
            task = trends.setdefault(spec["task"], {"metric": metric, "series": {}})
            setting = (spec.get("mode"), spec.get("split"))
            line = spec["version"] if setting == usual[spec["task"]] else \
                f"{spec['version']} ({setting[0]}, {setting[1]})"
            task["series"].setdefault(line, []).append((when, float(run["value"])))
    plots = {task: figures.trend_figure(task, t["metric"], t["series"])
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
