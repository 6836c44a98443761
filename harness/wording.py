"""What the CLI and the pytest summary both say about an evaluation, worded once."""

from __future__ import annotations

from typing import Any


def status(evaluation: Any) -> str:
    """The gate column of the metrics table."""
    gate = evaluation.thresholds
    text = "pass" if gate.passed else "FAIL " + "; ".join(c.name for c in gate.failures)
    if evaluation.metrics.n_errors:  # a gate on partial answers would be a guess
        text = f"not judged: {evaluation.metrics.n_errors} calls failed"
    if evaluation.retired:
        text = f"retired ({text})"
    return text


def baseline_status(evaluation: Any) -> str:
    """One line on the comparison with the committed baseline."""
    gate = evaluation.baseline
    if gate.skipped:
        return f"{evaluation.name} vs baseline: not compared: {gate.skipped}"
    verdict = "pass" if gate.passed else "REGRESSED " + "; ".join(c.name for c in gate.failures)
    if evaluation.retired:
        verdict = f"reported, not gated (retired): {verdict}"
    return (f"{evaluation.name} vs baseline: {verdict} ({len(gate.fixed)} fixed, "
            f"{len(gate.broken)} broken)")


def notes(evaluation: Any) -> list[str]:
    """What a reader of the table must know: predictions collapsed onto one label, failed
    calls, missing confidences, rules that could not be judged, what the baseline test can and
    cannot detect."""
    from harness.metrics import collapse_note  # here: the CLI imports this module at startup

    name, result = evaluation.name, evaluation.result
    lines = [f"{name}: {collapsed}"] if (collapsed := collapse_note(evaluation.metrics)) else []
    spec = result.spec
    if spec.strategy != "zero-shot" or spec.strategy_source == "override":
        lines.append(f"{name}: {strategy_line(spec)}")
    if result.errors:
        lines.append(f"{name}: {len(result.errors)} of {len(result.predictions)} model calls "
                     f"failed (infrastructure, not wrong answers; metrics cover the answered "
                     f"ones): {result.errors[0].error}\n  re-run the same command to retry only "
                     f"those; finished calls are cached")
    if result.without_confidence:
        lines.append(f"{name}: confidence unavailable for {result.without_confidence} answers "
                     f"(the server gave no usable logprobs for them); none was invented")
    lines += [f"{name}: {note}" for note in evaluation.thresholds.notes]
    lines += [f"{name}: {note}" for note in evaluation.baseline.notes]
    return lines


def calls_failed(evaluation: Any) -> str:
    errors = evaluation.result.errors
    return (f"{evaluation.name}: {len(errors)} of {len(evaluation.result.predictions)} model "
            f"calls failed (infrastructure errors, not wrong answers), so the gate was not "
            f"evaluated. First: {errors[0].error}\nRe-run to retry only the failed calls "
            f"(finished ones are cached).")


def strategy_line(spec: Any) -> str:
    """Which prompting strategy ran and why (declared by the version, or a --strategy
    override, which the gate must not mistake for what ships)."""
    source = {"override": "OVERRIDE (exploration, not what the version declares)",
              "declared": "declared by the version", "default": "default"}
    text = f"strategy {spec.strategy}, {source.get(spec.strategy_source, spec.strategy_source)}"
    return f"{text}: {spec.strategy_note}" if spec.strategy_note else text
