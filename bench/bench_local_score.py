"""Benchmark: local score-mode throughput vs raw llama.cpp evaluation, and a cached re-run.

    python bench/bench_local_score.py [--task subjectivity] [--split all] [--limit 200]
                                      [--streams 4] [--rounds 3]

In one process, on the same examples, alternating for --rounds rounds:
- raw:     llama.cpp `eval` of each example's full prompt tokens from an empty KV cache
           (no prefix reuse, no label scoring): the cost a naive scorer pays per example;
- harness: the runner in score mode with a fresh cache (prefix reuse, several prompts per
           decode, label continuations);
- cached:  the last round's run again with its warm response cache.
Raw throughput is prompt tokens/s; harness throughput counts *unique* tokens: the nodes of the
prompts' token trie (a shared prefix counts once) plus each example's label continuation tokens,
so decoding a prefix again in another stream, or padding, only costs the harness.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.cache import Cache
from harness.datasets import load_fixture
from harness.models.local import DEFAULT_STREAMS, LocalBackend, default_model_path
from harness.prompts import Renderer, load_version
from harness.records import RunSpec
from harness.runner import run
from harness.tasks import load_task

ROOT = Path(__file__).resolve().parent.parent


def _trie_nodes(prompts: list[list[int]]) -> int:
    """Distinct prefixes among the prompts = tokens of the shortest prefix-sharing schedule."""
    root: dict[int, dict] = {}
    nodes = 0
    for tokens in prompts:
        node = root
        for token in tokens:
            if token not in node:
                node[token] = {}
                nodes += 1
            node = node[token]
    return nodes


def _resident_mb() -> float:
    """This process's resident memory (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="subjectivity")
    parser.add_argument("--version", default="v2")
    parser.add_argument("--split", default="all")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--streams", type=int, default=DEFAULT_STREAMS,
                        help="prompts per llama_decode in the harness run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw and harness alternate this many times (the CPU is noisy); "
                             "0: only build the scoring context and report its memory")
    args = parser.parse_args()

    task = load_task(ROOT, args.task)
    examples = load_fixture(task).select(args.split)[: args.limit]
    renderer = Renderer(task, load_version(task, args.version))
    backend = LocalBackend(default_model_path(), streams=args.streams)
    prompts = [backend.prompt_tokens(renderer.render(e).messages) for e in examples]
    n, total_tokens = len(examples), sum(len(p) for p in prompts)
    # Unique tokens: what a scorer that never recomputes a shared prefix must decode at least:
    # the nodes of the prompts' token trie, plus each example's label continuation tokens.
    labels = backend.label_tokens(tuple(label.name for label in task.labels))
    continuation = sum(len(seq) - 1 for seq in labels.values())
    unique = _trie_nodes(prompts) + continuation * n

    llm = backend.llm
    resident = _resident_mb()
    start = time.perf_counter()
    scorer = backend.scorer()  # built before any clock starts, like the raw path's model
    print(f"scoring context ({args.streams} streams): built in "
          f"{time.perf_counter() - start:.2f} s, +{_resident_mb() - resident:.0f} MB resident "
          f"(model and its own context: {resident:.0f} MB)")
    if args.rounds < 1:
        return
    llm.eval(prompts[0])  # warm-up
    spec = RunSpec(task=args.task, version=args.version, split=args.split, limit=args.limit)
    print(f"task={args.task}/{args.version} split={args.split} examples={n} "
          f"prompt tokens={total_tokens} (mean {total_tokens / n:.0f}); unique tokens={unique} "
          f"(prompt-token trie + label continuations); streams={args.streams}")
    ratios = []
    for round_ in range(1, args.rounds + 1):
        start = time.perf_counter()
        for tokens in prompts:
            llm.n_tokens = 0  # empty KV cache: evaluate every token of the prompt
            llm.eval(tokens)
        raw_s = time.perf_counter() - start

        scorer.reset()  # no prompt left over from the previous round
        before = (scorer.evaluated_tokens, scorer.padding_tokens, scorer.decodes)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run(spec, root=ROOT, backend=backend, cache=Cache(Path(tmp), "record"),
                progress=False)
            harness_s = time.perf_counter() - start
            if round_ == args.rounds:
                start = time.perf_counter()
                again = run(spec, root=ROOT, backend=backend, cache=Cache(Path(tmp), "record"),
                            progress=False)
                cached_s = time.perf_counter() - start
                assert again.model_calls == 0
        decoded, padding, decodes = (now - was for now, was in zip(
            (scorer.evaluated_tokens, scorer.padding_tokens, scorer.decodes), before))
        ratio = (unique / harness_s) / (total_tokens / raw_s)
        ratios.append(ratio)
        print(f"round {round_}: raw llama.cpp eval {raw_s:6.2f} s {n / raw_s:5.1f} ex/s "
              f"{total_tokens / raw_s:4.0f} tok/s | harness score mode {harness_s:6.2f} s "
              f"{n / harness_s:5.1f} ex/s {unique / harness_s:4.0f} unique tok/s | "
              f"examples/s {raw_s / harness_s:.2f}x, unique tok/s {ratio:.2f}x")
        print(f"         harness: {decodes} llama_decode calls, {decoded} tokens + {padding} "
              f"padding ({padding / (decoded + padding):.0%} of decoded rows)")
    print(f"cached re-run      : {cached_s:7.3f} s  {n / cached_s:7.1f} ex/s; "
          f"speed-up over the last round's first run = {harness_s / cached_s:.0f}x")
    print(f"harness/raw unique tok/s: median {statistics.median(ratios):.2f}x over "
          f"{len(ratios)} rounds (min {min(ratios):.2f}x, max {max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
