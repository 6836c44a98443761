"""Benchmark: building prompt renderers and picking kNN demonstrations, no model.

    python bench/bench_render.py [--repeat 100]

What the optimizer and the strategies do many times over: build a `Renderer` for a version
(subjectivity/v2, which extends v1) and, for a kNN few-shot version, pick each input's
demonstrations (10 renderers, as for 10 candidates, x 40 inputs over a pool of 200 synthetic
texts). scikit-learn is imported before the clock starts. Compare two commits by running this
from a checkout of each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sklearn.feature_extraction.text  # noqa: E402,F401 - imported before the clock

from harness.demos import DemoSelector  # noqa: E402
from harness.prompts import Renderer, load_version  # noqa: E402
from harness.records import Demonstrations, Example  # noqa: E402
from harness.tasks import load_task  # noqa: E402

WORDS = ("battery colour lovely hours weight price box great terrible screen fast slow cheap "
         "sturdy flimsy bright dim loud quiet").split()


def renderer_ms(repeat: int) -> float:
    task = load_task(ROOT, "subjectivity")
    version = load_version(task, "v2")
    Renderer(task, version)  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        Renderer(task, version)
    return (time.perf_counter() - start) / repeat * 1000


def knn_ms(candidates: int = 10, inputs: int = 40, pool_size: int = 200) -> float:
    rng = random.Random(0)

    def example(i: int, prefix: str, split: str) -> Example:
        return Example(id=f"{prefix}{i}", inputs={"text": " ".join(rng.choices(WORDS, k=8))},
                       label="x", split=split, line=i + 1)

    pool = tuple(example(i, "p", "train") for i in range(pool_size))
    queries = [example(i, "q", "test") for i in range(inputs)]
    start = time.perf_counter()
    for _ in range(candidates):  # one renderer, so one selector, per candidate
        selector = DemoSelector(Demonstrations("knn", pool, 4))
        for query in queries:
            selector.select(query)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    print(f"Renderer(subjectivity/v2): {renderer_ms(args.repeat):.2f} ms each "
          f"(mean of {args.repeat})")
    print(f"kNN demonstrations, 10 selectors x 40 inputs, pool of 200: {knn_ms():.0f} ms")


if __name__ == "__main__":
    main()
