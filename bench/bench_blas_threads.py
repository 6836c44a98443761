"""Benchmark: wall and CPU time of the reports' TF-IDF + logistic-regression baseline fit with
OpenBLAS's default thread count and with one thread. CPU above wall means a second thread was
busy: OpenBLAS's spin after each call, which under `pytest -n 2` on two cores is the other
worker's time (why tests/conftest.py sets OPENBLAS_NUM_THREADS=1).

    python bench/bench_blas_threads.py [--fits 10] [--rounds 2]

Each setting runs in a fresh interpreter (OpenBLAS reads the variable when NumPy loads), on the
shipped subjectivity fixture: 200 rows to train, 100 to predict, one fit per seed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CHILD = """
import json, resource, sys, time
from harness.classical import _fitted
rows = [json.loads(line) for line in open("datasets/subjectivity.jsonl", encoding="utf-8")]
train = tuple((r["text"], r["label"]) for r in rows[:200])
texts = tuple(r["text"] for r in rows[200:300])
labels = tuple(sorted({r["label"] for r in rows}))
_fitted(train, texts[:1], labels, 10**6)  # imports and first-call costs out of the timing
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
c0, t0 = cpu(), time.perf_counter()
for seed in range(int(sys.argv[1])):
    _fitted(train, texts, labels, seed)
print(f"wall {time.perf_counter() - t0:.3f} s  cpu {cpu() - c0:.3f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        for threads in (None, "1"):
            env = dict(os.environ)
            env.pop("OPENBLAS_NUM_THREADS", None)
            if threads:
                env["OPENBLAS_NUM_THREADS"] = threads
            done = subprocess.run([sys.executable, "-c", CHILD, str(args.fits)], cwd=HERE,
                                  env=env, capture_output=True, text=True, check=True)
            print(f"round {round_}  OPENBLAS_NUM_THREADS={threads or 'unset':<6} {args.fits} fits: "
                  f"{done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
