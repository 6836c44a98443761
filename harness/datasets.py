"""Read and validate fixture JSONL files; derive deterministic stratified splits.

A row: `{"id": "...", <input fields>..., "label": "...", "split": "test"?, "critical": true?}`.
Every problem in a file is collected and reported at once, each with its file:line, before any
model call, so a user fixes the file in one pass.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from harness.errors import DatasetError
from harness.records import SPLITS, Example, Fixture, SplitSpec, TaskSpec

MAX_REPORTED = 20
_ROW_KEYS = {"id", "label", "split", "critical"}


def load_fixture(task: TaskSpec, path: Path | None = None) -> Fixture:
    """Load the task's dataset (or `path`), validated against the task's labels and inputs."""
    path = path or task.dataset
    if not path.is_file():
        raise DatasetError(f"dataset file not found (set `dataset:` in {task.path})", path=path)
    raw = path.read_bytes()
    problems: list[tuple[int, str, str | None]] = []
    examples: list[Example] = []
    first_line: dict[str, int] = {}

    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        example = _parse_row(line, number, task, problems)
        if example is None:
            continue
        if example.id in first_line:
            problems.append((number, f"duplicate id {example.id!r} (first seen on line "
                                     f"{first_line[example.id]})", example.id))
            continue
        first_line[example.id] = number
        examples.append(example)

    if problems:
        number, message, case_id = problems[0]
        lines = [f"{path}:{n}: {m}" for n, m, _ in problems[:MAX_REPORTED]]
        more = len(problems) - MAX_REPORTED
        if more > 0:
            lines.append(f"... and {more} more")
        summary = f"{len(problems)} problem(s) in the dataset:\n  " + "\n  ".join(lines) \
            if len(problems) > 1 else message
        raise DatasetError(summary, path=path, line=None if len(problems) > 1 else number,
                           case_id=case_id)
    if not examples:
        raise DatasetError("the dataset has no examples", path=path)

    return Fixture(path=path, examples=assign_splits(tuple(examples), task.splits),
                   content_hash=hashlib.sha256(raw).hexdigest())


def _parse_row(line: str, number: int, task: TaskSpec,
               problems: list[tuple[int, str, str | None]]) -> Example | None:
    def bad(message: str, case_id: str | None = None) -> None:
        problems.append((number, message, case_id))

    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        bad(f"invalid JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(row, dict):
        bad(f"expected a JSON object, got {type(row).__name__}")
        return None

    case_id = row.get("id")
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or str(case_id) == "":
        bad("missing or empty 'id' (a unique string per example)")
        return None
    case_id = str(case_id)

    inputs: dict[str, str] = {}
    for name in task.input_fields:
        if name not in row:
            bad(f"missing input field {name!r} (task.yaml inputs: "
                f"{', '.join(task.input_fields)})", case_id)
            return None
        value = row[name]
        if not isinstance(value, str):
            bad(f"input field {name!r} must be a string, got {type(value).__name__}", case_id)
            return None
        inputs[name] = value
    if not any(v.strip() for v in inputs.values()):
        bad(f"empty input: {' and '.join(repr(n) for n in task.input_fields)} "
            f"{'is' if len(inputs) == 1 else 'are'} blank", case_id)
        return None

    label = row.get("label")
    if label is None:
        bad("missing 'label'", case_id)
        return None
    if label not in task.label_names:
        hint = ""
        close = [n for n in task.label_names if n.lower() == str(label).strip().lower()]
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        bad(f"label {label!r} is not one of {', '.join(task.label_names)} "
            f"({task.path.name}){hint}", case_id)
        return None

    split = row.get("split")
    if split is not None and split not in SPLITS:
        bad(f"split {split!r} is not one of {', '.join(SPLITS)}", case_id)
        return None
    critical = row.get("critical", False)
    if not isinstance(critical, bool):
        bad(f"'critical' must be true or false, got {critical!r}", case_id)
        return None

    return Example(id=case_id, inputs=inputs, label=label, split=split or "", line=number,
                   critical=critical)


def assign_splits(examples: tuple[Example, ...], spec: SplitSpec) -> tuple[Example, ...]:
    """Give each example without a `split` one, stratified by label and deterministic in
    (seed, id): the order of rows in the file does not matter."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        if not example.split:
            groups[example.label].append(example)
    assigned: dict[str, str] = {}
    for label in sorted(groups):
        group = sorted(groups[label], key=lambda e: _rank(spec.seed, e.id))
        n = len(group)
        n_train = round(n * spec.train)
        n_val = round(n * spec.validation)
        for i, example in enumerate(group):
            assigned[example.id] = ("train" if i < n_train else
                                    "validation" if i < n_train + n_val else "test")
    return tuple(replace(e, split=assigned[e.id]) if not e.split else e for e in examples)


def _rank(seed: int, case_id: str) -> str:
    return hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()


def read_jsonl_rows(path: Path) -> list[dict]:
    """Plain rows of a JSONL file (for tools that write fixtures); errors name file:line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"invalid JSON: {exc.msg}", path=path, line=number) from exc
    return rows
