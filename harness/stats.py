"""Uncertainty and confidence statistics: pure functions over arrays, no I/O, seeded randomness.

- `bootstrap_intervals`: percentile bootstrap CIs for accuracy, macro/micro/weighted averages and
  per-label precision/recall/F1 (vectorized over resamples, so a 10,000-example run stays fast).
- `calibration`: reliability bins and expected calibration error (ECE).
- `coverage_curve`: accuracy if only predictions at or above a confidence are auto-accepted.
- `mcnemar_exact`: paired exact test on the examples two runs disagree on.

Conventions match harness.metrics: INVALID is a prediction outside the labels (never correct, not
a predicted-positive for any label); precision/recall with a zero denominator are 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

AVERAGES = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "micro_f1", "weighted_f1")


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Intervals:
    """Bootstrap confidence intervals. `per_label[label][metric]`, metric in precision/recall/f1."""

    confidence: float
    n_resamples: int
    seed: int
    overall: Mapping[str, Interval]
    per_label: Mapping[str, Mapping[str, Interval]]

    def as_dict(self) -> dict:
        pair = lambda i: [i.low, i.high]  # noqa: E731
        return {"confidence": self.confidence, "n_resamples": self.n_resamples, "seed": self.seed,
                "overall": {k: pair(v) for k, v in self.overall.items()},
                "per_label": {label: {k: pair(v) for k, v in scores.items()}
                              for label, scores in self.per_label.items()}}


def _encode(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]):
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(y_true) - set(index))
    if unknown:
        raise ValueError(f"y_true holds values outside labels: {unknown}; labels: {tuple(labels)}")
    k = len(labels)  # every prediction outside the labels (INVALID) is column k
    return (np.array([index[v] for v in y_true], dtype=np.int64),
            np.array([index.get(v, k) for v in y_pred], dtype=np.int64))


def scores_from_confusion(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from confusion matrices of shape (..., k, k+1) (last column: INVALID).

    Returns arrays shaped like the leading axes (per-label ones with a trailing k axis). Agrees
    with sklearn's precision_recall_fscore_support(labels=labels, zero_division=0).
    """
    counts = counts.astype(np.float64)
    k = counts.shape[-2]
    tp = np.diagonal(counts[..., :k], axis1=-2, axis2=-1)
    support = counts.sum(axis=-1)
    predicted = counts[..., :k].sum(axis=-2)
    n = support.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        tp_all, pred_all = tp.sum(axis=-1), predicted.sum(axis=-1)
        micro_p = np.where(pred_all > 0, tp_all / pred_all, 0.0)
        micro_r = np.where(n > 0, tp_all / n, 0.0)
        micro_f1 = np.where(micro_p + micro_r > 0, 2 * micro_p * micro_r / (micro_p + micro_r), 0.0)
        weighted_f1 = np.where(n > 0, (f1 * support).sum(axis=-1) / n, 0.0)
        accuracy = np.where(n > 0, tp_all / n, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy,
            "macro_precision": precision.mean(axis=-1), "macro_recall": recall.mean(axis=-1),
            "macro_f1": f1.mean(axis=-1), "micro_f1": micro_f1, "weighted_f1": weighted_f1}


