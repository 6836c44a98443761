"""Classification metrics. Pure functions of (y_true, y_pred); no I/O. The arithmetic is
`harness.stats.scores_from_confusion` (one implementation for point values and bootstrap
resamples; tests check it against scikit-learn, which costs ~40 ms per call in argument checks).

Conventions (as in sklearn): precision/recall/F1 are computed over the task's labels. A prediction
of INVALID is never correct: it lowers the true label's recall and counts against accuracy, and
it has its own column in the confusion matrix. Errored calls (infrastructure failures) are not
predictions: they are excluded and counted in `n_errors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import UsageError
from harness.records import INVALID, OVERALL_METRICS, RunResult, Rule
from harness.stats import confusion_counts, scores_from_confusion


@dataclass(frozen=True, slots=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Metrics:
    labels: tuple[str, ...]
    per_label: Mapping[str, LabelScores]
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    micro_f1: float
    weighted_f1: float
    # rows: true label (in `labels` order); columns: `labels` + INVALID
    confusion: tuple[tuple[int, ...], ...]
    n: int
    n_invalid: int
    n_errors: int = 0

    def value(self, metric: str, label: str | None = None) -> float:
        """`value("macro_f1")`, `value("recall", "Objective")`."""
        if label is None:
            return float(getattr(self, metric))
        return float(getattr(self.per_label[label], metric))

    def as_dict(self) -> dict:
        return {
            "n": self.n, "n_invalid": self.n_invalid, "n_errors": self.n_errors,
            "accuracy": self.accuracy, "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall, "macro_f1": self.macro_f1,
            "micro_f1": self.micro_f1, "weighted_f1": self.weighted_f1,
            "per_label": {k: {"precision": v.precision, "recall": v.recall, "f1": v.f1,
                              "support": v.support} for k, v in self.per_label.items()},
            "confusion": {"rows": list(self.labels), "columns": [*self.labels, INVALID],
                          "counts": [list(row) for row in self.confusion]},
        }


    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "metrics") -> Metrics:
        """The inverse of as_dict (a stored run or baseline). A baseline stores no confusion
        matrix; it reads back as all zeros."""
        try:
            per_label = {str(label): LabelScores(float(v["precision"]), float(v["recall"]),
                                                 float(v["f1"]), int(v["support"]))
                         for label, v in data["per_label"].items()}
            labels = tuple(per_label)
            counts = (data.get("confusion") or {}).get("counts") or \
                [[0] * (len(labels) + 1) for _ in labels]
            return cls(labels=labels, per_label=per_label,
                       **{name: float(data[name]) for name in OVERALL_METRICS},
                       confusion=tuple(tuple(int(v) for v in row) for row in counts),
                       n=int(data["n"]), n_invalid=int(data.get("n_invalid", 0)),
                       n_errors=int(data.get("n_errors", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{where}: malformed metrics ({exc!r})") from None


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], *,
                           labels: Sequence[str], n_errors: int = 0) -> Metrics:
    """Per-label and averaged precision/recall/F1, accuracy and the confusion matrix.

    >>> m = classification_metrics(["a", "a", "b"], ["a", "INVALID", "b"], labels=["a", "b"])
    >>> (m.accuracy, m.per_label["a"].recall, m.n_invalid)
    (0.6666666666666666, 0.5, 1)
    """
    labels = tuple(labels)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    unknown_true = sorted(set(y_true) - set(labels))
    if unknown_true:
        raise ValueError(f"y_true holds values outside labels: {unknown_true}; labels: {labels}")
    unknown_pred = sorted(set(y_pred) - set(labels) - {INVALID})
    if unknown_pred:
        raise ValueError(f"y_pred holds values outside labels and {INVALID!r}: {unknown_pred}")
    if not y_true:
        zero = LabelScores(0.0, 0.0, 0.0, 0)
        return Metrics(labels, {l: zero for l in labels}, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                       tuple(tuple(0 for _ in range(len(labels) + 1)) for _ in labels), 0, 0,
                       n_errors)

    matrix = confusion_counts(y_true, y_pred, labels)
    scores = scores_from_confusion(matrix)
    support = matrix.sum(axis=1)
    return Metrics(
        labels=labels,
        per_label={label: LabelScores(float(scores["precision"][i]), float(scores["recall"][i]),
                                      float(scores["f1"][i]), int(support[i]))
                   for i, label in enumerate(labels)},
        **{name: float(scores[name]) for name in OVERALL_METRICS},
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        n=len(y_true),
        n_invalid=sum(1 for v in y_pred if v == INVALID),
        n_errors=n_errors,
    )


def metrics_for(result: RunResult) -> Metrics:
    answered = result.answered
    return classification_metrics([p.expected for p in answered],
                                  [p.predicted for p in answered],  # type: ignore[misc]
                                  labels=result.task.label_names,
                                  n_errors=len(result.errors))


def top_confusions(metrics: Metrics, k: int = 3) -> list[tuple[str, str, int]]:
    """The k largest off-diagonal cells as (true, predicted, count)."""
    columns = [*metrics.labels, INVALID]
    cells = [(metrics.labels[i], columns[j], count)
             for i, row in enumerate(metrics.confusion) for j, count in enumerate(row)
             if count and metrics.labels[i] != columns[j]]
    return sorted(cells, key=lambda cell: -cell[2])[:k]


def rule_value(metrics: Metrics, rule: Rule) -> float:
    return metrics.value(rule.metric, rule.label)


# One label taking this share of the predictions, while the truth gives it less, is a collapse.
COLLAPSE_SHARE = 0.9
COLLAPSE_MIN_N = 10  # below this a share says little either way


def collapse_note(metrics: Metrics, *, share: float = COLLAPSE_SHARE,
                  min_n: int = COLLAPSE_MIN_N) -> str | None:
    """A plain sentence when the predictions collapsed onto one label (or onto INVALID) while
    the truth is not that skewed; None otherwise. Shares are floored, so 99.6% never reads 100%.

    >>> m = classification_metrics(["a"] * 6 + ["b"] * 6, ["a"] * 11 + ["b"], labels=["a", "b"])
    >>> collapse_note(m)
    "91% of predictions are 'a' (the truth: 50%)"
    """
    if metrics.n < min_n:
        return None
    columns = [*metrics.labels, INVALID]
    predicted = [sum(row[j] for row in metrics.confusion) for j in range(len(columns))]
    top = max(range(len(columns)), key=predicted.__getitem__)
    top_share = predicted[top] / metrics.n
    truth_share = sum(metrics.confusion[top]) / metrics.n if top < len(metrics.labels) else 0.0
    if top_share < share or truth_share >= share:
        return None
    amount = "all predictions" if predicted[top] == metrics.n else \
        f"{_floor_percent(top_share)}% of predictions"
    if columns[top] == INVALID:
        return f"{amount} are INVALID (no label asserted)"
    return f"{amount} are {columns[top]!r} (the truth: {_floor_percent(truth_share)}%)"


def _floor_percent(share: float) -> int:
    return int(share * 100 + 1e-9)  # 0.29 * 100 is 28.999...
