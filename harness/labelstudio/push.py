"""Push items with the model's predictions into a Label Studio project for review.

The project is found by id or exact title, or created with a config generated from task.yaml.
Each item becomes a task whose data holds the input fields and `harness_id` (the fixture id); its
prediction carries `score` = confidence and `model_version` = task/version/model, so the data
manager sorts by score and uncertainty sampling serves the least certain first. Pushing again adds
no duplicate: an id already in the project gets at most a prediction of a new model version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.datasets import jsonl_rows
from harness.errors import DatasetError, UsageError
from harness.labelstudio.client import Connection
from harness.labelstudio.labeling import (CHOICES_NAME, ID_KEY, check_config, instructions_html,
                                          labeling_config)
from harness.labelstudio.selection import most_uncertain, uncertainty
from harness.records import Example, Fixture, RunResult, TaskSpec

UNCERTAINTY_SAMPLING = "Uncertainty sampling"
BATCH = 500


@dataclass(frozen=True, slots=True)
class PushItem:
    id: str
    inputs: Mapping[str, str]
    predicted: str | None
    confidence: float | None
    distribution: Mapping[str, float] | None


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    title: str
    created: bool = False


@dataclass(frozen=True, slots=True)
class PushResult:
    project: Project
    model_version: str
    created: tuple[str, ...]  # fixture ids imported as new tasks, most uncertain first
    predictions_added: tuple[str, ...]  # ids already in the project, given this model version
    unchanged: tuple[str, ...]  # ids already in the project with this model version
    without_prediction: tuple[str, ...]  # the model gave no valid label (INVALID or an error)
    sent: tuple[str, ...] = ()  # every id this push considered, most uncertain first


def model_version(task: str, version: str, model: str) -> str:
    return f"{task}/{version}/{model}"


def items_from_run(result: RunResult) -> list[PushItem]:
    return [PushItem(p.example_id, dict(e.inputs), p.predicted, p.confidence,
                     dict(p.distribution) if p.distribution else None)
            for e, p in zip(result.examples, result.predictions)]


def items_from_rows(rows: Sequence[Mapping], *, where: Path) -> list[PushItem]:
    """Rows of a stored run's results.jsonl (harness.store.read_run)."""
    items = []
    for number, row in enumerate(rows, start=1):
        try:
            items.append(PushItem(str(row["id"]), dict(row["input"]), row.get("predicted"),
                                  row.get("confidence"), row.get("distribution")))
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"not a harness results row ({exc})", path=where,
                               line=number) from exc
    return items


def read_unlabeled(task: TaskSpec, path: Path) -> Fixture:
    """Any JSONL with `id` and the task's input fields (a `label` is allowed, not needed): the
    items to label. Problems are collected with their file:line, like fixtures."""
    if not path.is_file():
        raise DatasetError("file not found", path=path)
    examples, problems, seen = [], [], {}
    for number, row, problem in jsonl_rows(path):  # bounded, strict, lines end at \n only
        if row is None:
            problems.append(f"{path}:{number}: {problem}")
            continue
        if not isinstance(row.get("id"), (str, int)) \
                or isinstance(row.get("id"), bool) or str(row.get("id")) == "":
            problems.append(f"{path}:{number}: expected an object with a non-empty 'id'")
            continue
        case_id = str(row["id"])
        missing = [f for f in task.input_fields if not isinstance(row.get(f), str)]
        if missing:
            problems.append(f"{path}:{number}: missing or non-string input field(s) "
                            f"{', '.join(missing)} (task.yaml inputs: {', '.join(task.input_fields)})")
            continue
        if case_id in seen:
            problems.append(f"{path}:{number}: duplicate id {case_id!r} (first on line "
                            f"{seen[case_id]})")
            continue
        seen[case_id] = number
        examples.append(Example(id=case_id, inputs={f: row[f] for f in task.input_fields},
                                label=str(row.get("label") or ""), split="", line=number))
    if problems:
        raise DatasetError(f"{len(problems)} problem(s):\n  " + "\n  ".join(problems[:20]),
                           path=path)
    if not examples:
        raise DatasetError("no items to push", path=path)
    return Fixture(path=path, examples=tuple(examples),
                   content_hash=hashlib.sha256(path.read_bytes()).hexdigest())


