"""`harness ci`: gate the prompt versions a change affects. For each affected version, the base
template (read from git) and the head template are evaluated on the same examples, and the
paired gate (harness.gate.check_paired) plus the task.yaml thresholds decide; new versions get
the thresholds only; unaffected versions cost nothing."""

from __future__ import annotations

from harness.api import Evaluation, Session
from harness.ci.affected import affected_versions
from harness.ci.baseversion import load_base_version
from harness.ci.git import head_commit, resolve_base
from harness.ci.records import (AFFECTED, ERROR, FAIL, PASS, REPORTED, CheckLine,
                                CiReport, FlipLine, VersionVerdict)
from harness.gate import GateResult, check_paired
from harness.store import to_stored


def _text(inputs) -> str:
    return " | ".join(str(v) for v in inputs.values())


def _threshold_lines(evaluation: Evaluation, gated: bool) -> list[CheckLine]:
    return [CheckLine(c.name.split(" >= ")[0], "threshold", c.passed, value=c.value,
                      threshold=c.threshold,
                      gated=gated, detail=c.detail) for c in evaluation.thresholds.checks]


def _paired_lines(gate: GateResult, tolerance: float, gated: bool) -> list[CheckLine]:
    return [CheckLine(c.name.removesuffix(" vs base"), "paired", c.passed, value=c.value,
                      before=c.before, tolerance=tolerance, delta=c.delta, low=c.low,
                      high=c.high, pvalue=c.pvalue,
                      test="McNemar exact" if c.test == "mcnemar" else "paired bootstrap",
                      gated=gated, detail=c.detail) for c in gate.checks]


def _verdict(session: Session, change, base_commit: str) -> VersionVerdict:
    head = session.evaluate(change.task, change.version)
    retired = head.retired
    calls = head.result.model_calls
    if head.result.errors:
        return VersionVerdict(change.task, change.version, ERROR, change.status, change.reason,
                              (f"{len(head.result.errors)} model calls failed: "
                               f"{head.result.errors[0].error}",),
                              examples=len(head.result.examples), model_calls=calls)
    checks = _threshold_lines(head, gated=not retired)
    flips, notes = [], list(head.thresholds.notes)
    if change.status == AFFECTED:
        task = session.task(change.task)
        base = session.evaluate_prompt(
            load_base_version(session.settings.root, task, change.version, base_commit),
            label=f"{change.version}@base")
        calls += base.result.model_calls
        if base.result.errors:
            return VersionVerdict(change.task, change.version, ERROR, change.status,
                                  change.reason, (f"{len(base.result.errors)} model calls "
                                                  f"failed on the base version",),
                                  examples=len(head.result.examples), model_calls=calls)
        gate = check_paired(to_stored(base.result, base.metrics).outcomes,
                            head.stored().outcomes, task=task, reference="base",
                            inputs={e.id: e.inputs for e in head.result.examples},
                            strict=session.settings.strict_baseline or None)
        checks += _paired_lines(gate, task.baseline_tolerance, gated=not retired)
        notes += gate.notes
        flips = [FlipLine(f.id, _text(f.inputs), f.expected, f.before, f.after, fixed,
                          f.before_confidence, f.after_confidence)
                 for fixed, group in ((False, gate.broken), (True, gate.fixed)) for f in group]
    failed = [c for c in checks if c.gated and not c.passed]
    status = REPORTED if retired else FAIL if failed else PASS
    return VersionVerdict(change.task, change.version, status, change.status, change.reason,
                          tuple(f"{c.name}: {c.detail or 'failed'}" for c in failed),
                          tuple(checks), tuple(flips), tuple(notes),
                          examples=len(head.result.examples), model_calls=calls,
                          duration_s=head.result.duration_s)


def check_changes(session: Session, base: str | None = None) -> CiReport:
    root = session.settings.root
    ref = resolve_base(root, base)
    changes = affected_versions(root, ref.commit)
    verdicts = [_verdict(session, change, ref.commit) for change in changes.evaluated]
    s = session.settings
    return CiReport(ref.commit, ref.label, head_commit(root), tuple(verdicts),
                    changes.unaffected, changes.deleted, s.model, s.mode, s.split, s.limit,
                    dirty=session.git().get("dirty") == "yes")