def bootstrap_intervals(y_true: Sequence[str], y_pred: Sequence[str], *, labels: Sequence[str],
                        n_resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> Intervals:
    """Percentile bootstrap over examples (resampled with replacement, `seed` fixed).

    >>> iv = bootstrap_intervals(["a"] * 50 + ["b"] * 50, ["a"] * 40 + ["b"] * 60, labels=["a", "b"])
    >>> iv.overall["accuracy"].low < 0.9 < iv.overall["accuracy"].high
    True
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    labels = tuple(labels)
    k, n = len(labels), len(y_true)
    if n == 0:
        zero = Interval(0.0, 0.0)
        return Intervals(confidence, 0, seed, {m: zero for m in AVERAGES},
                         {label: {m: zero for m in ("precision", "recall", "f1")}
                          for label in labels})
    true, pred = _encode(y_true, y_pred, labels)
    cell = true * (k + 1) + pred
    rng = np.random.default_rng(seed)
    chunks = []
    # Chunked so memory stays bounded (resamples x n indices) on large runs.
    per_chunk = max(1, min(n_resamples, 2_000_000 // n))
    for start in range(0, n_resamples, per_chunk):
        b = min(per_chunk, n_resamples - start)
        picks = cell[rng.integers(0, n, size=(b, n))]
        offsets = (np.arange(b) * k * (k + 1))[:, None]
        flat = np.bincount((picks + offsets).ravel(), minlength=b * k * (k + 1))
        chunks.append(flat.reshape(b, k, k + 1))
    scores = scores_from_confusion(np.concatenate(chunks))
    tail = (1 - confidence) / 2 * 100

    def interval(values: np.ndarray) -> Interval:
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high))

    return Intervals(
        confidence, n_resamples, seed,
        overall={m: interval(scores[m]) for m in AVERAGES},
        per_label={label: {m: interval(scores[m][:, i]) for m in ("precision", "recall", "f1")}
                   for i, label in enumerate(labels)})


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True, slots=True)
class Calibration:
    bins: tuple[CalibrationBin, ...]  # only non-empty bins
    ece: float  # sum over bins of (count / n) * |accuracy - mean confidence|
    n: int


def _check_confidence(correct: Sequence[bool], confidence: Sequence[float]):
    if len(correct) != len(confidence):
        raise ValueError(f"correct and confidence differ in length: "
                         f"{len(correct)} != {len(confidence)}")
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.size and (np.isnan(conf).any() or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidence values must be probabilities in [0, 1]")
    return np.asarray(correct, dtype=bool), conf


def calibration(correct: Sequence[bool], confidence: Sequence[float], *,
                n_bins: int = 10) -> Calibration:
    """Reliability bins of equal width over [0, 1] and the expected calibration error.

    >>> c = calibration([True, False, True, True], [0.9, 0.9, 0.6, 0.55], n_bins=10)
    >>> [(b.count, b.accuracy) for b in c.bins], round(c.ece, 3)
    ([(2, 1.0), (2, 0.5)], 0.413)
    """
    ok, conf = _check_confidence(correct, confidence)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece, n = [], 0.0, len(conf)
    for b in range(n_bins):
        mask = which == b
        count = int(mask.sum())
        if not count:
            continue
        mean_conf, acc = float(conf[mask].mean()), float(ok[mask].mean())
        bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), count, mean_conf, acc))
        ece += count / n * abs(acc - mean_conf)
    return Calibration(tuple(bins), float(ece), n)


@dataclass(frozen=True, slots=True)
class CoveragePoint:
    threshold: float  # accept predictions with confidence >= threshold
    coverage: float  # fraction of examples accepted
    accuracy: float  # accuracy on the accepted ones
    accepted: int


def coverage_curve(correct: Sequence[bool], confidence: Sequence[float], *,
                   max_points: int = 200) -> tuple[CoveragePoint, ...]:
    """Accuracy vs coverage when only predictions at or above a confidence are auto-accepted,
    from the strictest threshold (few accepted) to accepting everything. Ties share a point.

    >>> [(p.threshold, p.accepted, p.accuracy) for p in coverage_curve([1, 0, 1], [0.9, 0.6, 0.6])]
    [(0.9, 1, 1.0), (0.6, 3, 0.6666666666666666)]
    """
    ok, conf = _check_confidence(correct, confidence)
    if not len(conf):
        return ()
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    hits = np.cumsum(ok)
    # Last index of each run of equal confidence: a threshold accepts all ties together.
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    if len(ends) > max_points:  # keep the curve's shape, not every tie
        ends = np.unique(np.append(ends[np.linspace(0, len(ends) - 1, max_points).astype(int)],
                                   ends[-1]))
    n = len(conf)
    return tuple(CoveragePoint(float(conf[i]), (i + 1) / n, float(hits[i] / (i + 1)), int(i + 1))
                 for i in ends)


@dataclass(frozen=True, slots=True)
class McNemar:
    fixed: int  # wrong in A, right in B
    broken: int  # right in A, wrong in B
    both_right: int
    both_wrong: int
    pvalue: float  # exact (binomial) two-sided; 1.0 when nothing flipped


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> McNemar:
    """McNemar's exact test (statsmodels) on paired outcomes of the same examples.

    >>> m = mcnemar_exact([False] * 10 + [True] * 5, [True] * 10 + [True] * 5)
    >>> (m.fixed, m.broken, round(m.pvalue, 4))
    (10, 0, 0.002)
    """
    from statsmodels.stats.contingency_tables import mcnemar

    if len(a_correct) != len(b_correct):
        raise ValueError(f"paired outcomes differ in length: {len(a_correct)} != {len(b_correct)}")
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    both_right, both_wrong = int((a & b).sum()), int((~a & ~b).sum())
    fixed, broken = int((~a & b).sum()), int((a & ~b).sum())
    pvalue = 1.0 if fixed + broken == 0 else float(
        mcnemar([[both_right, broken], [fixed, both_wrong]], exact=True).pvalue)
    return McNemar(fixed, broken, both_right, both_wrong, min(pvalue, 1.0))
