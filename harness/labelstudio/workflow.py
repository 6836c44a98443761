"""The Label Studio round trip as whole steps, for the CLI (a thin shell) and notebooks:
what to push (a stored run, or predictions made now), which task an export belongs to, and what
pulling does to a fixture file (a diff, written only when asked, never over a file that changed
since it was read, and never with a label reviewed on other inputs than the row's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.datasets import representative_indices
from harness.errors import UsageError
from harness.labelstudio.annotations import ReviewedTask, read_export
from harness.labelstudio.client import Connection
from harness.labelstudio.fixtures import merge, read_with_state, write_fixture
from harness.labelstudio.pull import Pull, fetch_tasks, fixture_rows, resolve
from harness.labelstudio.push import (PushItem, items_from_run, model_version, read_unlabeled,
                                      resolve_project)
from harness.records import RunResult, TaskSpec
from harness.stored import read_run

if TYPE_CHECKING:
    from harness.api import Session


@dataclass(frozen=True, slots=True)
class PushSource:
    items: list[PushItem]
    version: str  # model_version: task/version/model
    errored: tuple[str, ...] = ()  # ids whose model call failed (pushed without a prediction)
    first_error: str = ""


def stored_items(task: TaskSpec, run_dir: Path, *, limit: int | None) -> PushSource:
    """The items and predictions of a stored run folder (no model call)."""
    run = read_run(run_dir)
    if run.info.task != task.name:
        raise UsageError(f"{run_dir} is a run of task {run.info.task!r}, not {task.name!r}")
    items = [PushItem(o.id, dict(o.inputs), o.predicted, o.confidence,
                      dict(o.distribution) if o.distribution else None)
             for o in run.outcomes]
    missing = [o.id for o in run.outcomes if not o.inputs]
    if missing:
        raise UsageError(f"{run_dir / 'results.jsonl'}: rows without their inputs (first: "
                         f"{missing[0]!r}); push a run folder written by `harness eval`")
    # --limit N: the same seeded, label-stratified sample `harness eval --limit N` takes.
    chosen = representative_indices([(o.id, o.expected) for o in run.outcomes], limit,
                                  task.splits.seed)
    return PushSource([item for i, item in enumerate(items) if i in chosen],
                      model_version(task.name, run.info.version, run.info.model))


def predicted_items(session: Session, task: TaskSpec, version: str | None, *,
                    input_path: Path | None, split: str, limit: int | None) -> PushSource:
    """Run `version` (default: the newest not retired) over the fixture or new `input_path`."""
    name = version or session.default_version(task.name)
    fixture = read_unlabeled(task, input_path) if input_path else None
    result: RunResult = session.predict(task.name, name, split="all" if fixture else split,
                                        limit=limit, fixture=fixture)
    errors = result.errors
    return PushSource(items_from_run(result),
                      model_version(task.name, name, session.settings.model),
                      tuple(p.example_id for p in errors), errors[0].error if errors else "")


def pull_project(conn: Connection, task: TaskSpec, project: str | None) -> Pull:
    found = resolve_project(conn, task, project, create=False)
    title, tasks = fetch_tasks(conn, task, found.id)
    return resolve(task, tasks, project=found.id, project_title=title)


def import_export(export: Path, tasks: Callable[[], list[TaskSpec]],
                  task: TaskSpec | None) -> tuple[TaskSpec, Pull]:
    """Resolve an export file against `task`, or the only task whose labels and inputs fit."""
    chosen, reviewed = (task, read_export(export, labels=task.label_names)) if task else \
        _task_for_export(export, tasks())
    projects = sorted({t.project for t in reviewed if t.project is not None})
    pulled = resolve(chosen, reviewed, project=projects[0] if len(projects) == 1 else None,
                     project_title=f"export {export.name}")
    return chosen, pulled


def _task_for_export(export: Path, tasks: list[TaskSpec]
                     ) -> tuple[TaskSpec, list[ReviewedTask]]:
    fits, errors = [], []
    for task in tasks:
        try:
            reviewed = read_export(export, labels=task.label_names)
        except UsageError as exc:
            errors.append(f"{task.name}: {exc}")
            continue
        if all(all(f in t.data for f in task.input_fields) for t in reviewed):
            fits.append((task, reviewed))
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise UsageError(f"{export} fits no task (pass --task to see why):\n  " +
                         "\n  ".join(errors or ["no tasks under prompts/"]))
    raise UsageError(f"{export} fits several tasks ({', '.join(t.name for t, _ in fits)}); "
                     f"pass --task")


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    lines: tuple[str, ...]  # what to tell the user, in order
    written: bool
    pending: bool  # changes exist but were not written (without --write)
    conflicts: int = 0  # pulled labels not applied: reviewed on other inputs than the row's


def write_pulled(pulled: Pull, task: TaskSpec, target: Path, *, shown: str, write: bool,
                 drop_missing: bool) -> WriteOutcome:
    """Write the pulled rows into `target`: a new file directly; an existing one only with
    `write`, after showing the diff (rows keep their place, split and critical flag). A label
    whose reviewed inputs differ from the row's is a conflict, listed and not applied;
    `drop_missing` removes only rows the project (export) does not have at all, not the ones
    nobody answered or whose votes tied; a file changed since it was read is not replaced."""
    rows = fixture_rows(pulled, task)
    existing, state = read_with_state(target)
    if existing is None and not rows:
        return WriteOutcome((f"nothing to write: no task has a label yet; {shown} not created",),
                            False, False)
    if existing is None:
        write_fixture(target, rows, task, expected=state)
        return WriteOutcome((f"wrote {len(rows)} row(s) to {shown} (new file)",), True, False)
    merged, diff = merge(existing, rows, drop_missing=drop_missing,
                         present={item.fixture_id for item in pulled.items})
    lines = [f"against {shown}: " + "\n".join(diff.lines())]
    conflicts = len(diff.conflicts)
    if not diff.has_changes:
        return WriteOutcome((*lines, f"{shown} is up to date"), False, False, conflicts)
    if not write:
        return WriteOutcome(tuple(lines), False, True, conflicts)
    write_fixture(target, merged, task, expected=state)
    return WriteOutcome((*lines, f"updated {shown} ({len(merged)} rows)"), True, False, conflicts)
