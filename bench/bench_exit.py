"""Benchmark: how long a process with the suite's libraries loaded takes to exit, with and without
`gc.freeze()` first (what the root conftest.py does at pytest_unconfigure).

    python bench/bench_exit.py [--repeat 3]

A child imports scikit-learn, SciPy, pandas, Hypothesis, Jinja and the library, prints the time,
and ends; the parent measures from that print to the child's exit (Python's final garbage
collection walks every object unless they are frozen).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CHILD = """
import gc, sys, time
import sklearn.linear_model, sklearn.feature_extraction.text, pandas, scipy.stats, hypothesis, jinja2
import harness.api, harness.report
{freeze}
print(time.time(), len(gc.get_objects()), flush=True)
"""


def exit_seconds(freeze: bool) -> tuple[float, int]:
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(freeze="gc.freeze()" if freeze
                                                                 else "")],
                             stdout=subprocess.PIPE, text=True)
    printed, tracked = child.stdout.readline().split()
    child.wait()
    return time.time() - float(printed), int(tracked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeat):
        for freeze in (False, True):
            seconds, tracked = exit_seconds(freeze)
            print(f"{'gc.freeze()' if freeze else 'plain      '}: exit took {seconds:.3f} s "
                  f"({tracked:,} objects tracked by the collector)")


if __name__ == "__main__":
    main()
