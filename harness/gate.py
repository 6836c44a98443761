"""Quality gates -> GateResult with reasons.

- `check_rules`: the task.yaml thresholds, absolute floors on this run's metrics.
- `check_paired`: one run against another on the same examples (a baseline, or the base of a
  pull request). Each gated metric fails only when its drop is beyond the tolerance **and** a
  paired test says it is unlikely to be noise at the task's alpha (exact McNemar on the flips
  for accuracy and per-label recall, a paired bootstrap for precision and the F1 family);
  `baseline_rule: strict` fails every drop beyond the tolerance. Flipped examples are listed;
  where the split is too small for the test to ever detect a drop of the tolerance, a power
  note says so instead of the gate silently passing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.metrics import Metrics, rule_value, top_confusions
from harness.records import INVALID, Rule, TaskSpec
from harness.stats import MCNEMAR_METRICS, min_significant_flips, paired_delta
from harness.stored import Flip, Outcome


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # "macro_f1 >= 0.5" or "macro_f1 vs baseline"
    value: float
    threshold: float
    passed: bool
    detail: str = ""
    # Paired checks: the reference value, the change's CI and p-value, and the test used.
    before: float | None = None
    low: float | None = None
    high: float | None = None
    pvalue: float | None = None
    test: str = ""

    @property
    def delta(self) -> float | None:
        return None if self.before is None else self.value - self.before


@dataclass(frozen=True, slots=True)
class GateResult:
    checks: tuple[Check, ...]
    skipped: str = ""  # why no comparison happened (e.g. no baseline yet)
    fixed: tuple[Flip, ...] = ()  # paired: wrong in the reference, right now
    broken: tuple[Flip, ...] = ()  # paired: right in the reference, wrong now
    notes: tuple[str, ...] = ()  # power notes, unjudged rules

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


def check_rules(metrics: Metrics, rules: tuple[Rule, ...]) -> GateResult:
    """Thresholds. A per-label recall/F1 floor on a label with no examples in the run cannot be
    judged: it is reported as such (and not failed), never as recall 0."""
    checks, notes = [], []
    for rule in rules:
        value = rule_value(metrics, rule)
        if rule.label and rule.metric in ("recall", "f1") and \
                metrics.per_label[rule.label].support == 0:
            notes.append(f"{rule} not judged: label {rule.label!r} has no examples in this run "
                         f"(support 0); use a larger --limit or another split")
            checks.append(Check(str(rule), value, rule.minimum, True, "not judged: support 0"))
            continue
        checks.append(Check(str(rule), value, rule.minimum, value >= rule.minimum))
    return GateResult(tuple(checks), notes=tuple(notes))


def gated_metrics(rules: tuple[Rule, ...], main_metric: str) -> list[tuple[str, str | None]]:
    """The metrics compared between runs: the task's main metric and every gated one."""
    seen: list[tuple[str, str | None]] = [(main_metric, None)]
    for rule in rules:
        if (rule.metric, rule.label) not in seen:
            seen.append((rule.metric, rule.label))
    return seen


def _shown(outcome: Outcome) -> str:
    return outcome.predicted if outcome.predicted is not None else "call error"


