"""harness.stats: bootstrap intervals, calibration, coverage, McNemar. Pure functions, no model."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import precision_recall_fscore_support

import harness.stats
from harness.metrics import classification_metrics
from harness.records import INVALID
from harness.stats import (bootstrap_intervals, calibration, coverage_curve, mcnemar_exact,
                           scores_from_confusion)

LABELS = ("a", "b", "c")


def random_run(n: int, seed: int, accuracy: float = 0.6):
    rng = np.random.default_rng(seed)
    y_true = list(rng.choice(LABELS, size=n))
    y_pred = [t if rng.random() < accuracy else rng.choice([*LABELS, INVALID]) for t in y_true]
    return y_true, [str(p) for p in y_pred]


def test_doctests():
    assert doctest.testmod(harness.stats).failed == 0


@pytest.mark.parametrize("seed", range(5))
def test_scores_from_confusion_agree_with_sklearn(seed):
    y_true, y_pred = random_run(80, seed)
    m = classification_metrics(y_true, y_pred, labels=LABELS)
    scores = scores_from_confusion(np.asarray(m.confusion))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS),
                                                 zero_division=0)
    np.testing.assert_allclose(scores["precision"], p)
    np.testing.assert_allclose(scores["recall"], r)
    np.testing.assert_allclose(scores["f1"], f)
    for name in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "micro_f1",
                 "weighted_f1"):
        assert scores[name] == pytest.approx(getattr(m, name)), name


def test_bootstrap_is_seeded_brackets_the_estimate_and_narrows_with_more_data():
    y_true, y_pred = random_run(200, 1)
    first = bootstrap_intervals(y_true, y_pred, labels=LABELS, seed=7)
    assert first == bootstrap_intervals(y_true, y_pred, labels=LABELS, seed=7)
    assert first != bootstrap_intervals(y_true, y_pred, labels=LABELS, seed=8)
    m = classification_metrics(y_true, y_pred, labels=LABELS)
    for name, iv in first.overall.items():
        assert iv.low <= getattr(m, name) <= iv.high, name
    for label in LABELS:
        for name in ("precision", "recall", "f1"):
            iv = first.per_label[label][name]
            assert iv.low <= getattr(m.per_label[label], name) <= iv.high
    big_true, big_pred = random_run(5000, 1)
    big = bootstrap_intervals(big_true, big_pred, labels=LABELS, seed=7)
    width = lambda iv: iv.high - iv.low  # noqa: E731
    assert width(big.overall["macro_f1"]) < width(first.overall["macro_f1"]) / 2


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_intervals(["a"], [], labels=LABELS)
    with pytest.raises(ValueError, match="outside labels"):
        bootstrap_intervals(["z"], ["a"], labels=LABELS)


def test_calibration_of_a_perfectly_calibrated_sample_is_near_zero():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, size=20000)
    correct = rng.random(20000) < confidence  # right exactly as often as it claims
    assert calibration(correct, confidence).ece < 0.02
    overconfident = calibration(correct, np.minimum(confidence + 0.2, 1.0))
    assert overconfident.ece > 0.1
    assert sum(b.count for b in overconfident.bins) == 20000


def test_calibration_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration([True], [1.5])


def test_coverage_curve_ends_at_overall_accuracy_and_grows_in_coverage():
    rng = np.random.default_rng(3)
    confidence = rng.random(1000)
    correct = rng.random(1000) < confidence
    curve = coverage_curve(correct, confidence)
    assert curve[-1].coverage == 1.0 and curve[-1].accuracy == pytest.approx(correct.mean())
    assert all(a.coverage < b.coverage for a, b in zip(curve, curve[1:]))
    assert all(a.threshold > b.threshold for a, b in zip(curve, curve[1:]))
    assert curve[0].accuracy > curve[-1].accuracy  # confident answers are right more often
    assert len(coverage_curve(correct, confidence, max_points=50)) <= 51


def test_mcnemar_matches_the_exact_binomial_test_and_is_symmetric():
    a = [True] * 30 + [False] * 12 + [True] * 3 + [False] * 5
    b = [True] * 30 + [True] * 12 + [False] * 3 + [False] * 5
    result = mcnemar_exact(a, b)
    assert (result.fixed, result.broken, result.both_right, result.both_wrong) == (12, 3, 30, 5)
    assert result.pvalue == pytest.approx(binomtest(3, 15, 0.5).pvalue)
    assert mcnemar_exact(b, a).pvalue == pytest.approx(result.pvalue)
    assert mcnemar_exact(a, a).pvalue == 1.0


def test_paired_delta_identical_predictions_is_no_change():
    from harness.stats import paired_delta
    y = ["a", "b"] * 10
    d = paired_delta(y, y, y, labels=["a", "b"], metric="macro_f1")
    assert (d.delta, d.pvalue, d.fixed, d.broken) == (0.0, 1.0, 0, 0)


def test_paired_delta_one_flip_in_a_small_label_is_noise():
    from harness.stats import paired_delta
    y = ["a"] * 12 + ["b"] * 58
    before = list(y)
    after = ["b"] + y[1:]  # one of 12 'a' examples flips
    d = paired_delta(y, before, after, labels=["a", "b"], metric="recall", label="a")
    assert d.n == 12 and d.broken == 1 and d.fixed == 0
    assert round(d.delta, 3) == round(-1 / 12, 3)
    assert d.pvalue == 1.0 and d.test == "mcnemar"


def test_paired_delta_real_drop_is_significant_for_bootstrap_metrics():
    from harness.stats import paired_delta
    rng = np.random.default_rng(1)
    y = list(rng.choice(["a", "b", "c"], size=300))
    before = list(y)
    after = [("b" if t == "a" else "c" if t == "b" else "a") if i % 4 == 0 else t
             for i, t in enumerate(y)]  # a quarter of the examples broken
    d = paired_delta(y, before, after, labels=["a", "b", "c"], metric="macro_f1")
    assert d.test == "bootstrap" and d.delta < -0.15
    assert d.high < 0 and d.pvalue < 0.01
    assert d.low <= d.delta <= d.high


def test_paired_delta_shares_resamples_between_metrics_of_one_pair_only():
    """The gate tests several metrics of the same pair: the resamples are computed once and
    reused, which must give exactly what a cold computation gives, and never leak into another
    pair of runs."""
    from harness.stats import _paired_resamples, paired_delta
    y, before = random_run(200, seed=3)
    _, after = random_run(200, seed=4)
    _, other = random_run(200, seed=5)
    metrics = [("macro_f1", None), ("precision", "a"), ("f1", "c"), ("weighted_f1", None)]
    warm = [paired_delta(y, before, after, labels=LABELS, metric=m, label=lab)
            for m, lab in metrics]
    assert _paired_resamples.cache_info().hits >= len(metrics) - 1
    for (m, lab), shared in zip(metrics, warm):
        _paired_resamples.cache_clear()
        assert paired_delta(y, before, after, labels=LABELS, metric=m, label=lab) == shared
    paired_delta(y, before, after, labels=LABELS, metric="macro_f1")  # cache now holds this pair
    cold_other = paired_delta(y, before, other, labels=LABELS, metric="macro_f1")
    _paired_resamples.cache_clear()
    assert paired_delta(y, before, other, labels=LABELS, metric="macro_f1") == cold_other
    assert cold_other != warm[0]


def test_paired_delta_rejects_mismatched_input():
    from harness.stats import paired_delta
    with pytest.raises(ValueError, match="needs a label"):
        paired_delta(["a"], ["a"], ["a"], labels=["a"], metric="recall")
    with pytest.raises(ValueError, match="differ in length"):
        paired_delta(["a"], ["a"], [], labels=["a"], metric="accuracy")


def test_min_significant_flips_matches_mcnemar():
    from harness.stats import mcnemar_exact, min_significant_flips
    k = min_significant_flips(0.05)
    assert mcnemar_exact([True] * k, [False] * k).pvalue < 0.05
    assert mcnemar_exact([True] * (k - 1), [False] * (k - 1)).pvalue >= 0.05
