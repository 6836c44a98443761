"""One chunk of input rows -> labeled output rows: check each row's inputs, render the prompt,
ask the model through the cache, and lay out the output columns.

A row that cannot be labeled (an unreadable line, a missing or empty input, a value that is not
text or is too long, a failed model call) becomes an output row with status `error` and its
reason: it is never dropped, so the output has exactly one row per input row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.cache import Cache
from harness.datafiles import Numbered, missing
from harness.errors import HarnessError, UsageError
from harness.models.base import Backend
from harness.parsing import parse_label
from harness.prompts import Renderer
from harness.records import DecodingParams, Example, LabelRequest, PromptVersion, TaskSpec
from harness.runner import complete_cached

MAX_INPUT_CHARS = 20_000  # a longer input is most likely a mistake (a whole file in one cell)
# Columns the job adds; `p_<label>` for each label comes after `confidence`.
ADDED = ("label", "confidence", "status", "error", "prompt_version", "prompt_hash", "model")
STATUSES = ("accepted", "review", "error")


def distribution_column(label: str) -> str:
    return f"p_{label}"


def added_columns(task: TaskSpec) -> list[str]:
    return ["label", "confidence", *[distribution_column(label) for label in task.label_names],
            "status", "error", "prompt_version", "prompt_hash", "model"]


@dataclass(frozen=True, slots=True)
class Job:
    """What every chunk shares: the version, how to call the model, the column map."""

    task: TaskSpec
    version: PromptVersion
    backend: Backend
    cache: Cache
    model: str
    mode: str = "score"
    params: DecodingParams = DecodingParams()
    mapping: Mapping[str, str] = field(default_factory=dict)  # input field -> column

    def column(self, name: str) -> str:
        return self.mapping.get(name, name)


@dataclass(frozen=True, slots=True)
class Labeled:
    """One output row, and what routing and the summary need without reading it again."""

    number: int  # the input's row (JSONL: line) number
    row: dict[str, Any]  # pass-through columns + the added ones (status still empty)
    confidence: float | None  # None: an error, or a mode without confidence
    error: str | None  # why the row has status `error`
    bad_input: bool  # the error is the row's (not the model's)
    cached: bool = False
    called: bool = False  # a model call was made for it in this run


def check_columns(job: Job, columns: Sequence[str] | None, where: str) -> None:
    """Before any model call: every input field has its column, no input column would be
    overwritten by an added one. `columns` None (JSONL): checked row by row instead."""
    if columns is None:
        return
    absent = [f for f in job.task.input_fields if job.column(f) not in columns]
    if absent:
        shown = ", ".join(f"{f!r}" + (f" (--map {f}={job.column(f)})" if job.column(f) != f
                                       else "") for f in absent)
        raise UsageError(f"{where}: no column for the input field(s) {shown}; the columns are "
                         f"{', '.join(map(repr, columns[:20]))}; name yours with "
                         f"--map FIELD=COLUMN (task.yaml inputs: "
                         f"{', '.join(job.task.input_fields)})")
    clash = [c for c in columns if c in added_columns(job.task)]
    if clash:
        raise UsageError(f"{where}: input column(s) {', '.join(map(repr, clash))} would be "
                         f"overwritten by the columns harness label adds "
                         f"({', '.join(added_columns(job.task))}); rename or drop them first")


def row_id(number: int, row: Mapping[str, Any] | None) -> str:
    """The row's `id` column when it has one, else `row-<n>` (Label Studio's harness_id)."""
    value = (row or {}).get("id")
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value)
    return f"row-{number}"


def _inputs(job: Job, row: Mapping[str, Any]) -> tuple[dict[str, str] | None, str | None]:
    clash = [c for c in row if c in added_columns(job.task)]
    if clash:
        return None, (f"column(s) {', '.join(map(repr, clash))} clash with the columns harness "
                      f"label adds; rename them")
    inputs = {}
    for name in job.task.input_fields:
        column = job.column(name)
        shown = f"input field {name!r}" + (f" (column {column!r})" if column != name else "")
        value = row.get(column)
        if column not in row or missing(value):
            return None, f"missing {shown}"
        if not isinstance(value, str):
            return None, f"{shown} is not text ({type(value).__name__} {str(value)[:40]!r})"
        if len(value) > MAX_INPUT_CHARS:
            return None, (f"{shown} is {len(value):,} characters; the limit is "
                          f"{MAX_INPUT_CHARS:,}")
        inputs[name] = value
    if not any(v.strip() for v in inputs.values()):
        return None, f"empty input ({', '.join(job.task.input_fields)} blank)"
    return inputs, None


def label_chunk(job: Job, renderer: Renderer, chunk: Sequence[Numbered],
                advance: Callable[[int], object] | None = None) -> list[Labeled]:
    """The chunk's rows, labeled, in input order."""
    prepared: list[tuple[int, dict[str, Any], LabelRequest | None, str | None]] = []
    for number, row, problem in chunk:
        request = None
        if row is not None:
            inputs, problem = _inputs(job, row)
            if inputs is not None:
                example = Example(id=row_id(number, row), inputs=inputs, label="", split="",
                                  line=number)
                try:
                    request = LabelRequest(renderer.render(example), job.task.label_names,
                                           job.mode, job.params)
                except HarnessError as exc:
                    problem = f"the prompt could not be rendered: {exc}"
        prepared.append((number, dict(row or {}), request, problem))

    asked = [(i, r) for i, (_, _, r, _) in enumerate(prepared) if r is not None]
    if advance is not None:
        advance(len(prepared) - len(asked))  # bad rows are done at once
    answers = complete_cached(
        job.backend, job.cache, [r for _, r in asked],
        describe=lambda j: f"{job.task.name}/{job.version.name} row {prepared[asked[j][0]][0]}",
        meta=lambda j: {"model": job.model, "task": job.task.name,
                        "version": job.version.name, "example": f"row {prepared[asked[j][0]][0]}",
                        "mode": job.mode},
        advance=advance)
    by_index = {i: answer for (i, _), answer in zip(asked, answers)}

    out = []
    for index, (number, row, _, problem) in enumerate(prepared):
        answer = by_index.get(index)
        if answer is None:
            out.append(_finish(job, number, row, None, None, None, problem, bad_input=True))
            continue
        output, cached = answer
        if output.error is not None:
            out.append(_finish(job, number, row, None, None, None,
                               f"model call failed: {output.error}", bad_input=False,
                               cached=cached, called=not cached))
            continue
        if output.distribution:
            label = max(output.distribution, key=output.distribution.__getitem__)
            confidence = float(output.distribution[label])
        else:
            label, confidence = parse_label(output.raw, job.task.label_names), None
        out.append(_finish(job, number, row, label, confidence, output.distribution, None,
                           bad_input=False, cached=cached, called=not cached))
    return out


def _finish(job: Job, number: int, row: dict[str, Any], label: str | None,
            confidence: float | None, distribution: Mapping[str, float] | None,
            error: str | None, *, bad_input: bool, cached: bool = False,
            called: bool = False) -> Labeled:
    added: dict[str, Any] = {"label": label, "confidence": confidence}
    for name in job.task.label_names:
        added[distribution_column(name)] = None if not distribution else \
            float(distribution.get(name, 0.0))
    added.update(status="error" if error else "", error=error,
                 prompt_version=job.version.name, prompt_hash=job.version.content_hash,
                 model=job.model)
    return Labeled(number, {**row, **added}, confidence, error, bad_input and error is not None,
                   cached, called)

