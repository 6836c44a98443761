"""Synthetic RunResults for report tests: records built directly, no model involved."""

from __future__ import annotations

import random
from pathlib import Path

from harness.analysis import analyze
from harness.gate import check_rules
from harness.gate import GateResult
from harness.metrics import metrics_for
from harness.records import (INVALID, Example, Label, Prediction, PromptVersion, RenderedPrompt,
                             Message, Rule, RunResult, RunSpec, TaskSpec)
from harness.report import write_run_report
from harness.fsutil import atomic_write_json
from harness.store import write_run

LABELS = ("Objective", "Subjective")


def synthetic_result(root: Path, n: int, *, texts: list[str] | None = None, mode: str = "score",
                     version: str = "v1", seed: int = 0, accuracy: float = 0.7,
                     started_at: str = "2026-01-01T00:00:00+00:00") -> RunResult:
    """`n` examples with random-but-seeded predictions of roughly `accuracy`; a few INVALID."""
    rng = random.Random(seed)
    task = TaskSpec(name="demo", path=root / "prompts" / "demo" / "task.yaml",
                    labels=tuple(Label(name) for name in LABELS),
                    dataset=root / "datasets" / "demo.jsonl", input_fields=("text",),
                    rules=(Rule("macro_f1", 0.5),))
    examples, predictions = [], []
    for i in range(n):
        text = texts[i % len(texts)] if texts else f"sentence number {i}"
        label = LABELS[i % 2]
        examples.append(Example(id=f"ex{i}", inputs={"text": text}, label=label,
                                split="test", line=i + 1, critical=i == 0))
        rng_value = random.Random(f"{i}").random()  # same draw per example across versions
        right = (rng_value + rng.random() * 0.3) < accuracy + 0.15
        if mode == "score":
            p = 0.5 + rng.random() * 0.5
            predicted = label if right else LABELS[1 - LABELS.index(label)]
            dist = {predicted: p, LABELS[1 - LABELS.index(predicted)]: 1 - p}
            predictions.append(Prediction(f"ex{i}", label, predicted, p, dist, predicted,
                                          "h", False))
        else:
            predicted = label if right else (INVALID if i % 7 == 0 else
                                             LABELS[1 - LABELS.index(label)])
            raw = predicted if predicted != INVALID else f"maybe {text[:20]}"
            predictions.append(Prediction(f"ex{i}", label, predicted, None, None, raw, "h", False))
    source = "{% block user %}{{ text }}{% endblock %}"
    prompt = PromptVersion("demo", version, root / "prompts" / "demo" / f"{version}.jinja",
                           source, None, f"{version}hash" * 4)
    return RunResult(
        run_id=f"20260101T000000-demo-{version}-{mode}-test-{seed:06d}",
        spec=RunSpec(task="demo", version=version, mode=mode), task=task, prompt=prompt,
        dataset_hash="d" * 64, model_identity={"name": "synthetic"}, examples=tuple(examples),
        predictions=tuple(predictions), started_at=started_at, duration_s=1.0,
        rendered_example=RenderedPrompt("ex0", (Message("user", examples[0].inputs["text"]),),
                                        "r"),
        git={"commit": "0" * 40, "dirty": "no"})


def train_examples(texts: list[str] | None = None) -> list[Example]:
    words = texts or ["it weighs two kilos", "I love it", "ships in a box", "awful colour"]
    return [Example(id=f"t{i}", inputs={"text": w}, label=LABELS[i % 2], split="train", line=i)
            for i, w in enumerate(words * 5)]


def write_synthetic_report(report_root: Path, result: RunResult,
                           train: list[Example] | None = None, *, page: bool = True) -> Path:
    """What Session.write_report does, minus the fixture: run records, analysis, HTML.
    `page=False` writes the run records only (what comparisons and the index read): the run
    page's figures and analysis are most of a report's cost, and a test that never opens the
    page need not pay it."""
    directory = report_root / result.run_id
    metrics = metrics_for(result)
    write_run(result, metrics, directory)
    if not page:
        return directory
    analysis = analyze(result, train=train if train is not None else train_examples(),
                       n_resamples=200)
    atomic_write_json(directory / "analysis.json", analysis.as_dict())
    write_run_report(directory, result, metrics, check_rules(metrics, result.task.rules),
                     GateResult((), skipped="no baseline"), analysis=analysis)
    return directory
