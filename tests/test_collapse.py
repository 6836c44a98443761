"""Collapsed predictions are said plainly (issue 16, item 7): metrics.collapse_note, the report
headline, the `harness eval` notes and the pytest summary. The CLI and plugin runs replay a
recorded cache in which every answer is 'Subjective': no model call, nothing CPU-dependent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.cache import Cache
from harness.cli import main
from harness.datasets import load_fixture
from harness.metrics import classification_metrics, collapse_note
from harness.models import get_backend
from harness.prompts import Renderer, load_version
from harness.records import INVALID, LabelRequest, ModelOutput
from harness.tasks import load_task
from tests.conftest import REPO, copy_task
from tests.report_helpers import synthetic_result, write_synthetic_report

LABELS = ("Objective", "Subjective")


def _metrics(truth: dict[str, int], predicted: dict[str, int]):
    y_true = [label for label, n in truth.items() for _ in range(n)]
    y_pred = [label for label, n in predicted.items() for _ in range(n)]
    return classification_metrics(y_true, y_pred, labels=LABELS)


def test_one_label_taking_the_predictions_is_named_with_the_truth():
    note = collapse_note(_metrics({"Objective": 10, "Subjective": 10},
                                  {"Subjective": 19, "Objective": 1}))
    assert note == "95% of predictions are 'Subjective' (the truth: 50%)"


def test_every_prediction_the_same_says_all():
    note = collapse_note(_metrics({"Objective": 7, "Subjective": 13}, {"Objective": 20}))
    assert note == "all predictions are 'Objective' (the truth: 35%)"


def test_shares_are_floored_never_rounded_up_to_all():
    note = collapse_note(_metrics({"Objective": 100, "Subjective": 100},
                                  {"Subjective": 199, "Objective": 1}))
    assert note == "99% of predictions are 'Subjective' (the truth: 50%)"


def test_the_threshold_is_inclusive():
    assert collapse_note(_metrics({"Objective": 10, "Subjective": 10},
                                  {"Subjective": 18, "Objective": 2})) is not None
    assert collapse_note(_metrics({"Objective": 50, "Subjective": 50},
                                  {"Subjective": 89, "Objective": 11})) is None


def test_no_note_when_the_truth_is_as_skewed():
    assert collapse_note(_metrics({"Objective": 1, "Subjective": 19}, {"Subjective": 20})) is None


def test_no_note_for_balanced_predictions_or_tiny_runs():
    assert collapse_note(_metrics({"Objective": 10, "Subjective": 10},
                                  {"Objective": 10, "Subjective": 10})) is None
    assert collapse_note(_metrics({"Objective": 3, "Subjective": 3}, {"Subjective": 6})) is None


def test_invalid_answers_can_collapse_too():
    metrics = classification_metrics(["Objective"] * 10 + ["Subjective"] * 10,
                                     [INVALID] * 19 + ["Objective"], labels=LABELS)
    assert collapse_note(metrics) == "95% of predictions are INVALID (no label asserted)"


@pytest.mark.parametrize("collapsed", [True, False])
def test_report_headline_says_when_predictions_collapse(tmp_path, collapsed):
    result = synthetic_result(tmp_path, 60)
    if collapsed:
        result = dataclasses.replace(result, predictions=tuple(
            dataclasses.replace(p, predicted="Subjective") for p in result.predictions))
    html = (write_synthetic_report(tmp_path / "reports", result) / "index.html").read_text()
    headline = html[html.index('id="headline"'):html.index('id="provenance"')]
    if collapsed:
        assert "Predictions collapsed:</b> all predictions are &#39;Subjective&#39; " \
               "(the truth: 50%)" in headline
    else:
        assert 'id="collapse"' not in html


def _record_collapsed_answers(root: Path) -> str:
    """Cache 'Subjective' (p=0.9) for every example of subjectivity/v1; returns the expected note."""
    task = load_task(root, "subjectivity")
    fixture = load_fixture(task)
    renderer = Renderer(task, load_version(task, "v1"))
    identity = get_backend("local").identity()
    cache = Cache(root / ".harness-cache")
    for example in fixture.examples:
        request = LabelRequest(renderer.render(example), task.label_names, "score")
        cache.put(Cache.key(identity, request),
                  ModelOutput(raw="Subjective", distribution={"Objective": 0.1, "Subjective": 0.9}))
    truth = sum(e.label == "Subjective" for e in fixture.examples) / len(fixture.examples)
    return f"all predictions are 'Subjective' (the truth: {int(truth * 100 + 1e-9)}%)"


def test_cli_notes_say_when_predictions_collapse(tmp_path, monkeypatch, capsys):
    root = copy_task(tmp_path / "project", rows=20)
    note = _record_collapsed_answers(root)
    monkeypatch.chdir(root)
    assert main(["eval", "subjectivity", "--version", "v1", "--split", "all", "--cache-only",
                 "--no-progress"]) == 0
    assert f"subjectivity/v1: {note}" in capsys.readouterr().err


def test_pytest_summary_says_when_predictions_collapse(pytester: pytest.Pytester):
    copy_task(pytester.path, rows=20)
    note = _record_collapsed_answers(pytester.path)
    pytester.makepyfile(test_gate=(REPO / "evals" / "test_subjectivity.py").read_text())
    result = pytester.runpytest("--cache-only", "--split", "all", "--prompt-version", "v1",
                                "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*harness: prompt evaluations*", f"subjectivity/v1: {note}"])
