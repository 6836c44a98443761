"""Benchmark: drawing each report chart (inline SVG, harness/report/charts.py), no model.

    python bench/bench_charts.py [--repeat 20]

Synthetic inputs the size of a real report: a reliability diagram of 7 bins, a coverage curve
of 200 points (from 2,000 predictions), a trend of 3 versions x 10 runs, a Pareto chart of 8
matrix cells and an optimizer trajectory of 12 candidates. Prints the mean of --repeat renders
after one warm-up, and the size of each SVG.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.report import charts  # noqa: E402
from harness.stats import calibration, coverage_curve  # noqa: E402


def inputs(seed: int = 1) -> dict:
    rng = random.Random(seed)
    confidence = [rng.uniform(0.3, 1.0) for _ in range(2000)]
    correct = [rng.random() < c for c in confidence]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    series = {f"v{v}": [(start + timedelta(days=d), rng.uniform(0.4, 0.9)) for d in range(10)]
              for v in range(1, 4)}
    cells = [(f"v{i % 2 + 1} x strategy-{i}", rng.uniform(1e4, 1e5), m, m - 0.05, m + 0.05,
              i % 3 == 0) for i, m in ((i, rng.uniform(0.3, 0.8)) for i in range(8))]
    evaluations = [(i // 3, rng.uniform(0.4, 0.8), rng.choice(["errors", "rewrite"]), i % 2 == 0)
                   for i in range(12)]
    best = [(i, 0.5 + 0.02 * i) for i in range(4)]
    cal = calibration(correct, confidence, n_bins=7)
    curve = coverage_curve(correct, confidence)
    return {
        "reliability": lambda: charts.reliability_chart(cal),
        "coverage": lambda: charts.coverage_chart(curve, sum(correct) / len(correct)),
        "trend (index)": lambda: charts.trend_chart("subjectivity", "macro_f1", series),
        "Pareto (matrix)": lambda: charts.pareto_chart(
            cells, x_label="tokens", y_label="macro_f1", reference=0.6,
            reference_label="TF-IDF baseline"),
        "optimize trajectory": lambda: charts.trajectory_chart(evaluations, best,
                                                              metric="macro_f1"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'chart':22s} {'mean ms':>8s} {'SVG bytes':>10s}")
    for name, draw in inputs().items():
        size = len(draw())  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeat):
            draw()
        mean_ms = (time.perf_counter() - start) / args.repeat * 1000
        print(f"{name:22s} {mean_ms:8.2f} {size:10d}")


if __name__ == "__main__":
    main()