def check_paired(before: Sequence[Outcome], after: Sequence[Outcome], *, task: TaskSpec,
                 inputs: Mapping[str, Mapping[str, str]] | None = None,
                 strict: bool | None = None, reference: str = "baseline",
                 seed: int = 0) -> GateResult:
    """Gate `after` against `before` on the examples both answered (paired by id).

    `strict` (default: task.yaml `baseline_rule`) keeps the point rule: any drop beyond the
    tolerance fails. `inputs` (id -> input fields) are shown with the flips."""
    strict = task.baseline_rule == "strict" if strict is None else strict
    by_id = {o.id: o for o in before}
    pairs = [(by_id[o.id], o) for o in after
             if o.id in by_id and o.error is None and by_id[o.id].error is None]
    if not pairs:
        return GateResult((), skipped=f"no example answered in both this run and the "
                                      f"{reference}; not compared")
    labels = task.label_names
    y_true = [b.expected for b, _ in pairs]
    pred_before = [b.predicted if b.predicted in labels else INVALID for b, _ in pairs]
    pred_after = [a.predicted if a.predicted in labels else INVALID for _, a in pairs]
    k = min_significant_flips(task.alpha)
    tolerance = task.baseline_tolerance
    checks, notes = [], []
    for metric, label in gated_metrics(task.rules, task.metric):
        d = paired_delta(y_true, pred_before, pred_after, labels=labels, metric=metric,
                         label=label, seed=seed)
        beyond = d.delta < -tolerance - 1e-12
        significant = d.pvalue < task.alpha
        passed = not beyond if strict else not (beyond and significant)
        test = ("exact McNemar" if d.test == "mcnemar" else "paired bootstrap")
        detail = (f"{reference} {d.before:.3f}, now {d.after:.3f} ({d.delta:+.3f}; tolerance "
                  f"{tolerance:g}); {test} p={d.pvalue:.3g}, 95% CI of the change "
                  f"[{d.low:+.3f}, {d.high:+.3f}]")
        if d.test == "mcnemar":
            detail += f", {d.fixed} fixed / {d.broken} broken of {d.n}"
        if beyond and not significant and not strict:
            detail += f"; within noise at alpha {task.alpha:g}, not failed"
        checks.append(Check(f"{d.name} vs {reference}", d.after, d.before - tolerance, passed,
                            detail, d.before, d.low, d.high, d.pvalue, d.test))
        if not strict:
            scope = d.n if metric in MCNEMAR_METRICS else len(pairs)
            smallest = k / scope if scope else float("inf")
            if smallest > tolerance:
                where = f"{scope} examples of {label!r}" if label and metric == "recall" \
                    else f"{scope} examples"
                notes.append(
                    f"power: {d.name}: on {where} a drop is told from noise at alpha "
                    f"{task.alpha:g} only from about {k} examples flipping one way "
                    f"({min(smallest, 1.0):.3f}); a drop of {tolerance:g} cannot be detected "
                    f"here: add examples, or set `baseline_rule: strict` in task.yaml")
    fixed, broken = [], []
    for b, a in pairs:
        if b.correct != a.correct:
            flip = Flip(a.id, (inputs or {}).get(a.id, a.inputs), a.expected, _shown(b),
                        _shown(a), b.confidence, a.confidence)
            (fixed if a.correct else broken).append(flip)
    return GateResult(tuple(checks), fixed=tuple(fixed), broken=tuple(broken),
                      notes=tuple(notes))


def _confidence(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def flip_lines(result: GateResult, *, limit: int = 10, width: int = 90) -> list[str]:
    """The broken then fixed examples, one line each, at most `limit` of each kind."""
    lines = []
    for kind, flips in (("broken", result.broken), ("fixed", result.fixed)):
        if not flips:
            continue
        lines.append(f"  {kind} ({len(flips)}): id, expected, before -> after (confidence)")
        for f in flips[:limit]:
            text = " | ".join(str(v) for v in f.inputs.values()).replace("\n", " ")
            text = text if len(text) <= width else text[: width - 1] + "…"
            lines.append(f"    {f.id}: {f.expected}, {f.before} ({_confidence(f.before_confidence)})"
                         f" -> {f.after} ({_confidence(f.after_confidence)})  {text!r}")
        if len(flips) > limit:
            lines.append(f"    ... and {len(flips) - limit} more")
    return lines


def describe_failure(result: GateResult, metrics: Metrics, *, title: str) -> str:
    """A failure message naming metric, value, threshold, the paired test, the flips and the
    top confusions."""
    lines = [title]
    for check in result.failures:
        lines.append(f"  FAILED {check.name}: {check.value:.3f} < {check.threshold:.3f}"
                     + (f" ({check.detail})" if check.detail else ""))
    lines += [f"  note: {note}" for note in result.notes]
    lines += flip_lines(result)
    confusions = top_confusions(metrics)
    if confusions:
        lines.append("  top confusions (expected -> predicted: count): " +
                     ", ".join(f"{t} -> {p}: {c}" for t, p, c in confusions))
    return "\n".join(lines)
