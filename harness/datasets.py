"""Read and validate fixture files (JSONL, or CSV/TSV/Parquet by extension); derive deterministic
stratified splits.

A row: `{"id": "...", <input fields>..., "label": "...", "split": "test"?, "critical": true?}`.
A CSV/TSV/Parquet fixture has these as columns. Every problem in a file is collected and
reported at once, each with its file:line (JSONL) or file:row n (tables), before any model
call, so a user fixes the file in one pass.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.datafiles import (MAX_LINE_BYTES, format_of, jsonl_record, missing,  # noqa: F401
                               read_rows)
from harness.errors import DatasetError, warn
from harness.inputs.text import BadInput, did_you_mean, lines, read_limited, shorten
from harness.records import SPLITS, Example, Fixture, SplitSpec, TaskSpec

MAX_REPORTED = 20
MAX_FILE_BYTES = 256 << 20  # 256 MiB
_ROW_KEYS = ("id", "label", "split", "critical", "provenance")


def free_form(key: str) -> bool:
    """Keys the loader never warns about: `meta` and anything starting with `_`."""
    return key == "meta" or key.startswith("_")


def jsonl_rows(path: Path, raw: bytes | None = None
               ) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, row, None) or (line, None, problem) for every non-blank line. Lines end at "\n"
    only (a JSON string may hold U+0085 or U+2028); each line is bounded, strict UTF-8 and
    strict JSON (harness.inputs.strictjson). A file over the size limit raises DatasetError."""
    if raw is None:
        try:
            raw = read_limited(path, MAX_FILE_BYTES, "the dataset file")
        except BadInput as exc:
            raise DatasetError(exc.message, path=path) from None
    bad = 0
    for number, offset, line in lines(raw):
        if not line.strip():
            continue
        # Past the reported problems, skip the slow pass that finds the column.
        record = jsonl_record(number, offset, line, locate=bad < MAX_REPORTED)
        bad += record[1] is None
        yield record


def load_fixture(task: TaskSpec, path: Path | None = None, *, fmt: str | None = None
                 ) -> Fixture:
    """Load the task's dataset (or `path`), validated against the task's labels and inputs.
    `fmt` ('jsonl', 'csv', ...) replaces the one of the extension (a temp file has none)."""
    path = path or task.dataset
    if not path.is_file():
        raise DatasetError(f"dataset file not found (set `dataset:` in {task.path})", path=path)
    try:
        raw = read_limited(path, MAX_FILE_BYTES, "the dataset file")
    except BadInput as exc:
        raise DatasetError(exc.message, path=path) from None
    problems: list[tuple[int, str, str | None]] = []
    examples: list[Example] = []
    first_line: dict[str, int] = {}
    known = set(_ROW_KEYS) | set(task.input_fields)
    unknown: dict[str, list[int]] = {}  # key -> [first line, rows]

    table = (fmt or format_of(path)) != "jsonl"
    # file:line (JSONL) or file:row n (CSV/TSV/Parquet)
    where = (lambda n: f"{path}:row {n}") if table else (lambda n: f"{path}:{n}")
    unit = "row" if table else "line"
    rows = (_table_rows(path) if table else jsonl_rows(path, raw))
    for number, row, problem in rows:
        if row is None:
            problems.append((number, str(problem), None))
            continue
        for key in row:
            if key not in known and not free_form(key):
                unknown.setdefault(key, [number, 0])[1] += 1
        example = _parse_row(row, number, task, problems)
        if example is None:
            continue
        if example.id in first_line:
            problems.append((number, f"duplicate id {example.id!r} (first seen on {unit} "
                                     f"{first_line[example.id]})", example.id))
            continue
        first_line[example.id] = number
        examples.append(example)

    notes = [(line, f"unknown key {shorten(key)}{did_you_mean(key, sorted(known))} (in {count} "
                    f"row(s); ignored; the key 'meta' and keys starting with '_' are free-form)")
             for key, (line, count) in unknown.items()]
    if problems:
        # An unknown key often explains an error ('labl' -> missing 'label'): show both.
        problems.extend((line, note, None) for line, note in notes)
        problems.sort(key=lambda p: p[0])
        number, message, case_id = problems[0]
        lines_ = [f"{where(n)}: {m}" for n, m, _ in problems[:MAX_REPORTED]]
        more = len(problems) - MAX_REPORTED
        if more > 0:
            lines_.append(f"... and {more} more")
        summary = f"{len(problems)} problem(s) in the dataset:\n  " + "\n  ".join(lines_) \
            if len(problems) > 1 else message
        single = None if len(problems) > 1 else number
        raise DatasetError(summary, path=path, line=None if table else single,
                           row=single if table else None, case_id=case_id)
    for line, note in notes:
        warn(f"{where(line)}: {note}")
    if not examples:
        raise DatasetError("the dataset has no examples", path=path)

    return Fixture(path=path, examples=assign_splits(tuple(examples), task.splits),
                   content_hash=hashlib.sha256(raw).hexdigest())


