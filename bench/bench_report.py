"""Benchmark: writing the report of a large run (synthetic records; no model), by stage.

    python bench/bench_report.py [--n 10000] [--resamples 1000]

Stages, timed once each in one process: run records (results.jsonl + .csv + metrics.json), the
analysis (bootstrap intervals, calibration, coverage, TF-IDF baseline), the HTML page, and the
reports index. Prints the page size and the share of the total each stage takes. With
--browser, also the time headless Chromium takes to load the page and run its script
(`--dump-dom`), against a 40-example page loaded the same way in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analysis import analyze  # noqa: E402
from harness.gate import GateResult, check_rules  # noqa: E402
from harness.metrics import metrics_for  # noqa: E402
from harness.report import write_index, write_run_report  # noqa: E402
from harness.fsutil import atomic_write_json  # noqa: E402
from harness.store import write_run  # noqa: E402
from tests.report_helpers import synthetic_result, train_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--browser", action="store_true", help="also time Chromium loading it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = synthetic_result(root, args.n, seed=1)
        directory = root / "reports" / result.run_id
        times: dict[str, float] = {}

        def timed(name, fn):
            start = time.perf_counter()
            out = fn()
            times[name] = time.perf_counter() - start
            return out

        metrics = timed("metrics", lambda: metrics_for(result))
        timed("records", lambda: write_run(result, metrics, directory))
        analysis = timed("analysis", lambda: analyze(result, train=train_examples(),
                                                     n_resamples=args.resamples))
        atomic_write_json(directory / "analysis.json", analysis.as_dict())
        page = timed("html", lambda: write_run_report(
            directory, result, metrics, check_rules(metrics, result.task.rules),
            GateResult((), skipped="none"), analysis=analysis))
        timed("index", lambda: write_index(root / "reports"))
        total = sum(times.values())
        print(f"examples={args.n} resamples={args.resamples} page={page.stat().st_size / 1e6:.2f} MB "
              f"results.csv={(directory / 'results.csv').stat().st_size / 1e6:.2f} MB")
        for name, seconds in times.items():
            print(f"{name:<9}: {seconds:7.2f} s  ({seconds / total:5.1%})")
        print(f"{'total':<9}: {total:7.2f} s")
        if args.browser:
            small = synthetic_result(root, 40, seed=2, version="v0")
            small_dir = root / "reports" / small.run_id
            small_metrics = metrics_for(small)
            write_run(small, small_metrics, small_dir)
            small_page = write_run_report(small_dir, small, small_metrics,
                                          check_rules(small_metrics, small.task.rules),
                                          GateResult(()))
            load_small = min(_load(small_page, root) for _ in range(3))
            load_big = min(_load(page, root) for _ in range(3))
            print(f"chromium load+script (best of 3): {args.n} examples {load_big:.2f} s, "
                  f"40 examples {load_small:.2f} s, ratio {load_big / load_small:.2f}x")


def _load(page: Path, root: Path) -> float:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    profile = Path(tempfile.mkdtemp(dir=root))
    start = time.perf_counter()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                   capture_output=True, check=True, timeout=120)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
