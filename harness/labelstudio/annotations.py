"""Label Studio tasks and annotations (from the API or a JSON export) as plain records.

Everything here is external input: each problem names its place, e.g.
`export.json: task #4 (id 17): annotation #2 (id 40): result[0].value.choices: ...`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DatasetError, UsageError
from harness.inputs import strictjson
from harness.inputs.text import BadInput, decode_utf8, read_limited

MAX_EXPORT_BYTES = 256 << 20  # 256 MiB, like a fixture file


@dataclass(frozen=True, slots=True)
class Vote:
    """One submitted (not cancelled) annotation with its single label."""

    annotation_id: int | None
    annotator: str
    label: str
    ground_truth: bool = False


@dataclass(frozen=True, slots=True)
class ReviewedTask:
    task_id: int
    project: int | None
    data: Mapping[str, Any]
    votes: tuple[Vote, ...]
    cancelled: int = 0  # annotations the reviewers skipped (was_cancelled)


def parse_task(raw: Any, *, where: str, labels: Sequence[str],
               choices_name: str | None = None, project: int | None = None) -> ReviewedTask:
    """Validate one task dict as Label Studio returns or exports it."""
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: expected a task object, got {type(raw).__name__}")
    task_id = raw.get("id")
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise UsageError(f"{where}: missing or non-integer task 'id' ({task_id!r})")
    where = f"{where} (id {task_id})"
    data = raw.get("data")
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: 'data' must be an object with the input fields")
    annotations = raw.get("annotations") or []
    if not isinstance(annotations, list):
        raise UsageError(f"{where}: 'annotations' must be a list")
    votes, cancelled = [], 0
    for number, annotation in enumerate(annotations, start=1):
        here = f"{where}: annotation #{number}"
        if not isinstance(annotation, Mapping):
            raise UsageError(f"{here}: expected an object, got {type(annotation).__name__}")
        if annotation.get("id") is not None:
            here += f" (id {annotation['id']})"
        if annotation.get("was_cancelled"):
            cancelled += 1
            continue
        label = _choice(annotation.get("result"), where=here, labels=labels,
                        choices_name=choices_name)
        if label is None:  # submitted without choosing: counts as no answer
            cancelled += 1
            continue
        votes.append(Vote(annotation_id=annotation.get("id"),
                          annotator=_annotator(annotation.get("completed_by")),
                          label=label, ground_truth=bool(annotation.get("ground_truth"))))
    task_project = raw.get("project", project)
    return ReviewedTask(task_id=task_id,
                        project=task_project if isinstance(task_project, int) else project,
                        data=dict(data), votes=tuple(votes), cancelled=cancelled)


def _annotator(completed_by: Any) -> str:
    # The API gives a user id; exports may give {"id": .., "email": ..}.
    if isinstance(completed_by, Mapping):
        return str(completed_by.get("email") or completed_by.get("id") or "unknown")
    return "unknown" if completed_by is None else str(completed_by)


def _choice(result: Any, *, where: str, labels: Sequence[str],
            choices_name: str | None) -> str | None:
    if result is None:
        return None
    if not isinstance(result, list):
        raise UsageError(f"{where}: 'result' must be a list, got {type(result).__name__}")
    found = []
    for index, region in enumerate(result):
        if not isinstance(region, Mapping):
            raise UsageError(f"{where}: result[{index}] must be an object")
        if region.get("type") != "choices":
            continue
        if choices_name and region.get("from_name") not in (None, choices_name):
            continue
        value = region.get("value")
        choices = value.get("choices") if isinstance(value, Mapping) else None
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise UsageError(f"{where}: result[{index}].value.choices must be a list of labels, "
                             f"got {choices!r}")
        if len(choices) != 1:
            raise UsageError(f"{where}: result[{index}].value.choices has {len(choices)} labels "
                             f"({', '.join(choices) or 'none'}); the harness needs exactly one")
        if choices[0] not in labels:
            raise UsageError(f"{where}: result[{index}]: label {choices[0]!r} is not one of "
                             f"{', '.join(labels)} (task.yaml)")
        found.append(choices[0])
    if len(set(found)) > 1:
        raise UsageError(f"{where}: several choices results with different labels "
                         f"({', '.join(found)})")
    return found[0] if found else None


def read_export(path: Path, *, labels: Sequence[str],
                choices_name: str | None = None) -> list[ReviewedTask]:
    """Tasks of a Label Studio JSON export (Export > JSON: a list of task objects)."""
    if not path.is_file():
        raise UsageError(f"cannot read {path}: no such file")
    try:
        raw = strictjson.loads(decode_utf8(read_limited(path, MAX_EXPORT_BYTES, "the export")))
    except BadInput as exc:
        raise DatasetError(f"{exc.message}; expected a Label Studio JSON export", path=path,
                           line=exc.line) from None
    if isinstance(raw, Mapping) and "data" in raw:
        raw = [raw]  # a single exported task
    if not isinstance(raw, list):
        raise DatasetError("expected a list of tasks (Label Studio: Export > JSON), got "
                           f"{type(raw).__name__}", path=path)
    tasks = [parse_task(item, where=f"{path}: task #{number}", labels=labels,
                        choices_name=choices_name)
             for number, item in enumerate(raw, start=1)]
    seen: dict[int, int] = {}
    for number, task in enumerate(tasks, start=1):
        if task.task_id in seen:
            raise DatasetError(f"task #{number}: duplicate task id {task.task_id} (first at task "
                               f"#{seen[task.task_id]})", path=path)
        seen[task.task_id] = number
    return tasks
