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
from harness.labelstudio.client import Connection
from harness.labelstudio.labeling import ID_KEY, check_config
from harness.records import TaskSpec


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


def fetch_tasks(conn: Connection, task: TaskSpec, project_id: int) -> tuple[str, list[ReviewedTask]]:
    """(project title, its tasks) after checking the project's config fits the task."""
    found = conn.call(f"reading project {project_id}", conn.sdk.projects.get, project_id)
    shape = check_config(task, found.label_config or "",
                         where=f"project {project_id} ({found.title!r})")
    raw = conn.call("reading tasks and annotations",
                    lambda: list(conn.sdk.tasks.list(project=project_id, fields="all")))
    tasks = [parse_task(_plain(t), where=f"project {project_id}: task #{n}",
                        labels=task.label_names, choices_name=shape.choices_name,
                        project=project_id)
             for n, t in enumerate(raw, start=1)]
    return found.title, tasks


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
