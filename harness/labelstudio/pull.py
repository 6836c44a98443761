"""Turn reviewed Label Studio tasks into fixture rows with provenance.

A row: the fixture id (`harness_id` from push, else `ls-<project>-<task>`), the input fields, the
agreed label, and `provenance` saying where the label came from:
    {"source": "label-studio", "project": 3, "project_title": "...", "task_id": 17,
     "annotators": 3, "agreement": 0.667, "status": "majority", "votes": {...},
     "pulled_at": "2026-11-23T17:02:11+00:00"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from harness.errors import UsageError
from harness.labelstudio.agreement import (TIE, UNLABELED, AgreementReport, Consensus, agreement,
                                           consensus)
from harness.labelstudio.annotations import ReviewedTask, parse_task
from harness.labelstudio.client import Connection, LabelStudioError
from harness.labelstudio.labeling import ID_KEY, check_config
from harness.records import TaskSpec

PAGE_SIZE = 100  # tasks per request when reading a project
READ_ATTEMPTS = 3  # reads of a project that keeps changing before the pull gives up


@dataclass(frozen=True, slots=True)
class PulledItem:
    fixture_id: str
    task: ReviewedTask
    consensus: Consensus


@dataclass(frozen=True, slots=True)
class Pull:
    project: int | None
    project_title: str
    items: tuple[PulledItem, ...]
    agreement: AgreementReport
    pulled_at: str

    @property
    def labeled(self) -> tuple[PulledItem, ...]:
        return tuple(i for i in self.items if i.consensus.label is not None)

    @property
    def ties(self) -> tuple[PulledItem, ...]:
        return tuple(i for i in self.items if i.consensus.status == TIE)

    @property
    def unlabeled(self) -> tuple[PulledItem, ...]:
        return tuple(i for i in self.items if i.consensus.status == UNLABELED)

    @property
    def disputed(self) -> tuple[PulledItem, ...]:
        """Labeled items whose reviewers did not all agree."""
        return tuple(i for i in self.labeled if i.consensus.disputed)

    def summary(self) -> list[str]:
        cancelled = sum(i.task.cancelled for i in self.items)
        by_status: dict[str, int] = {}
        for item in self.labeled:
            by_status[item.consensus.status] = by_status.get(item.consensus.status, 0) + 1
        detail = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(by_status.items()))
        lines = [f"{len(self.items)} tasks: {len(self.labeled)} labeled"
                 + (f" ({detail})" if detail else "") + f", {len(self.ties)} tied, {len(self.unlabeled)} without a submitted "
                   f"annotation; {cancelled} cancelled annotation(s) skipped"]
        for item in self.ties:
            lines.append(f"  tie, not written: {item.fixture_id} (task {item.task.task_id}) "
                         f"votes {_votes(item.consensus)}")
        for item in self.disputed:
            lines.append(f"  disagreement: {item.fixture_id} (task {item.task.task_id}) votes "
                         f"{_votes(item.consensus)} -> {item.consensus.label} "
                         f"({item.consensus.status.replace('_', ' ')})")
        lines += ["agreement: " + line for line in self.agreement.lines()]
        return lines


def _votes(c: Consensus) -> str:
    return ", ".join(f"{label} x{n}" for label, n in sorted(c.votes.items(), key=lambda t: -t[1]))


def fetch_tasks(conn: Connection, task: TaskSpec, project_id: int, *, page_size: int = PAGE_SIZE,
                attempts: int = READ_ATTEMPTS) -> tuple[str, list[ReviewedTask]]:
    """(project title, its tasks) after checking the project's config fits the task.

    Tasks are read page by page, so a task imported, deleted or annotated meanwhile could shift a
    page (one task read twice, another never) or mix old and new votes. The read is accepted only
    when every page saw the same task and annotation counts, the ids are distinct and as many as
    the server counts, and a second listing of the ids afterwards gives the same set; otherwise it
    is read again, and after `attempts` changed reads the pull stops saying so."""
    found = conn.call(f"reading project {project_id}", conn.sdk.projects.get, project_id)
    shape = check_config(task, found.label_config or "",
                         where=f"project {project_id} ({found.title!r})")
    problem = ""
    for _ in range(attempts):
        raw, problem = _read_consistent(conn, project_id, page_size)
        if not problem:
            break
    else:
        raise LabelStudioError(
            f"project {project_id} changed while its tasks were being read ({problem}), "
            f"{attempts} reads in a row; nothing was pulled. Pull again when nobody is importing, "
            f"deleting or annotating tasks")
    tasks = [parse_task(_plain(t), where=f"project {project_id}: task #{n}",
                        labels=task.label_names, choices_name=shape.choices_name,
                        project=project_id)
             for n, t in enumerate(raw, start=1)]
    return found.title, tasks


def _pages(conn: Connection, project_id: int, page_size: int, what: str,
           **fields: str) -> tuple[list, list[tuple]]:
    """Every task of the project, page by page (the SDK's own pager asks for a page past the
    end, which the server answers 404), and the counts each page reported."""
    items: list = []
    counts: list[tuple] = []
    page = 1
    while True:
        answer = conn.call(what, conn.sdk.tasks.list, project=project_id, page=page,
                           page_size=page_size, **fields)
        response = answer.response
        counts.append((getattr(response, "total", None),
                       getattr(response, "total_annotations", None)))
        batch = list(answer.items or [])
        items += batch
        total = counts[-1][0]
        if not batch or len(batch) < page_size or (total is not None and len(items) >= total):
            return items, counts
        page += 1


def _read_consistent(conn: Connection, project_id: int, page_size: int) -> tuple[list, str]:
    """(tasks, "") for a read that nothing changed underneath, else (tasks, what changed)."""
    raw, counts = _pages(conn, project_id, page_size, "reading tasks and annotations",
                         fields="all")
    ids = [t.id for t in raw]
    listed, counts_after = _pages(conn, project_id, page_size, "listing task ids",
                                  fields="task_only", include="id")
    seen = set(counts + counts_after)
    if len(seen) > 1:
        (first_tasks, first_votes), (last_tasks, last_votes) = counts[0], counts_after[-1]
        return raw, (f"tasks {first_tasks} -> {last_tasks}, annotations {first_votes} -> "
                     f"{last_votes} during the read")
    if len(set(ids)) != len(ids):
        return raw, "a task came twice: the pages shifted"
    total = counts[0][0]
    if total is not None and total != len(ids):
        return raw, f"{len(ids)} tasks read, the server counts {total}"
    if set(ids) != {t.id for t in listed}:
        return raw, "tasks were added or deleted during the read"
    return raw, ""


def _plain(task) -> dict:
    data = task.model_dump(mode="json") if hasattr(task, "model_dump") else dict(task)
    return {k: data.get(k) for k in ("id", "data", "annotations", "project")}


def resolve(task: TaskSpec, tasks: Sequence[ReviewedTask], *, project: int | None,
            project_title: str, now: datetime | None = None) -> Pull:
    seen: dict[str, int] = {}
    items = []
    for reviewed in tasks:
        fixture_id = fixture_id_of(reviewed)
        if fixture_id in seen:
            raise UsageError(f"tasks {seen[fixture_id]} and {reviewed.task_id} of project "
                             f"{project} carry the same {ID_KEY} {fixture_id!r}; delete one in "
                             f"Label Studio")
        seen[fixture_id] = reviewed.task_id
        items.append(PulledItem(fixture_id, reviewed, consensus(reviewed.votes)))
    pulled_at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return Pull(project, project_title, tuple(items), agreement(tasks, task.label_names),
                pulled_at)


def fixture_id_of(reviewed: ReviewedTask) -> str:
    value = reviewed.data.get(ID_KEY)
    if value is not None and str(value) != "":
        return str(value)
    return f"ls-{reviewed.project or 0}-{reviewed.task_id}"


def fixture_rows(pull: Pull, task: TaskSpec) -> list[dict]:
    """One row per labeled item (ties and unlabeled items are left out and listed)."""
    rows = []
    for item in pull.labeled:
        inputs = {}
        for name in task.input_fields:
            value = item.task.data.get(name)
            if not isinstance(value, str):
                raise UsageError(f"project {pull.project}: task {item.task.task_id} has no text "
                                 f"field {name!r} (task.yaml inputs: {', '.join(task.input_fields)}; "
                                 f"task data keys: {', '.join(sorted(item.task.data))})")
            inputs[name] = value
        c = item.consensus
        rows.append({"id": item.fixture_id, **inputs, "label": c.label, "provenance": {
            "source": "label-studio", "project": pull.project, "project_title": pull.project_title,
            "task_id": item.task.task_id, "annotators": c.annotators,
            "agreement": round(c.agreement, 3) if c.agreement is not None else None,
            "status": c.status, "votes": dict(sorted(c.votes.items())),
            "pulled_at": pull.pulled_at}})
    return rows