def _table_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """CSV/TSV/Parquet rows as JSONL rows would be: CSV cells are text, so `critical`
    ("true"/"false", "1"/"0", empty) becomes a bool and an empty `split` or cell is absent."""
    for number, row, problem in read_rows(path):
        if row is None:
            yield number, row, problem
            continue
        row = {k: v for k, v in row.items() if not missing(v) and v != ""}
        flag = row.get("critical")
        if isinstance(flag, str):
            row["critical"] = _FLAGS.get(flag.strip().lower(), flag)
        yield number, row, None


_FLAGS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _parse_row(row: dict[str, Any], number: int, task: TaskSpec,
               problems: list[tuple[int, str, str | None]]) -> Example | None:
    def bad(message: str, case_id: str | None = None) -> None:
        problems.append((number, message, case_id))

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
    if not isinstance(label, str) or label not in task.label_names:
        hint = ""
        close = [n for n in task.label_names if n.lower() == str(label).strip().lower()]
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        bad(f"label {shorten(label)} is not one of {', '.join(task.label_names)} "
            f"({task.path.name}){hint}", case_id)
        return None

    split = row.get("split")  # null = absent (what pandas writes for a missing value)
    if split is not None and (not isinstance(split, str) or split not in SPLITS):
        bad(f"split {shorten(split)} is not one of {', '.join(SPLITS)}", case_id)
        return None
    critical = row.get("critical", False)
    if not isinstance(critical, bool):
        bad(f"'critical' must be true or false, got {shorten(critical)}", case_id)
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


def read_fixture_rows(path: Path) -> list[dict]:
    """Plain rows of a fixture file in any dataset format (for tools that write fixtures back:
    `harness ls pull`); errors name file:line (JSONL) or file:row (CSV/TSV/Parquet). A table's
    `provenance` cell holds JSON text (what write-back stores there) and is decoded."""
    if format_of(path) == "jsonl":
        return read_jsonl_rows(path)
    rows = []
    for number, row, problem in _table_rows(path):
        if row is None:
            raise DatasetError(str(problem), path=path, row=number)
        provenance = row.get("provenance")
        if isinstance(provenance, str):
            try:
                row["provenance"] = json.loads(provenance)
            except ValueError:
                raise DatasetError("'provenance' is not JSON text (the column holds what "
                                   "`harness ls pull` wrote there)", path=path,
                                   row=number) from None
        rows.append(row)
    return rows


def read_jsonl_rows(path: Path) -> list[dict]:
    """Plain rows of a JSONL file (for tools that write fixtures); errors name file:line."""
    rows = []
    for number, row, problem in jsonl_rows(path):
        if row is None:
            raise DatasetError(str(problem), path=path, line=number)
        rows.append(row)
    return rows


def representative(examples: Sequence[Example], n: int | None, seed: int) -> tuple[Example, ...]:
    """The first `n` examples of a seeded, stratified order (what `--limit N` evaluates), kept
    in their original order. The order takes one example of every label first, then each label
    in proportion to its share; within a label the order is by a hash of (seed, id), so adding
    rows leaves the relative order of the others alone and a label-sorted file still gives a
    sample of every label."""
    examples = tuple(examples)
    chosen = representative_indices([(e.id, e.label) for e in examples], n, seed)
    return tuple(e for i, e in enumerate(examples) if i in chosen)


def representative_indices(keys: Sequence[tuple[str, str]], n: int | None,
                           seed: int) -> frozenset[int]:
    """`representative` over (id, label) pairs: the indices of the chosen ones."""
    if n is None or n >= len(keys):
        return frozenset(range(len(keys)))
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (_, label) in enumerate(keys):
        groups[label].append(index)
    keyed = []
    for label, indices in groups.items():
        indices.sort(key=lambda i: (_rank(seed, f"limit:{keys[i][0]}"), i))
        keyed.extend(((position / len(indices), label, index)
                      for position, index in enumerate(indices)))
    return frozenset(index for _, _, index in sorted(keyed)[:max(n, 0)])
