"""harness.gate: threshold rules and the failure text."""

from __future__ import annotations

import pytest

from harness.gate import check_rules, describe_failure
from harness.metrics import classification_metrics
from harness.records import Rule


def _gate_metrics():
    # a: recall 2/4, b: recall 3/3; a -> b twice
    return classification_metrics(["a", "a", "a", "a", "b", "b", "b"],
                                  ["a", "a", "b", "b", "b", "b", "b"], labels=["a", "b"])


def test_check_rules_pass_and_fail():
    m = _gate_metrics()
    rules = (Rule("accuracy", 0.7), Rule("recall", 0.6, "a"), Rule("recall", 1.0, "b"))
    result = check_rules(m, rules)
    assert not result.passed
    by_name = {c.name: c for c in result.checks}
    assert set(by_name) == {"accuracy >= 0.7", "recall[a] >= 0.6", "recall[b] >= 1"}
    assert by_name["accuracy >= 0.7"].passed
    assert by_name["accuracy >= 0.7"].value == pytest.approx(5 / 7)
    assert by_name["accuracy >= 0.7"].threshold == 0.7
    assert not by_name["recall[a] >= 0.6"].passed
    assert by_name["recall[a] >= 0.6"].value == pytest.approx(0.5)
    assert by_name["recall[b] >= 1"].passed  # equal to the minimum passes
    assert [c.name for c in result.failures] == ["recall[a] >= 0.6"]
    assert check_rules(m, (Rule("accuracy", 0.7),)).passed
    assert check_rules(m, ()).passed


def test_describe_failure_names_metric_value_threshold_and_confusion():
    m = _gate_metrics()
    result = check_rules(m, (Rule("recall", 0.9, "a"), Rule("accuracy", 0.1)))
    text = describe_failure(result, m, title="demo/v1 failed its gate")
    lines = text.splitlines()
    assert lines[0] == "demo/v1 failed its gate"
    assert "FAILED recall[a] >= 0.9: 0.500 < 0.900" in text
    assert "accuracy" not in text  # passing checks are not listed
    assert "a -> b: 2" in text
