"""Pure parts of the Label Studio round trip: no server, no model."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from harness.cli import main
from harness.errors import DatasetError, UsageError
from harness.labelstudio import (agreement, check_config, consensus, fixture_rows,
                                 labeling_config, merge, most_uncertain, parse_task, read_export,
                                 resolve, uncertainty, write_fixture)
from harness.labelstudio.agreement import GROUND_TRUTH, MAJORITY, SINGLE, TIE, UNANIMOUS
from harness.labelstudio.annotations import ReviewedTask, Vote
from harness.labelstudio.push import PushItem, prediction_for, read_unlabeled
from harness.tasks import load_task
from tests.helpers import DEFAULT_TASK_YAML, TASK, default_rows, make_project

TICKETS_YAML = """\
description: Route a <ticket> & more
dataset: datasets/demo.jsonl
inputs: [subject, body]
labels:
  billing: Charges & "fees" <VAT>
  shipping: Delivery.
  other: ""
"""


def choice(label: str, name: str = "label") -> list[dict]:
    return [{"from_name": name, "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def raw_task(task_id: int, *annotations: dict, data: dict | None = None) -> dict:
    return {"id": task_id, "project": 7, "data": data or {"text": f"t{task_id}",
                                                          "harness_id": f"o{task_id}"},
            "annotations": list(annotations)}


def ann(label: str | None, who: int, *, gt: bool = False, cancelled: bool = False) -> dict:
    return {"id": who * 100, "completed_by": who, "ground_truth": gt, "was_cancelled": cancelled,
            "result": choice(label) if label else []}


# --- labeling config -----------------------------------------------------------------------------

def test_config_has_a_text_per_input_and_single_choice_labels_with_escaped_hints(tmp_path):
    task = load_task(make_project(tmp_path, task_yaml=TICKETS_YAML, rows=[]), TASK)
    xml = labeling_config(task)
    root = ET.fromstring(xml)  # escaping kept it well-formed
    assert [t.get("value") for t in root.iter("Text")] == ["$subject", "$body"]
    (choices,) = root.iter("Choices")
    assert choices.get("choice") == "single-radio" and choices.get("toName") == "subject"
    hints = {c.get("value"): c.get("hint") for c in choices.iter("Choice")}
    assert hints == {"billing": 'Charges & "fees" <VAT>', "shipping": "Delivery.", "other": None}
    assert "&lt;VAT&gt;" in xml
    assert check_config(task, xml, where="p").labels == ("billing", "shipping", "other")


def test_a_project_with_other_labels_is_refused_with_both_label_sets(tmp_path):
    task = load_task(make_project(tmp_path), TASK)
    other = ('<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
             '<Choice value="Objective"/><Choice value="Neutral"/></Choices></View>')
    with pytest.raises(UsageError) as info:
        check_config(task, other, where="project 4 ('x')")
    message = str(info.value)
    assert "project 4 ('x')" in message and "missing Subjective" in message
    assert "not in task.yaml: Neutral" in message
    multi = labeling_config(task).replace('single-radio', 'multiple')
    with pytest.raises(UsageError, match="allows several choices"):
        check_config(task, multi, where="p")


# --- selection -----------------------------------------------------------------------------------

def test_strategies_rank_differently_and_match_their_definitions():
    # a: top 0.5 but a clear runner-up gap; b: top 0.45 with a near-tie for second.
    a = {"x": 0.5, "y": 0.1, "z": 0.4}
    b = {"x": 0.45, "y": 0.45, "z": 0.10}
    c = {"x": 0.34, "y": 0.33, "z": 0.33}
    assert uncertainty(a) == pytest.approx(0.5)
    assert uncertainty(a, "margin") == pytest.approx(1 - 0.1)
    assert uncertainty(b, "margin") == pytest.approx(1.0)
    assert uncertainty(c, "entropy") == pytest.approx(-sum(p * math.log(p) for p in c.values()))
    items = [PushItem(name, {"text": name}, "x", max(d.values()), d)
             for name, d in (("a", a), ("b", b), ("c", c))]
    assert [i.id for i in most_uncertain(items, 2, "least-confidence")] == ["c", "b"]
    assert [i.id for i in most_uncertain(items, 2, "margin")] == ["b", "c"]
    assert [i.id for i in most_uncertain(items, None, "entropy")] == ["c", "b", "a"]


def test_selection_errors_are_usage_errors():
    item = PushItem("a", {"text": "a"}, "x", None, None)
    with pytest.raises(UsageError, match="score mode"):
        most_uncertain([item], 1)
    with pytest.raises(UsageError, match="positive"):
        most_uncertain([item], 0)
    with pytest.raises(UsageError, match="choose one of"):
        most_uncertain([item], 1, "random")


def test_prediction_carries_choice_score_and_model_version(tmp_path):
    task = load_task(make_project(tmp_path), TASK)
    item = PushItem("o1", {"text": "t"}, "Objective", 0.73, {"Objective": 0.73, "Subjective": 0.27})
    p = prediction_for(task, item, "demo/v1/local")
    assert p == {"result": choice("Objective"), "model_version": "demo/v1/local", "score": 0.73}
    assert prediction_for(task, PushItem("o2", {"text": "t"}, "INVALID", None, None), "v") is None


# --- consensus and agreement ---------------------------------------------------------------------

def test_consensus_prefers_ground_truth_then_majority_and_reports_ties():
    v = lambda i, label, gt=False: Vote(i, f"u{i}", label, gt)  # noqa: E731
    assert consensus([v(1, "A")]).status == SINGLE
    assert consensus([v(1, "A"), v(2, "A")]).status == UNANIMOUS
    majority = consensus([v(1, "A"), v(2, "B"), v(3, "A")])
    assert (majority.label, majority.status, majority.agreement) == ("A", MAJORITY, 2 / 3)
    tie = consensus([v(1, "A"), v(2, "B")])
    assert (tie.label, tie.status, dict(tie.votes)) == (None, TIE, {"A": 1, "B": 1})
    truth = consensus([v(1, "A"), v(2, "A"), v(3, "B", True)])
    assert (truth.label, truth.status, truth.agreement) == ("B", GROUND_TRUTH, 1 / 3)
    assert consensus([v(1, "A", True), v(2, "B", True)]).status == TIE


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as on Wikipedia: 10 items, 14 raters, 5 categories, kappa = 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    labels = ["1", "2", "3", "4", "5"]
    tasks = []
    for i, row in enumerate(table):
        votes, rater = [], 0
        for label, count in zip(labels, row):
            for _ in range(count):
                votes.append(Vote(rater, f"r{rater}", label))
                rater += 1
        tasks.append(ReviewedTask(i, 1, {}, tuple(votes)))
    report = agreement(tasks, labels)
    assert report.fleiss_items == 10 and report.fleiss_raters == 14
    assert report.fleiss_kappa == pytest.approx(0.210, abs=5e-4)


def test_cohen_kappa_per_pair_of_reviewers():
    a = ["A", "A", "B", "B", "A"]
    b = ["A", "B", "B", "B", "A"]
    tasks = [ReviewedTask(i, 1, {}, (Vote(1, "ann", x), Vote(2, "bob", y)))
             for i, (x, y) in enumerate(zip(a, b))]
    report = agreement(tasks, ["A", "B"])
    kappa, n = report.cohen[("ann", "bob")]
    assert n == 5 and kappa == pytest.approx(cohen_kappa_score(a, b))
    assert any("Cohen's kappa" in line for line in report.lines())
    assert agreement([ReviewedTask(1, 1, {}, (Vote(1, "a", "A"),))], ["A"]).lines() == [
        "no item has two or more reviewers: agreement not measured"]


# --- tasks and exports ---------------------------------------------------------------------------

def test_parse_task_skips_cancelled_and_keeps_ground_truth():
    task = parse_task(raw_task(3, ann("Objective", 1), ann(None, 2, cancelled=True),
                               ann("Subjective", 3, gt=True)),
                      where="x", labels=("Objective", "Subjective"))
    assert task.cancelled == 1 and [v.label for v in task.votes] == ["Objective", "Subjective"]
    assert task.votes[1].ground_truth and task.votes[0].annotator == "1"


@pytest.mark.parametrize("broken, place", [
    ({"id": "x", "data": {}}, "task #1: missing or non-integer task 'id'"),
    ({"id": 5, "data": "text"}, "task #1 (id 5): 'data' must be an object"),
    (raw_task(5, {"id": 9, "result": choice("Maybe")}),
     "task #1 (id 5): annotation #1 (id 9): result[0]: label 'Maybe' is not one of"),
    (raw_task(5, {"id": 9, "result": [{"type": "choices", "value": {"choices": ["A", "B"]}}]}),
     "result[0].value.choices has 2 labels"),
    (raw_task(5, {"id": 9, "result": "Objective"}), "'result' must be a list"),
])
def test_malformed_export_names_the_place(tmp_path, broken, place):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([broken]), encoding="utf-8")
    with pytest.raises(UsageError) as info:
        read_export(path, labels=("Objective", "Subjective"))
    assert str(path) in str(info.value) and place in str(info.value)


def test_export_that_is_not_json_names_the_line(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[\n{"id": 1,\n oops}\n]', encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_export(path, labels=("A", "B"))
    assert info.value.line == 3 and "Label Studio JSON export" in str(info.value)


# --- fixture rows, diff, write -------------------------------------------------------------------

def test_rows_carry_provenance_and_ties_are_left_out(tmp_path):
    task = load_task(make_project(tmp_path), TASK)
    tasks = [parse_task(t, where="x", labels=task.label_names) for t in (
        raw_task(1, ann("Objective", 1), ann("Objective", 2)),
        raw_task(2, ann("Objective", 1), ann("Subjective", 2)),
        raw_task(3, data={"text": "new sentence"}))]
    pulled = resolve(task, tasks, project=7, project_title="demo review")
    rows = fixture_rows(pulled, task)
    assert [r["id"] for r in rows] == ["o1"]
    provenance = rows[0]["provenance"]
    assert provenance["project"] == 7 and provenance["task_id"] == 1
    assert provenance["annotators"] == 2 and provenance["agreement"] == 1.0
    assert provenance["status"] == UNANIMOUS and provenance["pulled_at"]
    summary = "\n".join(pulled.summary())
    assert "tie, not written: o2 (task 2)" in summary and "1 without a submitted" in summary


def test_merge_lists_added_changed_removed_and_keeps_other_fields():
    existing = [{"id": "a", "text": "x", "label": "A", "split": "test", "critical": True},
                {"id": "b", "text": "y", "label": "B"}, {"id": "c", "text": "z", "label": "A"}]
    prov = {"source": "label-studio", "task_id": 1, "pulled_at": "t1"}
    pulled = [{"id": "a", "text": "x", "label": "B", "provenance": prov},
              {"id": "b", "text": "y", "label": "B", "provenance": prov},
              {"id": "d", "text": "w", "label": "A", "provenance": prov}]
    rows, diff = merge(existing, pulled)
    assert diff.changed == (("a", "A", "B"),) and diff.added == ("d",) and diff.removed == ()
    assert diff.provenance == ("b",) and diff.unchanged == 1
    assert rows[0] == {**existing[0], "label": "B", "provenance": prov}
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert "changed a: A -> B" in "\n".join(diff.lines())
    _, dropped = merge(existing, pulled, drop_missing=True)
    assert dropped.removed == ("c",)
    # A second pull with the same labels is no change, whatever its time stamp.
    again, same = merge(rows, [{**p, "provenance": {**prov, "pulled_at": "t2"}} for p in pulled])
    assert not same.has_changes and again == rows


def test_write_fixture_validates_before_replacing(tmp_path):
    root = make_project(tmp_path)
    task = load_task(root, TASK)
    before = task.dataset.read_bytes()
    with pytest.raises(DatasetError, match="label 'Maybe' is not one of"):
        write_fixture(task.dataset, [{"id": "a", "text": "x", "label": "Maybe"}], task)
    assert task.dataset.read_bytes() == before
    assert not [p for p in task.dataset.parent.iterdir() if p.name.startswith(".")]


def test_unlabeled_input_needs_ids_and_input_fields(tmp_path):
    root = make_project(tmp_path)
    task = load_task(root, TASK)
    path = root / "new.jsonl"
    path.write_text('{"id": "n1", "text": "fresh"}\n{"text": "no id"}\n{"id": "n2"}\n',
                    encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_unlabeled(task, path)
    assert f"{path}:2: expected an object with a non-empty 'id'" in str(info.value)
    assert f"{path}:3: missing or non-string input field(s) text" in str(info.value)


# --- offline import through the CLI --------------------------------------------------------------

def _export(root: Path) -> Path:
    # The reviewed texts are the fixture's (tests/helpers.py): a label is applied only then.
    texts = {f"o{i}": row["text"] for i, row in enumerate(
        (r for r in default_rows() if r["label"] == "Objective"), start=1)}
    same = {i: {"text": texts[f"o{i}"], "harness_id": f"o{i}"} for i in (1, 2, 3)}
    tasks = [raw_task(1, ann("Subjective", 1), ann("Subjective", 2), ann("Objective", 3),
                      data=same[1]),
             raw_task(2, ann("Objective", 1, gt=True), ann("Subjective", 2), data=same[2]),
             raw_task(3, ann(None, 1, cancelled=True), data=same[3]),
             raw_task(4, ann("Objective", 2), data={"text": "brand new", "harness_id": "n4"})]
    path = root / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def test_import_never_overwrites_silently(tmp_path, monkeypatch, capsys):
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    export = _export(root)
    fixture = root / "datasets" / "demo.jsonl"
    before = fixture.read_text(encoding="utf-8")

    assert main(["ls", "import", str(export)]) == 1  # task found by its labels; diff shown
    out = capsys.readouterr()
    assert "changed o1: Objective -> Subjective" in out.out
    assert "1 added" in out.out and "not written" in out.err
    assert fixture.read_text(encoding="utf-8") == before

    assert main(["ls", "import", str(export), "--into", "datasets/reviewed.jsonl"]) == 0
    rows = [json.loads(line) for line in (root / "datasets/reviewed.jsonl").read_text().splitlines()]
    assert [(r["id"], r["label"], r["provenance"]["status"]) for r in rows] == [
        ("o1", "Subjective", MAJORITY), ("o2", "Objective", GROUND_TRUTH),
        ("n4", "Objective", SINGLE)]

    assert main(["ls", "import", str(export), "--write"]) == 0
    text = fixture.read_text(encoding="utf-8")
    assert '"label": "Subjective", "provenance"' in text and "brand new" in text
    assert main(["ls", "import", str(export), "--write"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_import_of_an_export_with_a_foreign_label_names_it(tmp_path, monkeypatch, capsys):
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    path = root / "export.json"
    path.write_text(json.dumps([raw_task(1, ann("Neutral", 4))]), encoding="utf-8")
    assert main(["ls", "import", str(path), "--task", TASK]) == 2
    err = capsys.readouterr().err
    assert "task #1 (id 1): annotation #1 (id 400): result[0]: label 'Neutral' is not one of " \
           "Objective, Subjective" in err


@pytest.mark.model
def test_imported_fixture_flows_into_pytest_evals(pytester: pytest.Pytester):
    """A Label Studio export imported over a copy of the shipped task, then the shipped eval
    module run on it (thresholds at 0: the run itself, not the tiny model, is under test)."""
    from tests.conftest import REPO, copy_task
    from tests.test_plugin import set_thresholds

    copy_task(pytester.path, rows=12)
    pytester.makepyfile(test_gate=(REPO / "evals" / "test_subjectivity.py").read_text())
    set_thresholds(pytester, "thresholds:\n  macro_f1: 0.0")
    fixture = pytester.path / "datasets" / "subjectivity.jsonl"
    rows = [json.loads(line) for line in fixture.read_text().splitlines()]
    flip = {"Objective": "Subjective", "Subjective": "Objective"}
    export = [{"id": 100 + n, "project": 5, "data": {"text": r["text"], "harness_id": r["id"]},
               "annotations": [ann(flip[r["label"]] if n < 2 else r["label"], 1)]}
              for n, r in enumerate(rows[:6])]
    export.append({"id": 200, "project": 5, "data": {"text": "A brand new sentence, 3 kg."},
                   "annotations": [ann("Objective", 2)]})
    (pytester.path / "export.json").write_text(json.dumps(export))
    # pytester runs in its own directory, the project root.
    assert main(["ls", "import", "export.json", "--task", "subjectivity", "--write"]) == 0
    pulled = [json.loads(line) for line in fixture.read_text().splitlines()]
    assert len(pulled) == 13 and pulled[-1]["id"] == "ls-5-200"
    assert [r["label"] for r in pulled[:2]] == [flip[r["label"]] for r in rows[:2]]

    result = pytester.runpytest("--prompt-version", "v2", "--split", "all", "-k", "thresholds",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*subjectivity/v2 * 13 *"])


@pytest.mark.parametrize("suffix", ["csv", "tsv", "parquet"])
def test_import_writes_back_into_a_table_dataset_keeping_its_columns(tmp_path, monkeypatch,
                                                                     capsys, recwarn, suffix):
    """`dataset:` may be CSV/TSV/Parquet (issue 15): a pull merges into it in its own format,
    rows keep their place and their other columns (a Parquet column keeps its type), text is
    written back verbatim (no spreadsheet apostrophe: the file is the data), provenance is JSON
    text, and a second pull finds it up to date."""
    import pandas as pd

    from harness.datasets import load_fixture, read_fixture_rows

    root = make_project(tmp_path, task_yaml=DEFAULT_TASK_YAML.replace("datasets/demo.jsonl",
                                                                      f"datasets/demo.{suffix}"))
    monkeypatch.chdir(root)
    rows = default_rows()
    rows[1]["text"] = '=1+1, "quoted"\nand a second line'  # s1: formula-like, comma, newline
    frame = pd.DataFrame([{**r, "critical": r["id"] == "o2", "_count": n, "source": "shop"}
                          for n, r in enumerate(rows)])
    target = root / "datasets" / f"demo.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(target, index=False)
    else:
        frame.to_csv(target, index=False, sep="," if suffix == "csv" else "\t")
    export = _export(root)

    assert main(["ls", "import", str(export), "--write"]) == 0
    out = capsys.readouterr().out
    assert "changed o1: Objective -> Subjective" in out and "1 added" in out
    written = read_fixture_rows(target)
    by_id = {str(r["id"]): r for r in written}
    assert [str(r["id"]) for r in written] == [r["id"] for r in rows] + ["n4"]  # places kept
    assert by_id["o1"]["label"] == "Subjective"
    assert by_id["o1"]["provenance"]["status"] == MAJORITY  # JSON text, decoded
    assert by_id["s1"]["text"] == rows[1]["text"] and by_id["s1"]["label"] == "Subjective"
    assert by_id["o2"]["critical"] is True and "critical" not in by_id["n4"]
    assert str(by_id["o3"]["_count"]) == "4" and by_id["o3"]["source"] == "shop"  # kept
    unknown = [str(w.message) for w in recwarn if "unknown key 'source'" in str(w.message)]
    assert unknown and all(m.startswith(f"{target}:row 1") for m in unknown)  # not the temp
    assert len(load_fixture(load_task(root, TASK)).examples) == len(rows) + 1
    if suffix == "parquet":
        import pyarrow.parquet as pq
        assert str(pq.read_schema(target).field("_count").type) == "int64"  # type kept
    assert main(["ls", "import", str(export), "--write"]) == 0
    assert "is up to date" in capsys.readouterr().out
