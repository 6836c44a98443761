"""Benchmark: prompting strategies on subjectivity, tickets and LIAR (../shared/data/liar), on the
embedded model: main metric [95% CI], calls, prompt tokens, time per strategy, and what kNN
demonstrations (different for every input) cost against fixed ones of the same size, which keep
the instruction + demonstrations prefix shared.

    HARNESS_THREADS=1 python bench/bench_strategies.py [--datasets subjectivity tickets liar]
        [--strategies zero-shot few-shot:random:4 few-shot:errors:4 few-shot:knn:4]
        [--test 200] [--train 400]

Runs on a temporary copy of the project holding a seeded, label-stratified sample of each
dataset (--test examples of its test split, --train of its train split: the demonstration pool and
what few-shot:errors runs zero-shot on), with the response cache OFF, so every call is real and
timed; reports go to the temporary folder, so few-shot:errors finds no stored run and makes a
fresh zero-shot train-split run. `run` is the runner's own time for the test examples; `+N s
outside the run` is everything else evaluate() did (report, classical baseline; for
few-shot:errors also that zero-shot train-split run).

cot and self-consistency:N need a backend that answers `reasoning` requests (the reasoning
branch). Hook: pass them in --strategies once it has landed; until then they are refused with a
clear error, which this script reports as `skipped` for that strategy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import harness
from harness.datasets import representative
from harness.records import Example
from harness.stats import bootstrap_intervals

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the main checkout (a worktree under /work/wt/ has it two levels up).
LIAR = next((p for p in (ROOT.parent / "shared" / "data" / "liar",
                         ROOT.parent.parent / "shared" / "data" / "liar") if p.is_dir()),
            ROOT.parent / "shared" / "data" / "liar")
REASONING_STRATEGIES = ["cot", "self-consistency:5"]
DEFAULT_STRATEGIES = ["zero-shot", "few-shot:random:4", "few-shot:errors:4", "few-shot:knn:4",
                      *REASONING_STRATEGIES]

LIAR_TASK = """description: Is a PolitiFact statement a lie?
dataset: datasets/liar.jsonl
inputs: [text]
labels:
  "Yes": The statement is false or misleading (a lie).
  "No": The statement is true or mostly true.
metric: macro_f1
thresholds:
  macro_f1: 0.0
"""
LIAR_TEMPLATE = """{% block system %}
{% block instructions %}
Decide whether the statement is a lie. Answer Yes if it is a lie, No if it is not.
{% endblock %}
{% block demonstrations %}{% endblock %}
Answer with one word.
{% endblock %}
{% block user %}
{{ text }}
{% endblock %}
"""


def liar_examples() -> list[Example]:
    """LIAR's train and test files as examples (ids keep the file and row: traceable)."""
    examples = []
    for name in ("train", "test"):
        lines = (LIAR / f"{name}.jsonl").read_text(encoding="utf-8").split("\n")
        examples += [Example(f"{name}-{i}", {"text": json.loads(line)["text"]},
                             "Yes" if json.loads(line)["label"] == 1 else "No", name, i + 1)
                     for i, line in enumerate(lines) if line.strip()]
    return examples


def sample_project(root: Path, task: str, examples: list[Example], n_test: int,
                   n_train: int) -> None:
    """datasets/<task>.jsonl holding a seeded, stratified sample of each split, splits explicit."""
    chosen = [*representative([e for e in examples if e.split == "train"], n_train, seed=0),
              *representative([e for e in examples if e.split == "test"], n_test, seed=0)]
    with (root / "datasets" / f"{task}.jsonl").open("w", encoding="utf-8") as handle:
        for example in chosen:
            handle.write(json.dumps({"id": example.id, **example.inputs,
                                     "label": example.label, "split": example.split},
                                    ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["subjectivity", "tickets", "liar"])
    parser.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES)
    parser.add_argument("--test", type=int, default=200, help="test examples per dataset")
    parser.add_argument("--train", type=int, default=400, help="train examples per dataset")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        shutil.copytree(ROOT / "prompts", root / "prompts")
        (root / "datasets").mkdir()
        (root / "pyproject.toml").write_text("[tool.harness]\n", encoding="utf-8")
        (root / "prompts" / "liar").mkdir(parents=True)
        (root / "prompts" / "liar" / "task.yaml").write_text(LIAR_TASK, encoding="utf-8")
        (root / "prompts" / "liar" / "v1.jinja").write_text(LIAR_TEMPLATE, encoding="utf-8")
        original = harness.Session(harness.load_settings(ROOT))
        for task in args.datasets:
            examples = (liar_examples() if task == "liar"
                        else list(original.fixture(task).examples))
            sample_project(root, task, examples, args.test, args.train)
        session = harness.Session(harness.load_settings(root, overrides={
            "cache": "off", "progress": False, "report_dir": str(Path(tmp) / "reports")}))
        try:
            for task in args.datasets:
                version = "v1" if task == "liar" else "v2"
                for strategy in args.strategies:
                    clock = time.perf_counter()
                    try:
                        evaluation = session.evaluate(task, version, strategy=strategy)
                    except harness.HarnessError as exc:
                        print(f"{task}/{version} {strategy}: skipped: {exc}", flush=True)
                        rows.append({"task": task, "strategy": strategy, "skipped": str(exc)})
                        continue
                    total = time.perf_counter() - clock
                    rows.append(_row(evaluation, total))
                    print(_line(rows[-1]), flush=True)
        finally:
            session.close()
    print()
    print(f"threads={os.environ.get('HARNESS_THREADS', 'all')}")
    for row in rows:
        print(_line(row) if "skipped" not in row else
              f"{row['task']:<13} {row['strategy']:<19} skipped")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def _row(evaluation, total_s: float) -> dict:
    result, metrics = evaluation.result, evaluation.metrics
    metric = result.task.metric
    answered = [p for p in result.predictions if p.error is None]
    ci = bootstrap_intervals([p.expected for p in answered], [p.predicted for p in answered],
                             labels=result.task.label_names, seed=0).overall[metric]
    n = len(result.predictions)
    return {"task": result.spec.task, "strategy": result.spec.strategy, "n": n,
            "metric": metric, "value": getattr(metrics, metric), "low": ci.low, "high": ci.high,
            "accuracy": metrics.accuracy, "calls": result.model_calls,
            "prompt_tokens": sum(p.usage.prompt_tokens for p in result.predictions),
            "completion_tokens": sum(p.usage.completion_tokens for p in result.predictions),
            "run_s": result.duration_s, "total_s": total_s,
            "note": result.spec.strategy_note}


def _line(row: dict) -> str:
    per = row["run_s"] / max(1, row["n"])
    extra = row["total_s"] - row["run_s"]
    return (f"{row['task']:<13} {row['strategy']:<19} n={row['n']:<4} {row['metric']}="
            f"{row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}] acc={row['accuracy']:.3f} "
            f"calls={row['calls']:<4} prompt_tok={row['prompt_tokens']:<7} "
            f"run={row['run_s']:7.1f}s ({per * 1000:6.0f} ms/ex)"
            + (f" +{extra:.1f}s outside the run" if extra > 1 else ""))


if __name__ == "__main__":
    main()
