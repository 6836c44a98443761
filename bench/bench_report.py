"""Benchmark: writing the report of a large run (synthetic records; no model), by stage.

    python bench/bench_report.py [--n 10000] [--resamples 1000]

Stages, timed once each in one process: run records (results.jsonl + .csv + metrics.json), the
analysis (bootstrap intervals, calibration, coverage, TF-IDF baseline), the HTML page, and the
reports index. Prints the page size and the share of the total each stage takes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analysis import analyze  # noqa: E402
from harness.gate import GateResult, check_rules  # noqa: E402
from harness.metrics import metrics_for  # noqa: E402
from harness.report import write_index, write_run_report  # noqa: E402
from harness.store import write_json, write_run  # noqa: E402
from tests.report_helpers import synthetic_result, train_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
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
        write_json(directory / "analysis.json", analysis.as_dict())
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


if __name__ == "__main__":
    main()
