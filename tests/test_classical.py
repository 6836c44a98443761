import doctest

import pytest

import harness.classical
from harness import UsageError
from harness.classical import tfidf_logreg
from harness.records import Example


def _ex(i, text, label):
    return Example(id=str(i), inputs={"subject": text, "body": "b"}, label=label, split="train", line=i)


def test_doctests():
    assert doctest.testmod(harness.classical).failed == 0


def test_distributions_cover_every_task_label_even_when_train_lacks_one():
    train = [_ex(1, "refund please", "refund"), _ex(2, "card charged twice", "billing"),
             _ex(3, "refund my order", "refund"), _ex(4, "invoice wrong", "billing")]
    result = tfidf_logreg(train, [_ex(5, "refund now", "refund")], ["billing", "refund", "other"])
    (dist,) = result.distributions
    assert set(dist) == {"billing", "refund", "other"}
    assert dist["other"] == 0.0
    assert result.predictions == ("refund",)
    assert sum(dist.values()) == pytest.approx(1.0)


def test_one_label_in_train_is_a_clear_error():
    with pytest.raises(UsageError, match="at least two labels"):
        tfidf_logreg([_ex(1, "a", "x"), _ex(2, "b", "x")], [], ["x", "y"])


def test_the_same_data_is_fitted_once_and_different_data_again():
    train = [_ex(1, "refund please", "refund"), _ex(2, "card charged twice", "billing"),
             _ex(3, "refund my order", "refund"), _ex(4, "invoice wrong", "billing")]
    probe = [_ex(5, "refund now", "refund")]
    labels = ["billing", "refund"]
    first = tfidf_logreg(train, probe, labels)
    # Other ids, same texts (another copy of the fixture): the same fit, not a new one.
    again = tfidf_logreg([_ex(f"c{e.id}", e.inputs["subject"], e.label) for e in train],
                         probe, labels)
    assert again is first
    relabeled = [_ex(e.id, e.inputs["subject"], "billing" if e.label == "refund" else "refund")
                 for e in train]
    flipped = tfidf_logreg(relabeled, probe, labels)
    assert flipped is not first and flipped.predictions == ("billing",)
    assert tfidf_logreg(train, probe, labels, seed=1) is not first
