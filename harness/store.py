"""Writing run records (results.jsonl, results.csv, metrics.json) and accepting baselines.
Reading them back as typed records is harness.stored."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from harness.datafiles import spreadsheet_safe
from harness.fsutil import atomic_write_json
from harness.metrics import Metrics
from harness.reasoning import samples_to_json
from harness.records import RUN_SCHEMA, RunResult, Usage
from harness.stored import Baseline, Outcome, RunInfo, StoredRun, write_baseline


def spec_block(result: RunResult) -> dict:
    """Everything needed to know what was run (the report reads this, never the model)."""
    return {
        "schema": RUN_SCHEMA,
        "run_id": result.run_id,
        "task": result.spec.task,
        "main_metric": result.task.metric,
        "version": result.spec.version,
        "prompt_hash": result.prompt.content_hash,
        "prompt_parent": result.prompt.parent,
        "strategy": result.spec.strategy,
        "strategy_source": result.spec.strategy_source,
        "strategy_note": result.spec.strategy_note,
        "model": result.spec.model,
        "model_identity": dict(result.model_identity),
        "mode": result.spec.mode,
        "params": asdict(result.spec.params),
        "split": result.spec.split,
        "limit": result.spec.limit,
        "dataset": _project_relative(result.task.dataset, result.task.path.parents[2]),
        "dataset_hash": result.dataset_hash,
        "n_examples": len(result.examples),
        "git": dict(result.git),
        "environment": dict(result.environment),
        "started_at": result.started_at,
        "duration_s": round(result.duration_s, 3),
        "model_calls": result.model_calls,
        "cache_hits": result.cache_hits,
        "prompt_tokens": sum(p.usage.prompt_tokens for p in result.predictions),
        "completion_tokens": sum(p.usage.completion_tokens for p in result.predictions),
        "errors": len(result.errors),
        "without_confidence": result.without_confidence,
        "cost": cost_block(result),
    }


def cost_block(result: RunResult) -> dict:
    """USD spent on this run's model calls, and what all its predictions cost when first made
    (cache hits included). Both None when the model's price is unknown: never a made-up zero."""
    price = result.price
    if price is None:
        return {"usd_calls": None, "usd_all": None, "price": None,
                "note": f"no price for {result.spec.model!r}: add it under [tool.harness.prices]"}
    made = sum(price.cost(p.usage) for p in result.predictions if not p.cached)
    every = sum(price.cost(p.usage) for p in result.predictions)
    return {"usd_calls": round(made, 8), "usd_all": round(every, 8),
            "price": {"model": price.model, "input_per_1m": price.input_per_1m,
                      "output_per_1m": price.output_per_1m, "source": price.source}}


def call_cost(result: RunResult, usage: Usage) -> float | None:
    return None if result.price is None else round(result.price.cost(usage), 10)


def _project_relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:  # a dataset outside the project: keep it absolute
        return str(path)


def write_run(result: RunResult, metrics: Metrics, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "results.jsonl").open("w", encoding="utf-8") as handle:
        for example, p in zip(result.examples, result.predictions):
            row = {"id": p.example_id, "input": dict(example.inputs), "expected": p.expected,
                   "predicted": p.predicted, "confidence": p.confidence,
                   "distribution": p.distribution, "raw": p.raw, "prompt_hash": p.prompt_hash,
                   "cached": p.cached, "error": p.error, "usage": asdict(p.usage),
                   "cost_usd": call_cost(result, p.usage),
                   "critical": example.critical, "line": example.line}
            if p.samples:  # reasoning strategies: each reasoning, its answer, a tie's labels
                row["samples"] = samples_to_json(p.samples)
                row["tied"] = list(p.tied)
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    write_results_csv(directory / "results.csv", result)
    atomic_write_json(directory / "metrics.json", {"spec": spec_block(result), "metrics": metrics.as_dict()})
    return directory


def write_results_csv(path: Path, result: RunResult) -> None:
    """Every example, one row, for spreadsheets and pandas (the report inlines only a sample).
    Text cells that a spreadsheet would run as a formula get a leading apostrophe;
    results.jsonl keeps every text verbatim."""
    labels = list(result.task.label_names)
    fields = list(result.task.input_fields)
    reasoned = any(p.samples for p in result.predictions)  # the column only when there is one
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "line", "critical", "expected", "predicted", "correct",
                         "confidence", *[f"p[{label}]" for label in labels], "cached", "error",
                         *fields, "raw", *(["reasoning"] if reasoned else [])])
        for example, p in zip(result.examples, result.predictions):
            dist = p.distribution or {}
            writer.writerow([
                spreadsheet_safe(p.example_id), example.line, example.critical, p.expected,
                p.predicted or "",
                p.correct, "" if p.confidence is None else f"{p.confidence:.6f}",
                *["" if label not in dist else f"{dist[label]:.6f}" for label in labels],
                p.cached, spreadsheet_safe(p.error or ""),
                *[spreadsheet_safe(str(example.inputs.get(f, ""))) for f in fields],
                spreadsheet_safe(p.raw or ""),
                *([spreadsheet_safe("\n---\n".join(x.reasoning for x in p.samples))]
                  if reasoned else [])])


def run_info(result: RunResult) -> RunInfo:
    return RunInfo.from_dict(spec_block(result), where=result.run_id)


def to_stored(result: RunResult, metrics: Metrics) -> StoredRun:
    """The typed record of a run, as it is written and read back."""
    outcomes = tuple(Outcome(p.example_id, p.expected, p.predicted, p.confidence,
                             p.distribution, p.error, e.critical, dict(e.inputs), p.raw,
                             p.cached, e.line, p.samples, p.tied)
                     for e, p in zip(result.examples, result.predictions))
    return StoredRun(run_info(result), metrics, outcomes)


def baseline_path(baseline_dir: Path, task: str, version: str) -> Path:
    return baseline_dir / task / f"{version}.json"


def accept_baseline(path: Path, result: RunResult, metrics: Metrics,
                    critical: RunResult | None) -> None:
    """Write `result` as the accepted baseline (with its critical-case outcomes)."""
    cases = to_stored(critical, metrics).outcomes if critical is not None else ()
    write_baseline(path, to_stored(result, metrics), cases,
                   datetime.now(timezone.utc).isoformat(timespec="seconds"))


def baseline_mismatch(baseline: Baseline, result: RunResult) -> str:
    """Why a baseline cannot be compared with this run ('' when it can): another model (name
    or GGUF file), mode, split, limit or dataset content."""
    def shown(key: str, value: object) -> str:
        if key == "limit" and value is None:
            return "none (all examples)"
        if key in ("model_sha256", "dataset_hash") and isinstance(value, str):
            return value[:12] or "(unrecorded)"
        return repr(value)

    info = baseline.run.info
    now = {"model": result.spec.model, "mode": result.spec.mode, "split": result.spec.split,
           "limit": result.spec.limit, "strategy": result.spec.strategy,
           "model_sha256": str(result.model_identity.get("sha256", "")),
           "dataset_hash": result.dataset_hash}
    then = {"model": info.model, "mode": info.mode, "split": info.split, "limit": info.limit,
            "strategy": info.strategy,
            "model_sha256": info.model_sha256, "dataset_hash": info.dataset_hash}
    what = {"model_sha256": "model file sha256", "dataset_hash": "dataset content"}
    differences = [f"{what.get(key, key)} {shown(key, then[key])} vs {shown(key, now[key])}"
                   for key in now if then[key] != now[key]]
    return ("baseline was recorded with " + ", ".join(differences)) if differences else ""
