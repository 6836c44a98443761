"""Quality gates: thresholds from task.yaml and the committed baseline -> GateResult with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.metrics import Metrics, rule_value, top_confusions
from harness.records import Rule


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # "macro_f1 >= 0.5" or "macro_f1 vs baseline"
    value: float
    threshold: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GateResult:
    checks: tuple[Check, ...]
    skipped: str = ""  # why no comparison happened (e.g. no baseline yet)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


def check_rules(metrics: Metrics, rules: tuple[Rule, ...]) -> GateResult:
    return GateResult(tuple(
        Check(str(rule), value, rule.minimum, value >= rule.minimum)
        for rule in rules for value in [rule_value(metrics, rule)]))


def gated_metrics(rules: tuple[Rule, ...], main_metric: str) -> list[tuple[str, str | None]]:
    """The metrics compared against the baseline: the task's main metric and every gated one."""
    seen: list[tuple[str, str | None]] = [(main_metric, None)]
    for rule in rules:
        if (rule.metric, rule.label) not in seen:
            seen.append((rule.metric, rule.label))
    return seen


def check_baseline(metrics: Metrics, baseline: Mapping, *, rules: tuple[Rule, ...],
                   main_metric: str, tolerance: float) -> GateResult:
    """Fail when a gated metric drops more than `tolerance` (absolute) below the baseline."""
    checks = []
    recorded = baseline["metrics"]
    for metric, label in gated_metrics(rules, main_metric):
        try:
            before = recorded["per_label"][label][metric] if label else recorded[metric]
        except KeyError:
            continue  # the baseline predates this rule; nothing to compare
        now = metrics.value(metric, label)
        name = f"{metric}[{label}]" if label else metric
        checks.append(Check(f"{name} vs baseline", now, before - tolerance,
                            now >= before - tolerance,
                            f"baseline {before:.3f}, now {now:.3f} "
                            f"({now - before:+.3f}; tolerance {tolerance:g})"))
    return GateResult(tuple(checks))


def describe_failure(result: GateResult, metrics: Metrics, *, title: str) -> str:
    """A failure message naming metric, value, threshold and the top confusions."""
    lines = [title]
    for check in result.failures:
        lines.append(f"  FAILED {check.name}: {check.value:.3f} < {check.threshold:.3f}"
                     + (f" ({check.detail})" if check.detail else ""))
    confusions = top_confusions(metrics)
    if confusions:
        lines.append("  top confusions (expected -> predicted: count): " +
                     ", ".join(f"{t} -> {p}: {c}" for t, p, c in confusions))
    return "\n".join(lines)
