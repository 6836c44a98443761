"""Benchmark: local score-mode throughput vs raw llama.cpp evaluation, and a cached re-run.

    python bench/bench_local_score.py [--task subjectivity] [--split all] [--limit 200]

In one process, on the same examples:
- raw:     llama.cpp `eval` of each example's full prompt tokens from an empty KV cache
           (no prefix reuse, no label scoring): the cost a naive scorer pays per example;
- harness: the runner in score mode with the cache off (prefix reuse + label continuations);
- cached:  the same run again with a warm response cache.
Reports examples/s and tokens/s on the tokens each actually evaluated ("unique tokens").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.cache import Cache
from harness.datasets import load_fixture
from harness.models.local import LocalBackend, default_model_path
from harness.prompts import Renderer, load_version
from harness.records import RunSpec
from harness.runner import run
from harness.tasks import load_task

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="subjectivity")
    parser.add_argument("--version", default="v2")
    parser.add_argument("--split", default="all")
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()

    task = load_task(ROOT, args.task)
    examples = load_fixture(task).select(args.split)[: args.limit]
    renderer = Renderer(task, load_version(task, args.version))
    backend = LocalBackend(default_model_path())
    prompts = [backend.prompt_tokens(renderer.render(e).messages) for e in examples]
    n, total_tokens = len(examples), sum(len(p) for p in prompts)

    llm = backend.llm
    llm.eval(prompts[0])  # warm-up
    start = time.perf_counter()
    for tokens in prompts:
        llm.n_tokens = 0  # empty KV cache: evaluate every token of the prompt
        llm.eval(tokens)
    raw_s = time.perf_counter() - start

    spec = RunSpec(task=args.task, version=args.version, split=args.split, limit=args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        backend.evaluated_tokens = 0
        llm.n_tokens = 0
        start = time.perf_counter()
        run(spec, root=ROOT, backend=backend, cache=Cache(Path(tmp), "record"), progress=False)
        harness_s = time.perf_counter() - start
        unique = backend.evaluated_tokens
        start = time.perf_counter()
        again = run(spec, root=ROOT, backend=backend, cache=Cache(Path(tmp), "record"),
                    progress=False)
        cached_s = time.perf_counter() - start
    assert again.model_calls == 0

    print(f"task={args.task}/{args.version} split={args.split} examples={n} "
          f"prompt tokens={total_tokens} (mean {total_tokens / n:.0f})")
    print(f"raw llama.cpp eval : {raw_s:7.2f} s  {n / raw_s:7.1f} ex/s  "
          f"{total_tokens / raw_s:7.0f} tok/s")
    print(f"harness score mode : {harness_s:7.2f} s  {n / harness_s:7.1f} ex/s  "
          f"{unique / harness_s:7.0f} unique tok/s  ({unique} tokens evaluated incl. label "
          f"continuations)")
    print(f"cached re-run      : {cached_s:7.2f} s  {n / cached_s:7.1f} ex/s")
    print(f"ratios (this run)  : harness/raw examples/s = {raw_s / harness_s:.2f}x; "
          f"harness/raw unique tok/s = {(unique / harness_s) / (total_tokens / raw_s):.2f}x; "
          f"cached re-run speed-up = {harness_s / cached_s:.0f}x")


if __name__ == "__main__":
    main()
