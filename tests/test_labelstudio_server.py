"""The Label Studio round trip against a real server (the `label_studio` fixture in conftest.py:
$LABEL_STUDIO_URL when it answers, else one started from .ls-venv, else a skip naming
`scripts/label-studio install`). Push runs the real embedded model on a few fixture rows.
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from harness import Session, load_settings
from harness.cli import main
from harness.errors import UsageError
from harness.labelstudio import (LabelStudioError, connect, fetch_tasks, items_from_run,
                                 labeling_config, push, resolve, uncertainty)
from harness.labelstudio.labeling import ID_KEY
from harness.tasks import load_task
from tests.conftest import copy_task

pytestmark = [pytest.mark.labelstudio]


@pytest.fixture(scope="module")
def conn(label_studio):
    url, key = label_studio
    return connect(url, key)


@pytest.fixture
def ls_env(label_studio, monkeypatch):
    url, key = label_studio
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", key)
    return url, key


@pytest.fixture
def cleanup(conn):
    """Delete the projects a test made (matters on a shared server)."""
    made: list[int] = []
    yield made
    for project_id in made:
        conn.sdk.projects.delete(project_id)


def _title() -> str:
    return f"harness test {uuid.uuid4().hex[:8]}"


def _tasks(conn, project_id: int) -> list[dict]:
    return [t.model_dump(mode="json") for t in
            conn.sdk.tasks.list(project=project_id, fields="all")]


def _choose(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def _reviewers(conn, n: int) -> list[int]:
    tag = uuid.uuid4().hex[:6]
    return [conn.sdk.users.create(username=f"rev{i}-{tag}", email=f"rev{i}-{tag}@example.com",
                                  password=secrets.token_hex(8)).id for i in range(n)]


@pytest.fixture(scope="module")
def project_run(tmp_path_factory, label_studio):
    """A copy of the subjectivity task and a real v2 run of the model over 8 of its rows (the
    server fixture comes first, so nothing runs the model when the tests will skip)."""
    root = copy_task(tmp_path_factory.mktemp("ls") / "project", rows=12)
    session = Session(load_settings(root, overrides={"progress": False}))
    try:
        return root, session.predict("subjectivity", "v2", limit=8)
    finally:
        session.close()


@pytest.mark.model
def test_round_trip_push_review_pull(project_run, conn, ls_env, cleanup, monkeypatch, capsys):
    root, result = project_run
    monkeypatch.chdir(root)
    task = load_task(root, "subjectivity")
    title = _title()

    # Push: a project made from task.yaml, one task per item, scores = confidences.
    pushed = push(conn, task, items_from_run(result), version="subjectivity/v2/local",
                  project=title)
    cleanup.append(pushed.project.id)
    assert pushed.project.created and len(pushed.created) == 8
    project = conn.sdk.projects.get(pushed.project.id)
    assert project.label_config.strip() == labeling_config(task).strip()
    assert project.sampling == "Uncertainty sampling"
    assert project.model_version == "subjectivity/v2/local"
    tasks = _tasks(conn, project.id)
    by_id = {t["data"][ID_KEY]: t for t in tasks}
    assert set(by_id) == {p.example_id for p in result.predictions}
    for p in result.predictions:
        (prediction,) = by_id[p.example_id]["predictions"]
        assert prediction["score"] == pytest.approx(p.confidence)
        assert prediction["model_version"] == "subjectivity/v2/local"
        assert prediction["result"][0]["value"]["choices"] == [p.predicted]
    # Task ids follow uncertainty: the least certain item was imported first.
    order = [t["data"][ID_KEY] for t in sorted(tasks, key=lambda t: t["id"])]
    confidences = {p.example_id: p.confidence for p in result.predictions}
    assert [confidences[i] for i in order] == sorted(confidences.values())

    # Idempotent: the same push through the CLI (cached model answers) adds nothing; another
    # version adds its prediction to the existing tasks instead of new tasks.
    assert main(["ls", "push", "subjectivity", "--version", "v2", "--limit", "8",
                 "--project", title, "--no-progress"]) == 0
    assert "0 new task(s)" in capsys.readouterr().out
    assert main(["ls", "push", "subjectivity", "--version", "v1", "--limit", "8",
                 "--project", str(project.id), "--no-progress"]) == 0
    assert "8 existing task(s) given this model version's prediction" in capsys.readouterr().out
    tasks = _tasks(conn, project.id)
    assert len(tasks) == 8
    assert all({p["model_version"] for p in t["predictions"]} ==
               {"subjectivity/v1/local", "subjectivity/v2/local"} for t in tasks)

    # Review, as people would in the UI: several reviewers, a disagreement, a tie, a cancelled
    # annotation, a ground-truth one.
    fixture = {r["id"]: r for r in map(json.loads, task.dataset.read_text().splitlines())}
    other = {"Objective": "Subjective", "Subjective": "Objective"}
    a, b, c = _reviewers(conn, 3)
    ids = sorted(by_id)
    t = {i: by_id[i]["id"] for i in ids}
    truth = {i: fixture[i]["label"] for i in ids}
    annotate = conn.sdk.annotations.create
    annotate(t[ids[0]], result=_choose(truth[ids[0]]), completed_by=a)  # unanimous
    annotate(t[ids[0]], result=_choose(truth[ids[0]]), completed_by=b)
    annotate(t[ids[1]], result=_choose(other[truth[ids[1]]]), completed_by=a)  # majority flips
    annotate(t[ids[1]], result=_choose(other[truth[ids[1]]]), completed_by=b)
    annotate(t[ids[1]], result=_choose(truth[ids[1]]), completed_by=c)
    annotate(t[ids[2]], result=_choose("Objective"), completed_by=a)  # tie
    annotate(t[ids[2]], result=_choose("Subjective"), completed_by=b)
    annotate(t[ids[3]], result=[], was_cancelled=True, completed_by=a)  # cancelled + one vote
    annotate(t[ids[3]], result=_choose(truth[ids[3]]), completed_by=b)
    annotate(t[ids[4]], result=_choose(other[truth[ids[4]]]), completed_by=a)  # ground truth wins
    annotate(t[ids[4]], result=_choose(other[truth[ids[4]]]), completed_by=b)
    annotate(t[ids[4]], result=_choose(truth[ids[4]]), completed_by=c, ground_truth=True)
    annotate(t[ids[5]], result=[], was_cancelled=True, completed_by=c)  # only cancelled

    # Pull into the existing fixture: a diff, nothing written without --write.
    before = task.dataset.read_text()
    assert main(["ls", "pull", "subjectivity", "--project", title]) == 1
    out = capsys.readouterr()
    assert task.dataset.read_text() == before and "not written" in out.err
    assert f"changed {ids[1]}: {truth[ids[1]]} -> {other[truth[ids[1]]]}" in out.out
    assert f"tie, not written: {ids[2]}" in out.out
    assert f"disagreement: {ids[1]}" in out.out and f"disagreement: {ids[4]}" in out.out
    assert "8 tasks: 4 labeled" in out.out and "2 cancelled annotation(s) skipped" in out.out
    assert "Cohen's kappa" in out.out

    assert main(["ls", "pull", "subjectivity", "--project", title, "--write"]) == 0
    capsys.readouterr()
    rows = {r["id"]: r for r in map(json.loads, task.dataset.read_text().splitlines())}
    assert len(rows) == 12
    assert rows[ids[1]]["label"] == other[truth[ids[1]]]
    assert rows[ids[4]]["label"] == truth[ids[4]]
    provenance = rows[ids[4]]["provenance"]
    assert provenance["status"] == "ground_truth" and provenance["annotators"] == 3
    assert provenance["agreement"] == pytest.approx(0.333) and provenance["project"] == project.id
    assert rows[ids[3]]["provenance"]["annotators"] == 1
    assert "provenance" not in rows[ids[2]] and "provenance" not in rows[ids[6]]
    assert main(["ls", "pull", "subjectivity", "--project", title]) == 0
    assert "is up to date" in capsys.readouterr().out

    # The pulled fixture flows into an evaluation.
    session = Session(load_settings(root, overrides={"progress": False}))
    try:
        evaluation = session.evaluate("subjectivity", "v2", split="all", limit=4, write=False)
    finally:
        session.close()
    assert evaluation.metrics.n == 4


@pytest.mark.model
def test_only_uncertain_sends_the_least_certain(project_run, conn, cleanup):
    root, result = project_run
    task = load_task(root, "subjectivity")
    items = items_from_run(result)
    for strategy in ("least-confidence", "margin", "entropy"):
        pushed = push(conn, task, items, version="subjectivity/v2/local", project=_title(),
                      only_uncertain=3, strategy=strategy)
        cleanup.append(pushed.project.id)
        ranked = sorted(items, key=lambda i: -uncertainty(i.distribution, strategy))
        assert set(pushed.created) == {i.id for i in ranked[:3]}
        assert len(_tasks(conn, pushed.project.id)) == 3


def test_project_with_another_label_config_is_refused(conn, cleanup, tmp_path):
    task = load_task(copy_task(tmp_path / "project", rows=4), "subjectivity")
    title = _title()
    made = conn.sdk.projects.create(title=title, label_config=(
        '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
        '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>'))
    cleanup.append(made.id)
    for project in (title, str(made.id)):
        with pytest.raises(UsageError) as info:
            push(conn, task, [], version="v", project=project)
        message = str(info.value)
        assert f"project {made.id}" in message and "different labeling config" in message
        assert "Positive, Negative" in message and "missing Objective, Subjective" in message
    fetched = pytest.raises(UsageError, fetch_tasks, conn, task, made.id)
    assert "different labeling config" in str(fetched.value)


def test_wrong_token_is_a_clear_error_that_never_shows_the_token(label_studio, tmp_path,
                                                                  monkeypatch, capsys):
    url, _ = label_studio
    wrong = "not-a-real-token-" + secrets.token_hex(4)
    with pytest.raises(LabelStudioError) as info:
        connect(url, wrong)
    assert "rejected the API key" in str(info.value) and wrong not in str(info.value)
    monkeypatch.chdir(copy_task(tmp_path / "project", rows=4))
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", wrong)
    assert main(["ls", "pull", "subjectivity"]) == 2
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.err and wrong not in captured.err + captured.out


def test_server_down_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LabelStudioError) as info:
        connect(f"http://127.0.0.1:{port}", "key", timeout=5)
    assert f"cannot reach Label Studio at http://127.0.0.1:{port}" in str(info.value)
    assert "scripts/label-studio start" in str(info.value)
    monkeypatch.chdir(copy_task(tmp_path / "project", rows=4))
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    assert main(["ls", "pull", "subjectivity", "--api-key", "k"]) == 2
    assert "no Label Studio URL" in capsys.readouterr().err


def test_pull_of_a_missing_project_says_so(conn, tmp_path):
    from harness.labelstudio import resolve_project

    task = load_task(copy_task(tmp_path / "project", rows=4), "subjectivity")
    with pytest.raises(UsageError, match="has no project titled 'nothing here"):
        resolve_project(conn, task, "nothing here " + uuid.uuid4().hex, create=False)
    with pytest.raises(UsageError, match="has no project with id 987654"):
        resolve_project(conn, task, "987654", create=False)
