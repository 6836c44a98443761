"""zero-shot vs cot vs self-consistency:N on the embedded model, and what self-consistency costs.

For each task: the same stratified test examples, each strategy run through the runner with the
cache off (LabelRequests built directly, as the strategy framework will build them). Prints the
main metric, accuracy, calls, tokens and wall time per strategy, then the self-consistency
prompt-reuse numbers: prompt rows decoded (once per request, not N times) and the time of one
self-consistency request against one cot request (goal: <= 1 + 0.25 (N - 1)).

    HARNESS_THREADS=1 .venv/bin/python bench/bench_reasoning.py --limit 8 --max-tokens 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.cache import Cache
from harness.datasets import load_fixture, representative
from harness.metrics import metrics_for
from harness.models.local import LocalBackend, default_model_path
from harness.prompts import Renderer, load_version
from harness.records import LabelRequest, Reasoning, RunSpec
from harness.runner import run
from harness.tasks import load_task

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["subjectivity", "tickets"])
    parser.add_argument("--version", default="v2")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    backend = LocalBackend(default_model_path())
    strategies = {"zero-shot": None,
                  "cot": Reasoning(max_tokens=args.max_tokens),
                  f"self-consistency:{args.samples}": Reasoning(
                      samples=args.samples, max_tokens=args.max_tokens,
                      temperature=args.temperature, seed=0)}
    print(f"model={backend.model_path.name} threads={backend.n_threads} limit={args.limit} "
          f"max_tokens={args.max_tokens} temperature={args.temperature}")
    for name in args.tasks:
        task = load_task(ROOT, name)
        version = load_version(task, args.version)
        examples = representative(load_fixture(task).select("test"), args.limit,
                                  task.splits.seed)
        renderer = Renderer(task, version)
        times = {}
        for label, reasoning in strategies.items():
            requests = [LabelRequest(renderer.render(e), task.label_names, "score",
                                     reasoning=reasoning) for e in examples]
            before = {n: (s.prompt_rows, s.evaluated_tokens) for (n, _), s in backend._samplers.items()}
            clock = time.perf_counter()
            result = run(RunSpec(name, args.version, split="test"), root=ROOT, backend=backend,
                         cache=Cache(ROOT / ".bench-cache", mode="off"), progress=False,
                         task=task, prompt=version, examples=examples, requests=requests,
                         git={})
            times[label] = elapsed = time.perf_counter() - clock
            metrics = metrics_for(result)
            prompt = sum(p.usage.prompt_tokens for p in result.predictions)
            completion = sum(p.usage.completion_tokens for p in result.predictions)
            ties = sum(1 for p in result.predictions if p.tied)
            print(f"{name:13s} {label:20s} {task.metric}={getattr(metrics, task.metric):.3f} "
                  f"accuracy={metrics.accuracy:.3f} calls={result.model_calls} "
                  f"prompt_tokens={prompt} completion_tokens={completion} "
                  f"time={elapsed:6.1f}s ({elapsed / len(examples):.2f} s/ex)"
                  + (f" ties={ties}" if reasoning and reasoning.samples > 1 else ""))
            if reasoning is not None:
                sampler = backend.reasoning_sampler(reasoning.samples)
                rows0, tokens0 = before.get(reasoning.samples, (0, 0))
                rows = sampler.prompt_rows - rows0
                print(f"{'':13s} {'':20s} prompt rows decoded={rows} "
                      f"(prompt tokens x samples = {prompt * reasoning.samples}); "
                      f"all rows decoded={sampler.evaluated_tokens - tokens0}")
        n = args.samples
        ratio = times[f"self-consistency:{n}"] / times["cot"]
        goal = 1 + 0.25 * (n - 1)
        print(f"{name:13s} self-consistency:{n} / cot time = {ratio:.2f}x "
              f"(goal <= {goal:.2f}x: {'met' if ratio <= goal else 'NOT met'})")
    backend.close()


if __name__ == "__main__":
    main()