def resolve_project(conn: Connection, task: TaskSpec, project: str | int | None, *,
                    create: bool) -> Project:
    """By id (digits), else by exact title (default: `<task> review`); created when missing and
    `create`. The config of an existing project is checked against the task."""
    sdk = conn.sdk
    if project is not None and str(project).isdigit():
        found = conn.call(f"reading project {project}", _get_or_none, sdk, int(project))
        if found is None:
            raise UsageError(f"Label Studio at {conn.url} has no project with id {project}")
        check_config(task, found.label_config or "", where=f"project {found.id} ({found.title!r})")
        return Project(found.id, found.title)
    title = str(project) if project else default_title(task)
    matches = [p for p in conn.call("listing projects", lambda: list(sdk.projects.list(title=title)))
               if p.title == title]
    if len(matches) > 1:
        raise UsageError(f"several projects are titled {title!r} (ids "
                         f"{', '.join(str(p.id) for p in matches)}); pass --project ID")
    if matches:
        found = conn.call(f"reading project {matches[0].id}", sdk.projects.get, matches[0].id)
        check_config(task, found.label_config or "", where=f"project {found.id} ({title!r})")
        return Project(found.id, title)
    if not create:
        raise UsageError(f"Label Studio at {conn.url} has no project titled {title!r}; push "
                         f"first or pass --project ID")
    made = conn.call("creating the project", sdk.projects.create, title=title,
                     description=task.description, label_config=labeling_config(task),
                     expert_instruction=instructions_html(task), show_instruction=True)
    return Project(made.id, title, created=True)


def default_title(task: TaskSpec) -> str:
    return f"{task.name} review"


def _get_or_none(sdk, project_id: int):
    from label_studio_sdk.core.api_error import ApiError

    try:
        return sdk.projects.get(project_id)
    except ApiError as exc:
        if exc.status_code == 404:
            return None
        raise


def existing_tasks(conn: Connection, project_id: int) -> dict[str, tuple[int, set[str]]]:
    """harness_id -> (task id, model versions of its predictions)."""
    tasks = conn.call("listing the project's tasks",
                      lambda: list(conn.sdk.tasks.list(project=project_id, fields="all")))
    found: dict[str, tuple[int, set[str]]] = {}
    for task in tasks:
        data = task.data or {}
        if ID_KEY in data:
            versions = {p.get("model_version") if isinstance(p, dict) else p.model_version
                        for p in (task.predictions or [])}
            found[str(data[ID_KEY])] = (task.id, versions)
    return found


def prediction_for(task: TaskSpec, item: PushItem, version: str) -> dict | None:
    if item.predicted not in task.label_names:
        return None
    result = [{"from_name": CHOICES_NAME, "to_name": task.input_fields[0], "type": "choices",
               "value": {"choices": [item.predicted]}}]
    prediction: dict = {"result": result, "model_version": version}
    if item.confidence is not None:
        prediction["score"] = float(item.confidence)
    return prediction


def push(conn: Connection, task: TaskSpec, items: Sequence[PushItem], *, version: str,
         project: str | int | None = None, only_uncertain: int | None = None,
         strategy: str = "least-confidence") -> PushResult:
    if only_uncertain is not None:
        items = most_uncertain(items, only_uncertain, strategy)
    elif any(i.distribution for i in items):
        # Most uncertain first, so task ids (and the default order) follow uncertainty too.
        ranked = [i for i in items if i.distribution]
        ranked.sort(key=lambda i: -uncertainty(i.distribution, strategy))
        items = ranked + [i for i in items if not i.distribution]
    target = resolve_project(conn, task, project, create=True)
    known = existing_tasks(conn, target.id)

    new, added, unchanged, bare = [], [], [], []
    for item in items:
        prediction = prediction_for(task, item, version)
        if prediction is None:
            bare.append(item.id)
        if item.id in known:
            task_id, versions = known[item.id]
            if prediction is None or version in versions:
                unchanged.append(item.id)
                continue
            conn.call(f"adding a prediction to task {task_id}", conn.sdk.predictions.create,
                      task=task_id, result=prediction["result"], score=prediction.get("score"),
                      model_version=version)
            added.append(item.id)
            continue
        data = {**item.inputs, ID_KEY: item.id}
        new.append((item.id, {"data": data, "predictions": [prediction] if prediction else []}))

    for start in range(0, len(new), BATCH):
        batch = new[start:start + BATCH]
        conn.call(f"importing {len(batch)} tasks", conn.sdk.projects.import_tasks, target.id,
                  request=[t for _, t in batch], return_task_ids=True)
    conn.call("setting uncertainty sampling", conn.sdk.projects.update, target.id,
              sampling=UNCERTAINTY_SAMPLING, model_version=version)
    return PushResult(target, version, tuple(i for i, _ in new), tuple(added), tuple(unchanged),
                      tuple(bare), tuple(i.id for i in items))
