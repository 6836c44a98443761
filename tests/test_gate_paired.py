"""The paired baseline gate on constructed outcomes (no model): noise passes with its flips
listed, a real drop fails naming metric, p-value and tolerance, small splits get a power note."""

from __future__ import annotations

from pathlib import Path

from harness.gate import check_paired, check_rules, describe_failure, gated_metrics
from harness.metrics import classification_metrics
from harness.records import Label, Rule, TaskSpec
from harness.stored import Outcome

LABELS = ("account", "billing")


def task(**changes) -> TaskSpec:
    base = dict(name="demo", path=Path("prompts/demo/task.yaml"),
                labels=tuple(Label(n) for n in LABELS), dataset=Path("datasets/demo.jsonl"),
                input_fields=("text",), rules=(Rule("recall", 0.3, "account"),),
                baseline_tolerance=0.05, metric="macro_f1")
    base.update(changes)
    return TaskSpec(**base)


def outcomes(expected, predicted):
    return [Outcome(f"ex-{i}", e, p, 0.6) for i, (e, p) in enumerate(zip(expected, predicted))]


def test_one_flip_of_twelve_passes_with_its_flip_listed():
    truth = ["account"] * 12 + ["billing"] * 58
    before = outcomes(truth, truth)
    after = outcomes(truth, ["billing"] + truth[1:])  # one account example flips
    gate = check_paired(before, after, task=task(),
                        inputs={"ex-0": {"text": "I cannot log in"}})
    assert gate.passed
    check = next(c for c in gate.checks if c.name == "recall[account] vs baseline")
    assert check.delta < -0.05 and check.pvalue == 1.0 and check.test == "mcnemar"
    assert "within noise" in check.detail
    assert [f.id for f in gate.broken] == ["ex-0"] and not gate.fixed
    assert gate.broken[0].inputs == {"text": "I cannot log in"}
    assert any("power: recall[account]" in note and "12 examples" in note
               for note in gate.notes)


def test_a_real_drop_fails_naming_metric_pvalue_tolerance_and_flips():
    truth = ["account"] * 60 + ["billing"] * 60
    before = outcomes(truth, truth)
    after = outcomes(truth, ["billing"] * 30 + truth[30:])  # half of account is lost
    gate = check_paired(before, after, task=task())
    assert not gate.passed
    names = [c.name for c in gate.failures]
    assert "recall[account] vs baseline" in names and "macro_f1 vs baseline" in names
    text = describe_failure(gate, classification_metrics(
        [o.expected for o in after], [o.predicted for o in after], labels=LABELS),
        title="demo/v2 regressed")
    assert "FAILED recall[account] vs baseline" in text and "p=" in text
    assert "tolerance 0.05" in text and "broken (30)" in text and "... and 20 more" in text


def test_strict_rule_fails_a_drop_that_is_within_noise():
    truth = ["account"] * 12 + ["billing"] * 58
    before, after = outcomes(truth, truth), outcomes(truth, ["billing"] + truth[1:])
    assert check_paired(before, after, task=task()).passed
    assert not check_paired(before, after, task=task(), strict=True).passed
    assert not check_paired(before, after, task=task(baseline_rule="strict")).passed


def test_no_change_and_improvement_pass_without_flips_counted_as_broken():
    truth = ["account", "billing"] * 20
    worse = ["billing"] * 40
    gate = check_paired(outcomes(truth, worse), outcomes(truth, truth), task=task())
    assert gate.passed and len(gate.fixed) == 20 and not gate.broken
    assert check_paired(outcomes(truth, truth), outcomes(truth, truth), task=task()).passed


def test_errored_examples_are_left_out_of_the_pairing():
    truth = ["account", "billing"] * 10
    before = outcomes(truth, truth)
    after = outcomes(truth, truth)
    after[0] = Outcome("ex-0", "account", None, None, error="timeout")
    gate = check_paired(before, after, task=task())
    assert gate.passed and not gate.broken
    nothing = check_paired(before, [Outcome(o.id, o.expected, None, error="x") for o in after],
                           task=task())
    assert nothing.skipped


def test_rules_on_a_label_without_examples_are_not_judged_and_say_so():
    metrics = classification_metrics(["billing"] * 5, ["billing"] * 5, labels=LABELS)
    gate = check_rules(metrics, (Rule("recall", 0.3, "account"),))
    assert gate.passed and "support 0" in gate.notes[0]


def test_gated_metrics_are_the_main_metric_then_each_rule_once():
    assert gated_metrics((Rule("macro_f1", 0.5), Rule("recall", 0.1, "a")), "macro_f1") == \
        [("macro_f1", None), ("recall", "a")]
