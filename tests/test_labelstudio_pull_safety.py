"""Label Studio pull never loses or misattributes a label (issue 13, item 9).

- a label reviewed on other inputs than the fixture row's is a conflict, never written;
- `--drop-missing` removes only rows the project (export) does not have at all;
- a fixture file changed between the pull's read and its write is not replaced;
- a paged read of the project that changed underneath is detected and read again.

Offline parts go through `harness ls import` and the library; the server parts (marked
`labelstudio`) use the real server of tests/test_labelstudio_server.py.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.labelstudio import (Connection, LabelStudioError, fetch_tasks, merge, parse_task,
                                 resolve, write_pulled)
from harness.labelstudio import fixtures as fixtures_module
from harness.labelstudio.labeling import ID_KEY, labeling_config
from harness.tasks import load_task
from tests.helpers import TASK, default_rows, make_project

TEXT = {row["id"]: row["text"] for row in default_rows()}  # o1..o6, s1..s6


def _choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def _task(task_id: int, case_id: str, *labels: str, text: str | None = None) -> dict:
    return {"id": task_id, "project": 7,
            "data": {"text": TEXT[case_id] if text is None else text, ID_KEY: case_id},
            "annotations": [{"id": task_id * 10 + n, "completed_by": n, "result": _choice(label)}
                            for n, label in enumerate(labels, start=1)]}


def _rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _import(root: Path, tasks: list[dict], *args: str) -> int:
    export = root / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    return main(["ls", "import", str(export), "--task", TASK, *args])


# --- misattribution -------------------------------------------------------------------------------

def test_label_reviewed_on_another_text_is_a_conflict_and_never_written(tmp_path, monkeypatch,
                                                                        capsys):
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    fixture = root / "datasets" / "demo.jsonl"
    before = fixture.read_bytes()
    # Task 1 was reviewed on another sentence than the fixture's o1 now holds; task 2 matches.
    tasks = [_task(1, "o1", "Subjective", "Subjective", text="Totally worth the money."),
             _task(2, "o2", "Subjective")]
    assert _import(root, tasks, "--write") == 1  # written, but a conflict remains: status 1
    out = capsys.readouterr()
    assert "conflict, not written: o1 (task 1): the reviewed text differs" in out.out
    assert "1 reviewed label(s) not applied" in out.err
    rows = _rows(fixture)
    assert rows["o1"] == {"id": "o1", "text": TEXT["o1"], "label": "Objective"}  # untouched
    assert rows["o2"]["label"] == "Subjective" and rows["o2"]["provenance"]["task_id"] == 2
    assert fixture.read_bytes() != before

    # Only the conflict left: nothing to write, still status 1, and o1 is still untouched.
    assert _import(root, tasks, "--write") == 1
    assert "is up to date" in capsys.readouterr().out
    assert _rows(fixture)["o1"]["label"] == "Objective"


def test_merge_compares_every_input_field():
    existing = [{"id": "t1", "subject": "Refund", "body": "Please refund order 12.",
                 "label": "billing", "split": "test"}]
    pulled = [{"id": "t1", "subject": "Refund", "body": "Please refund order 13.",
               "label": "refund", "provenance": {"task_id": 5}}]
    rows, diff = merge(existing, pulled)
    assert rows == existing and diff.conflicts == (("t1", 5, ("body",)),)
    assert not diff.has_changes and diff.changed == ()


# --- --drop-missing ---------------------------------------------------------------------------

def test_drop_missing_keeps_rows_the_project_has_but_nobody_decided(tmp_path, monkeypatch,
                                                                    capsys):
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    tasks = [_task(1, "o1", "Objective"),
             _task(2, "o2", "Objective", "Subjective"),  # tie
             _task(3, "o3")]  # in the project, nobody answered
    assert _import(root, tasks, "--write", "--drop-missing") == 0
    out = capsys.readouterr().out
    assert "tie, not written: o2" in out
    rows = _rows(root / "datasets" / "demo.jsonl")
    assert set(rows) == {"o1", "o2", "o3"}  # every other row is missing from the export
    assert "provenance" in rows["o1"] and "provenance" not in rows["o2"]
    assert "9 removed" in out


# --- the fixture file changed between read and write ----------------------------------------

@pytest.fixture
def demo(tmp_path):
    root = make_project(tmp_path)
    task = load_task(root, TASK)
    reviewed = [parse_task(_task(1, "o1", "Subjective"), where="t", labels=task.label_names)]
    return root, task, resolve(task, reviewed, project=7, project_title="demo review")


def _edit_during_validation(monkeypatch, path: Path, text: str) -> None:
    """Another writer (an editor, a second pull) replaces the file while the pull validates
    its merged rows: between its read and its replace."""
    validate = fixtures_module.load_fixture

    def edit_then_validate(task, candidate, **options):
        path.write_text(text, encoding="utf-8")
        return validate(task, candidate, **options)

    monkeypatch.setattr(fixtures_module, "load_fixture", edit_then_validate)


def test_fixture_changed_after_the_read_is_not_replaced(demo, monkeypatch):
    _, task, pulled = demo
    edited = task.dataset.read_text(encoding="utf-8") + json.dumps(
        {"id": "x9", "text": "Added by hand meanwhile.", "label": "Objective"}) + "\n"
    _edit_during_validation(monkeypatch, task.dataset, edited)
    with pytest.raises(UsageError, match="changed after the pull read it.*nothing written"):
        write_pulled(pulled, task, task.dataset, shown="demo.jsonl", write=True,
                     drop_missing=False)
    assert task.dataset.read_text(encoding="utf-8") == edited  # the other writer's work kept
    assert not [p for p in task.dataset.parent.iterdir() if p.name.startswith(".")]


def test_new_fixture_created_meanwhile_is_not_replaced(demo, monkeypatch):
    root, task, pulled = demo
    target = root / "datasets" / "reviewed.jsonl"
    _edit_during_validation(monkeypatch, target, '{"id": "z", "text": "t", "label": "Objective"}\n')
    with pytest.raises(UsageError, match="reviewed.jsonl was created after the pull read it"):
        write_pulled(pulled, task, target, shown="reviewed.jsonl", write=True, drop_missing=False)


def test_cli_says_the_file_changed_and_exits_2(tmp_path, monkeypatch, capsys):
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    fixture = root / "datasets" / "demo.jsonl"
    _edit_during_validation(monkeypatch, fixture, fixture.read_text(encoding="utf-8"))
    os.utime(fixture, ns=(1, 1))  # same bytes, but touched: still refused (mtime changes)
    assert _import(root, [_task(1, "o1", "Subjective")], "--write") == 2
    assert "changed after the pull read it" in capsys.readouterr().err
    assert _rows(fixture)["o1"]["label"] == "Objective"


def test_replaced_fixture_keeps_its_file_mode(demo):
    _, task, pulled = demo
    os.chmod(task.dataset, 0o644)
    assert write_pulled(pulled, task, task.dataset, shown="demo.jsonl", write=True,
                        drop_missing=False).written
    assert stat.S_IMODE(task.dataset.stat().st_mode) == 0o644
    assert _rows(task.dataset)["o1"]["label"] == "Subjective"


# --- a paged read that changed underneath (test double of the SDK's task listing) -------------

@dataclass
class _Counts:
    total: int
    total_annotations: int


@dataclass
class _Page:
    items: list
    response: _Counts


@dataclass
class _Item:
    id: int
    data: dict
    annotations: list
    project: int = 7

    def model_dump(self, mode: str = "json") -> dict:
        return {"id": self.id, "data": self.data, "annotations": self.annotations,
                "project": self.project}


class _Project:
    label_config = ""
    title = "demo review"


class _ChangingServer:
    """Pages over a task list; `mutate(call)` may change it before answering call number
    `call` (1-based), as an import or a deletion by someone else would."""

    def __init__(self, tasks: list[dict], mutate=None) -> None:
        self.tasks = [_Item(t["id"], t["data"], t["annotations"]) for t in tasks]
        self.mutate = mutate or (lambda server, call: None)
        self.calls = 0
        self.projects = self
        self.tasks_api = self

    def get(self, project_id):
        return _Project()

    def list(self, *, project, page, page_size, fields, include=None):
        self.calls += 1
        self.mutate(self, self.calls)
        chunk = self.tasks[(page - 1) * page_size:page * page_size]
        votes = sum(len(t.annotations) for t in self.tasks)
        # A copy, as a server serializes: a later change does not reach what was answered.
        return _Page(copy.deepcopy(chunk), _Counts(len(self.tasks), votes))


def _connection(server: _ChangingServer, task) -> Connection:
    _Project.label_config = labeling_config(task)

    class Sdk:
        projects = server
        tasks = server

    return Connection("http://ls.invalid", Sdk())


def _six():
    return [_task(n, case_id, "Objective") for n, case_id in
            enumerate(["o1", "o2", "o3", "o4", "o5", "o6"], start=1)]


def test_a_deletion_between_pages_is_detected_and_read_again(tmp_path):
    task = load_task(make_project(tmp_path), TASK)

    def delete_task_2_before_page_2(server, call):
        if call == 2:  # page 2 of the first read: the pages shift, o4 would never be read
            del server.tasks[1]

    server = _ChangingServer(_six(), delete_task_2_before_page_2)
    _, tasks = fetch_tasks(_connection(server, task), task, 7, page_size=3)
    assert [t.task_id for t in tasks] == [1, 3, 4, 5, 6]  # the second read, consistent
    assert server.calls > 6


def test_a_read_that_keeps_changing_stops_the_pull(tmp_path):
    task = load_task(make_project(tmp_path), TASK)

    def import_on_every_second_page(server, call):
        if call % 2 == 0:
            n = 100 + call
            server.tasks.append(_Item(n, {"text": f"new {n}", ID_KEY: f"n{n}"}, []))

    server = _ChangingServer(_six(), import_on_every_second_page)
    with pytest.raises(LabelStudioError, match="project 7 changed while its tasks were being "
                                               "read .* 3 reads in a row; nothing was pulled"):
        fetch_tasks(_connection(server, task), task, 7, page_size=4)


def test_an_annotation_added_during_the_read_is_detected(tmp_path):
    task = load_task(make_project(tmp_path), TASK)

    def annotate_once(server, call):
        if call == 2:
            server.tasks[0].annotations.append({"id": 999, "completed_by": 9,
                                                "result": _choice("Subjective")})

    server = _ChangingServer(_six(), annotate_once)
    _, tasks = fetch_tasks(_connection(server, task), task, 7, page_size=3)
    assert len(tasks[0].votes) == 2  # read again after the change: both votes


def test_an_unchanged_read_takes_one_pass(tmp_path):
    task = load_task(make_project(tmp_path), TASK)
    server = _ChangingServer(_six())
    _, tasks = fetch_tasks(_connection(server, task), task, 7, page_size=3)
    assert len(tasks) == 6 and server.calls == 2 + 2  # 2 pages, then 2 pages of ids


# --- against a real Label Studio ----------------------------------------------------------------

@pytest.fixture
def ls_project(label_studio, tmp_path):
    """A project made from the demo task with the six Objective rows as tasks (no model)."""
    from harness.labelstudio import connect

    conn = connect(*label_studio)
    root = make_project(tmp_path / "project")
    task = load_task(root, TASK)
    project = conn.sdk.projects.create(title=f"harness safety {uuid.uuid4().hex[:8]}",
                                       label_config=labeling_config(task))
    conn.sdk.projects.import_tasks(project.id, request=[
        {"text": TEXT[c], ID_KEY: c} for c in ("o1", "o2", "o3", "o4", "o5", "o6")])
    try:
        yield conn, root, task, project.id
    finally:
        conn.sdk.projects.delete(project.id)


def _ids(conn, project_id) -> dict[str, int]:
    answer = conn.sdk.tasks.list(project=project_id, page=1, page_size=100)
    return {t.data[ID_KEY]: t.id for t in answer.items}


@pytest.mark.labelstudio
def test_real_pull_keeps_unreviewed_and_tied_rows_and_refuses_a_changed_text(
        ls_project, label_studio, monkeypatch, capsys):
    conn, root, task, project_id = ls_project
    ids = _ids(conn, project_id)
    # o1 is reviewed on the text it was pushed with, but the fixture's text changed since.
    fixture = task.dataset
    rows = [json.loads(line) for line in fixture.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["id"] == "o1":
            row["text"] = "The kettle holds 1.7 litres."
    fixture.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tag = uuid.uuid4().hex[:6]
    users = [conn.sdk.users.create(username=f"r{i}-{tag}", email=f"r{i}-{tag}@example.com",
                                   password=secrets.token_hex(8)).id for i in range(2)]
    conn.sdk.annotations.create(ids["o1"], result=_choice("Subjective"), completed_by=users[0])
    conn.sdk.annotations.create(ids["o2"], result=_choice("Subjective"), completed_by=users[0])
    conn.sdk.annotations.create(ids["o3"], result=_choice("Objective"), completed_by=users[0])
    conn.sdk.annotations.create(ids["o3"], result=_choice("Subjective"), completed_by=users[1])
    monkeypatch.chdir(root)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio[0])
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio[1])

    assert main(["ls", "pull", TASK, "--project", str(project_id), "--write",
                 "--drop-missing"]) == 1
    out = capsys.readouterr()
    assert f"conflict, not written: o1 (task {ids['o1']})" in out.out
    assert f"tie, not written: o3 (task {ids['o3']})" in out.out
    after = _rows(fixture)
    # In the project: o1..o6 kept (o3 tied, o4..o6 unreviewed); not in it: the s-rows, removed.
    assert set(after) == {"o1", "o2", "o3", "o4", "o5", "o6"}
    assert after["o1"]["text"] == "The kettle holds 1.7 litres."
    assert after["o1"]["label"] == "Objective" and "provenance" not in after["o1"]
    assert after["o2"]["label"] == "Subjective"
    assert after["o2"]["provenance"]["task_id"] == ids["o2"]


@pytest.mark.labelstudio
def test_real_paged_read_changed_underneath_is_read_again(ls_project):
    conn, _, task, project_id = ls_project
    ids = _ids(conn, project_id)
    real = conn.sdk
    calls = []

    class Tasks:
        def list(self, **kwargs):
            calls.append(kwargs)
            if len(calls) == 2:  # before page 2 of the first read: someone deletes o2
                real.tasks.delete(ids["o2"])
            return real.tasks.list(**kwargs)

    class Sdk:
        projects = real.projects
        tasks = Tasks()

    _, tasks = fetch_tasks(Connection(conn.url, Sdk()), task, project_id, page_size=2)
    got = sorted(t.data[ID_KEY] for t in tasks)
    assert got == ["o1", "o3", "o4", "o5", "o6"]  # without the re-read, o4 was never seen
    assert len(calls) > 6  # three pages and three pages of ids, then the second read
