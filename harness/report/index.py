"""reports/index.html: every run newest first, and the main metric per version over time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from harness.report import figures
from harness.report.templating import environment
from harness.store import list_runs

MAX_RUNS_LISTED = 2000


def _when(started_at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None


def write_index(report_root: Path) -> Path:
    runs = list_runs(report_root)
    trends: dict[str, dict] = {}
    for run in runs:
        spec, metrics = run["spec"], run["metrics"]
        metric = spec.get("main_metric", "macro_f1")
        run["main_metric"], run["value"] = metric, metrics.get(metric)
        when = _when(spec.get("started_at", ""))
        if when is not None and isinstance(run["value"], (int, float)):
            task = trends.setdefault(spec["task"], {"metric": metric, "series": {}})
            task["series"].setdefault(spec["version"], []).append((when, float(run["value"])))
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
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)  # a browser refreshing mid-write never sees half a page
    return path
