"""harness.metrics: per-label and averaged metrics against sklearn, INVALID, validation."""

from __future__ import annotations

import doctest

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

import harness.metrics
from harness.metrics import classification_metrics, top_confusions
from harness.records import INVALID


Y_TRUE = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"]
Y_PRED = ["a", "a", "b", INVALID, "b", "a", "b", "c", INVALID, "b"]
ABC = ["a", "b", "c"]


def test_metrics_match_sklearn():
    m = classification_metrics(Y_TRUE, Y_PRED, labels=ABC)
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, zero_division=0)
    for i, label in enumerate(ABC):
        assert m.per_label[label].precision == pytest.approx(p[i])
        assert m.per_label[label].recall == pytest.approx(r[i])
        assert m.per_label[label].f1 == pytest.approx(f[i])
        assert m.per_label[label].support == s[i]
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average=avg,
                                                        zero_division=0)
        assert getattr(m, f"{avg}_f1") == pytest.approx(af)
    assert m.macro_precision == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="macro",
                                        zero_division=0)[0])
    assert m.macro_recall == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="macro",
                                        zero_division=0)[1])
    assert m.micro_f1 == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="micro",
                                        zero_division=0)[2])
    assert m.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    expected = confusion_matrix(Y_TRUE, Y_PRED, labels=[*ABC, INVALID])[:3]
    assert [list(row) for row in m.confusion] == expected.tolist()
    # hand-checked values, so a shared mistake with sklearn's call would still show
    assert m.accuracy == pytest.approx(5 / 10)
    assert m.per_label["a"].recall == pytest.approx(2 / 4)
    assert m.per_label["a"].precision == pytest.approx(2 / 3)
    assert m.per_label["c"].recall == pytest.approx(1 / 3)
    assert m.n == 10 and m.n_invalid == 2 and m.n_errors == 0


def test_invalid_is_last_confusion_column_and_counts_against_accuracy_and_recall():
    m = classification_metrics(["a", "a", "b", "b"], ["a", INVALID, "b", INVALID],
                               labels=["a", "b"], n_errors=3)
    assert m.confusion == ((1, 0, 1), (0, 1, 1))
    assert m.as_dict()["confusion"]["columns"] == ["a", "b", INVALID]
    assert m.accuracy == pytest.approx(0.5)
    assert m.per_label["a"].recall == pytest.approx(0.5)
    assert m.per_label["b"].recall == pytest.approx(0.5)
    assert m.per_label["a"].precision == pytest.approx(1.0)  # INVALID is nobody's false positive
    assert m.n_invalid == 2
    assert m.n_errors == 3
    assert m.value("recall", "a") == pytest.approx(0.5)
    assert m.value("accuracy") == pytest.approx(0.5)


def test_metrics_validation_errors():
    with pytest.raises(ValueError, match="differ in length: 2 != 1"):
        classification_metrics(["a", "b"], ["a"], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"y_true holds values outside labels: \['z'\]"):
        classification_metrics(["a", "z"], ["a", "a"], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"y_pred holds values outside labels.*\['q'\]"):
        classification_metrics(["a", "b"], ["a", "q"], labels=["a", "b"])
    with pytest.raises(ValueError, match="y_true"):
        classification_metrics(["a", INVALID], ["a", "a"], labels=["a", "b"])


def test_metrics_empty():
    m = classification_metrics([], [], labels=["a", "b"], n_errors=2)
    assert m.n == 0 and m.accuracy == 0.0 and m.n_errors == 2
    assert m.confusion == ((0, 0, 0), (0, 0, 0))


def test_top_confusions_order():
    y_true = ["a"] * 6 + ["b"] * 3 + ["c"] * 2
    y_pred = ["b", "b", "b", INVALID, INVALID, "a"] + ["a", "b", "b"] + ["c", "c"]
    m = classification_metrics(y_true, y_pred, labels=["a", "b", "c"])
    assert top_confusions(m) == [("a", "b", 3), ("a", INVALID, 2), ("b", "a", 1)]
    assert top_confusions(m, k=1) == [("a", "b", 3)]
    perfect = classification_metrics(["a", "b"], ["a", "b"], labels=["a", "b"])
    assert top_confusions(perfect) == []


def test_metrics_doctest():
    result = doctest.testmod(harness.metrics)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("seed", range(40))
def test_metrics_equal_sklearn_on_random_runs(seed):
    # The metrics are computed with numpy (sklearn's argument checks cost ~40 ms a call, paid
    # thousands of times by the optimizer and the reports). Random runs with INVALID answers,
    # labels never predicted and labels absent from the truth must give sklearn's values.
    import random

    rng = random.Random(seed)
    labels = [f"l{i}" for i in range(rng.randint(1, 6))]
    n = rng.randint(1, 60)
    present = rng.sample(labels, rng.randint(1, len(labels)))
    y_true = [rng.choice(present) for _ in range(n)]
    y_pred = [rng.choice([*labels, INVALID]) if rng.random() < 0.6 else t for t in y_true]
    m = classification_metrics(y_true, y_pred, labels=labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        got = m.per_label[label]
        assert (got.precision, got.recall, got.support) == (p[i], r[i], s[i])
        assert got.f1 == pytest.approx(f[i], rel=1e-12, abs=1e-15)
    for avg in ("macro", "micro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                        average=avg, zero_division=0)
        assert getattr(m, f"{avg}_f1") == pytest.approx(af, rel=1e-12, abs=1e-15), avg
        if avg == "macro":
            assert (m.macro_precision, m.macro_recall) == pytest.approx((ap, ar), rel=1e-12)
    assert m.accuracy == accuracy_score(y_true, y_pred)
    expected = confusion_matrix(y_true, y_pred, labels=[*labels, INVALID])[: len(labels)]
    assert [list(row) for row in m.confusion] == expected.tolist()
