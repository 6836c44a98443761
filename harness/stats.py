"""Uncertainty and confidence statistics: pure functions over arrays, no I/O, seeded randomness.

- `bootstrap_intervals`: percentile bootstrap CIs for accuracy, macro/micro/weighted averages and
  per-label precision/recall/F1 (vectorized over resamples, so a 10,000-example run stays fast).
- `calibration`: reliability bins and expected calibration error (ECE).
- `coverage_curve`: accuracy if only predictions at or above a confidence are auto-accepted.
- `mcnemar_exact`: paired exact test on the examples two runs disagree on.
- `paired_delta`: is a metric's change between two runs on the same examples beyond noise?

Conventions match harness.metrics: INVALID is a prediction outside the labels (never correct, not
a predicted-positive for any label); precision/recall with a zero denominator are 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.records import LABEL_METRICS, OVERALL_METRICS



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


def confusion_counts(y_true: Sequence[str], y_pred: Sequence[str],
                     labels: Sequence[str]) -> np.ndarray:
    """The (k, k+1) confusion matrix: rows the true label, columns the predicted one, the last
    column every prediction outside the labels (INVALID)."""
    true, pred = _encode(y_true, y_pred, labels)
    k = len(labels)
    return np.bincount(true * (k + 1) + pred, minlength=k * (k + 1)).reshape(k, k + 1)


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
        # sklearn's form, 2tp / (predicted + support): the same value as 2pr / (p + r)
        # without its rounding, so stored metrics do not move by an ulp against sklearn's.
        f1 = np.where(predicted + support > 0, 2 * tp / (predicted + support), 0.0)
        tp_all, pred_all = tp.sum(axis=-1), predicted.sum(axis=-1)
        micro_f1 = np.where(pred_all + n > 0, 2 * tp_all / (pred_all + n), 0.0)
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
        return Intervals(confidence, 0, seed, {m: zero for m in OVERALL_METRICS},
                         {label: {m: zero for m in ("precision", "recall", "f1")}
                          for label in labels})
    true, pred = _encode(y_true, y_pred, labels)
    (scores,) = _resampled_scores([true * (k + 1) + pred], k, n_resamples, seed)
    tail = (1 - confidence) / 2 * 100

    def interval(values: np.ndarray) -> Interval:
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high))

    return Intervals(
        confidence, n_resamples, seed,
        overall={m: interval(scores[m]) for m in OVERALL_METRICS},
        per_label={label: {m: interval(scores[m][:, i]) for m in ("precision", "recall", "f1")}
                   for i, label in enumerate(labels)})


def _resampled_scores(cells: Sequence[np.ndarray], k: int, n_resamples: int,
                      seed: int) -> list[dict[str, np.ndarray]]:
    """Metrics of `n_resamples` bootstrap resamples of the examples, one dict per cell array
    (true * (k + 1) + predicted). Every array is resampled with the same indices, so several
    prediction lists of the same examples stay paired."""
    n = len(cells[0])
    rng = np.random.default_rng(seed)
    chunks: list[list[np.ndarray]] = [[] for _ in cells]
    # Chunked so memory stays bounded (resamples x n indices) on large runs.
    per_chunk = max(1, min(n_resamples, 2_000_000 // n))
    for start in range(0, n_resamples, per_chunk):
        b = min(per_chunk, n_resamples - start)
        index = rng.integers(0, n, size=(b, n))
        offsets = (np.arange(b) * k * (k + 1))[:, None]
        for chunk, cell in zip(chunks, cells):
            flat = np.bincount((cell[index] + offsets).ravel(), minlength=b * k * (k + 1))
            chunk.append(flat.reshape(b, k, k + 1))
    return [scores_from_confusion(np.concatenate(chunk)) for chunk in chunks]


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


# Metrics whose paired change is tested with McNemar on the flips: each is a proportion of
# correct examples over a set that does not depend on the predictions (all examples; the
# examples of one true label). Precision and the F1 family have prediction-dependent
# denominators, so their flips are no binomial pair: they get the paired bootstrap.
MCNEMAR_METRICS = ("accuracy", "recall")


@functools.lru_cache(maxsize=4)
def _paired_resamples(before: bytes, after: bytes, k: int, n_resamples: int,
                      seed: int) -> list[dict[str, np.ndarray]]:
    """`_resampled_scores` of one pair of runs, kept for the next call: the gate tests every
    gated metric of the same pair with the same seed, so the resamples are identical and
    computing them once makes a four-metric gate ~4x cheaper. Keyed by the encoded cells
    themselves, so another pair can never get these. Callers must not modify the arrays."""
    cells = [np.frombuffer(before, dtype=np.int64), np.frombuffer(after, dtype=np.int64)]
    return _resampled_scores(cells, k, n_resamples, seed)


@dataclass(frozen=True, slots=True)
class PairedDelta:
    """A metric before and after on the same examples, with a paired test of the change.
    `low`/`high`: percentile-bootstrap CI of `after - before`; `pvalue`: two-sided, from exact
    McNemar (`test == "mcnemar"`) or the paired bootstrap (`"bootstrap"`); `n`: the examples the
    metric is computed over (a label's support for recall); `fixed`/`broken`: among those,
    examples wrong before and right after, and the reverse."""

    metric: str
    label: str | None
    before: float
    after: float
    low: float
    high: float
    pvalue: float
    test: str
    n: int
    fixed: int
    broken: int

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def name(self) -> str:
        return f"{self.metric}[{self.label}]" if self.label else self.metric


def paired_delta(y_true: Sequence[str], pred_before: Sequence[str], pred_after: Sequence[str],
                 *, labels: Sequence[str], metric: str, label: str | None = None,
                 n_resamples: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> PairedDelta:
    """Paired test of `metric` (`label`'s, for precision/recall/f1) between two prediction
    lists of the same examples (INVALID is a prediction outside the labels).

    >>> d = paired_delta(["a"] * 20 + ["b"] * 20, ["a"] * 20 + ["b"] * 20,
    ...                  ["b"] * 8 + ["a"] * 12 + ["b"] * 20, labels=["a", "b"], metric="accuracy")
    >>> (round(d.delta, 2), d.broken, d.test, d.pvalue < 0.05)
    (-0.2, 8, 'mcnemar', True)
    """
    labels = tuple(labels)
    if not (len(y_true) == len(pred_before) == len(pred_after)):
        raise ValueError(f"paired predictions differ in length: {len(y_true)}, "
                         f"{len(pred_before)}, {len(pred_after)}")
    if (label is None) == (metric in LABEL_METRICS):
        raise ValueError(f"metric {metric!r} {'needs' if label is None else 'takes no'} a label")
    if label is not None and label not in labels:
        raise ValueError(f"label {label!r} is not one of {labels}")
    if metric not in (*OVERALL_METRICS, *LABEL_METRICS):
        raise ValueError(f"unknown metric {metric!r}; known: {(*OVERALL_METRICS, *LABEL_METRICS)}")
    k = len(labels)
    true, before = _encode(y_true, pred_before, labels)
    _, after = _encode(y_true, pred_after, labels)
    ok_before, ok_after = before == true, after == true
    if label is not None and metric == "recall":
        scope = true == labels.index(label)
    else:
        scope = np.ones(len(true), dtype=bool)
    fixed = int((~ok_before & ok_after & scope).sum())
    broken = int((ok_before & ~ok_after & scope).sum())
    n = int(scope.sum())

    def point(pred: np.ndarray) -> float:
        counts = np.bincount(true * (k + 1) + pred, minlength=k * (k + 1)).reshape(k, k + 1)
        scores = scores_from_confusion(counts)
        return float(scores[metric][labels.index(label)] if label else scores[metric])

    value_before, value_after = point(before), point(after)
    if len(true) == 0 or fixed + broken == 0 and np.array_equal(before, after):
        return PairedDelta(metric, label, value_before, value_after, 0.0, 0.0, 1.0,
                           "mcnemar" if metric in MCNEMAR_METRICS else "bootstrap", n, 0, 0)
    resampled = _paired_resamples((true * (k + 1) + before).tobytes(),
                                  (true * (k + 1) + after).tobytes(), k, n_resamples, seed)
    pick = (lambda s: s[metric][:, labels.index(label)]) if label else (lambda s: s[metric])
    deltas = pick(resampled[1]) - pick(resampled[0])
    tail = (1 - confidence) / 2 * 100
    low, high = (float(v) for v in np.percentile(deltas, [tail, 100 - tail]))
    if metric in MCNEMAR_METRICS:
        pvalue, test = mcnemar_exact(ok_before[scope], ok_after[scope]).pvalue, "mcnemar"
    else:
        pvalue = float(min(1.0, 2 * min((deltas <= 0).mean(), (deltas >= 0).mean())))
        test = "bootstrap"
    return PairedDelta(metric, label, value_before, value_after, low, high, pvalue, test, n,
                       fixed, broken)


def min_significant_flips(alpha: float) -> int:
    """The fewest flips, all in one direction, that exact McNemar calls significant at `alpha`
    (two-sided p = 2 * 0.5**k). Fewer examples than this can never show a change.

    >>> min_significant_flips(0.05), min_significant_flips(0.01)
    (6, 8)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = 1
    while 2 * 0.5 ** k >= alpha:
        k += 1
    return k
