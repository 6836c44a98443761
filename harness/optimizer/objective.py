"""The optimization objective from task.yaml: a whole-run metric (default macro-F1) plus
optional floors (`optimize: {constraints: {recall: {Objective: 0.3}}}`)."""

from __future__ import annotations

from harness.metrics import Metrics, rule_value
from harness.optimizer.records import Score
from harness.records import TaskSpec


def score(task: TaskSpec, metrics: Metrics) -> Score:
    shortfall = [max(0.0, rule.minimum - rule_value(metrics, rule))
                 for rule in task.optimize_constraints]
    return Score(value=metrics.value(task.optimize_metric), feasible=not any(shortfall),
                 violation=float(sum(shortfall)), n=metrics.n)


def describe(task: TaskSpec) -> str:
    floors = ", ".join(str(rule) for rule in task.optimize_constraints)
    return task.optimize_metric + (f" subject to {floors}" if floors else "")
