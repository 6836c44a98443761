"""Everything a run report shows beyond the core metrics, computed once from plain records:
bootstrap intervals, calibration, accuracy-vs-coverage, and the classical baseline's metrics.

The report renders a RunAnalysis; it never recomputes any of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.classical import tfidf_logreg
from harness.errors import HarnessError
from harness.metrics import Metrics, classification_metrics
from harness.records import Example, RunResult
from harness.stats import (Calibration, CoveragePoint, Intervals, bootstrap_intervals, calibration,
                           coverage_curve)


@dataclass(frozen=True, slots=True)
class ClassicalBaseline:
    name: str
    metrics: Metrics
    n_train: int
    note: str = ""  # e.g. trained on the evaluated examples (optimistic)


@dataclass(frozen=True, slots=True)
class RunAnalysis:
    intervals: Intervals
    calibration: Calibration | None  # None when the mode gives no confidence
    coverage: tuple[CoveragePoint, ...]
    classical: ClassicalBaseline | None
    no_confidence: str = ""  # why calibration is absent
    classical_skipped: str = ""  # why the classical baseline is absent

    def as_dict(self) -> dict:
        out: dict = {"intervals": self.intervals.as_dict()}
        if self.calibration is not None:
            out["calibration"] = {"ece": self.calibration.ece, "n": self.calibration.n,
                                  "bins": [[b.low, b.high, b.count, b.mean_confidence, b.accuracy]
                                           for b in self.calibration.bins]}
        else:
            out["calibration"] = {"skipped": self.no_confidence}
        if self.classical is not None:
            out["classical"] = {"name": self.classical.name, "n_train": self.classical.n_train,
                                "note": self.classical.note,
                                "metrics": self.classical.metrics.as_dict()}
        else:
            out["classical"] = {"skipped": self.classical_skipped}
        return out


def analyze(result: RunResult, *, train: Sequence[Example], seed: int = 0,
            n_resamples: int = 1000) -> RunAnalysis:
    """`train`: the fixture's train split, for the classical baseline."""
    answered = [p for p in result.predictions if p.error is None]
    labels = result.task.label_names
    y_true = [p.expected for p in answered]
    y_pred = [p.predicted for p in answered]
    intervals = bootstrap_intervals(y_true, y_pred, labels=labels, n_resamples=n_resamples,
                                    seed=seed)

    scored = [p for p in answered if p.confidence is not None]
    if scored and len(scored) == len(answered):
        correct = [p.correct for p in scored]
        confidence = [p.confidence for p in scored]
        cal, curve, why = calibration(correct, confidence), coverage_curve(correct, confidence), ""
    else:
        cal, curve = None, ()
        why = (f"mode {result.spec.mode!r} gives no confidence (only `score` mode returns label "
               f"probabilities), so there is no reliability diagram, calibration error or "
               f"coverage curve for this run.") if answered else "no answered examples."

    classical, skipped = None, ""
    evaluated = [e for e, p in zip(result.examples, result.predictions) if p.error is None]
    if not evaluated:
        skipped = "no answered examples to score it on."
    else:
        try:
            fitted = tfidf_logreg(train, evaluated, labels, seed=seed)
        except HarnessError as exc:
            skipped = str(exc)
        except ValueError as exc:  # e.g. sklearn: empty vocabulary (inputs without words)
            skipped = f"could not fit it: {exc}"
        else:
            train_ids = {e.id for e in train}
            overlap = sum(1 for e in evaluated if e.id in train_ids)
            note = (f"{overlap} of the {len(evaluated)} evaluated examples are in its training "
                    f"data, so its scores are optimistic." if overlap else "")
            classical = ClassicalBaseline(
                fitted.name, classification_metrics([e.label for e in evaluated],
                                                    list(fitted.predictions), labels=labels),
                fitted.n_train, note)
    return RunAnalysis(intervals, cal, curve, classical, why, skipped)
