"""`harness label`: a prompt version over a whole data file, streamed and resumable.

Pass 1 reads the input in chunks, labels each chunk (every answer is cached the moment it
arrives) and appends the output rows to a temp file beside the output; pass 2 routes every row
(`accepted` / `review` / `error`) and writes the output format to a second temp file, renamed
over the output at the end. Memory: one chunk, plus 8 bytes per row (its confidence, for
--review-top) and the rows sent to review (for --push). A run killed at any point leaves the
previous output (or none) and the cache: the re-run replays the finished rows from the cache
and asks the model only for the rest, and writes each row exactly once.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness import datafiles
from harness.datafiles import Numbered
from harness.errors import UsageError
from harness.fsutil import is_temp_name
from harness.labeljob.rows import (Job, Labeled, added_columns, check_columns, label_chunk,
                                   row_id)
from harness.prompts import Renderer
from harness.records import INVALID

MAX_LISTED = 20  # bad rows named in the summary (all of them are in the output)


@dataclass(frozen=True, slots=True)
class Routing:
    """Which answered rows a person reviews. Neither option: every answered row is accepted."""

    accept_above: float | None = None  # accepted when confidence >= this
    review_top: int | None = None  # the N least certain rows go to review

    def check(self, mode: str) -> None:
        if self.accept_above is not None and self.review_top is not None:
            raise UsageError("--accept-above and --review-top exclude each other; pick one")
        if self.accept_above is not None and not 0.0 <= self.accept_above <= 1.0:
            raise UsageError(f"--accept-above is a confidence between 0 and 1, got "
                             f"{self.accept_above}")
        if self.review_top is not None and self.review_top < 0:
            raise UsageError(f"--review-top is a number of rows, got {self.review_top}")
        if (self.accept_above is not None or self.review_top is not None) and mode != "score":
            raise UsageError(f"routing by confidence needs label probabilities: mode {mode!r} "
                             f"gives none; use --mode score")


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A row sent to review (what Label Studio needs of it)."""

    id: str
    number: int
    inputs: Mapping[str, str]
    predicted: str | None
    confidence: float | None
    distribution: Mapping[str, float] | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    number: int
    place: str  # file:line or file:row n
    reason: str


@dataclass(frozen=True, slots=True)
class LabelSummary:
    rows: int
    accepted: int
    review: int
    errors: int  # rows with status error: bad_rows + model_errors
    bad_rows: int  # rows whose input was unusable
    model_errors: int  # rows whose model call failed (re-run to retry them)
    problems: tuple[RowProblem, ...]  # the first MAX_LISTED error rows
    model_calls: int
    cache_hits: int
    threshold: float | None  # lowest confidence accepted (None: nothing accepted)
    review_items: tuple[ReviewItem, ...]  # least certain first
    columns: tuple[str, ...]


class _Tally:
    """Counts of pass 1 (a private accumulator, not a record)."""

    def __init__(self) -> None:
        self.rows = self.bad = self.model_errors = self.calls = self.hits = 0
        self.problems: list[tuple[int, str]] = []
        self.confidence = array("d")  # per row; NaN: no confidence (error, generate mode)

    def add(self, labeled: Labeled) -> None:
        self.rows += 1
        self.calls += labeled.called
        self.hits += labeled.cached
        if labeled.error is not None:
            self.bad += labeled.bad_input
            self.model_errors += not labeled.bad_input
            if len(self.problems) < MAX_LISTED:
                self.problems.append((labeled.number, labeled.error))
        self.confidence.append(math.nan if labeled.confidence is None or labeled.error
                               else labeled.confidence)


class _Router:
    def __init__(self, routing: Routing, confidence: array) -> None:
        self.routing = routing
        self.review = frozenset()
        if routing.review_top:
            scored = ((c, i) for i, c in enumerate(confidence) if not math.isnan(c))
            self.review = frozenset(i for _, i in heapq.nsmallest(routing.review_top, scored))

    def status(self, index: int, labeled_row: Mapping[str, Any], confidence: float) -> str:
        if labeled_row.get("error"):
            return "error"
        if labeled_row.get("label") in (None, INVALID):  # no usable label: a person decides
            return "review"
        if self.routing.accept_above is not None:
            return "accepted" if confidence >= self.routing.accept_above else "review"
        return "review" if index in self.review else "accepted"


def label_file(job: Job, source: Path, out: Path, *, routing: Routing = Routing(),
               chunk_rows: int = 256, progress: bool = True) -> LabelSummary:
    datafiles.format_of(source)
    out_format = datafiles.format_of(out)
    routing.check(job.mode)
    header = datafiles.columns(source)
    check_columns(job, header, str(source))
    if out.resolve() == source.resolve():
        raise UsageError(f"--out {out} is the input file; write the labels to a new file")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out)
    renderer = Renderer(job.task, job.version)
    types = _parquet_types(job, source, header) if out_format == "parquet" else {}

    rows_tmp = _temp(out, ".rows")
    out_tmp = _temp(out, "")
    try:
        tally, seen = _label_pass(job, renderer, datafiles.read_chunks(source, chunk_rows),
                                  rows_tmp, total=datafiles.count_rows(source),
                                  progress=progress, title=f"label {job.task.name}/"
                                                           f"{job.version.name}")
        columns = [*(header if header is not None else seen), *added_columns(job.task)]
        router = _Router(routing, tally.confidence)
        with datafiles.TableWriter(out_tmp, columns, fmt=out_format, types=types) as writer:
            counts, review, threshold = _route_pass(job, rows_tmp, router, writer)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(out_tmp, 0o666 & ~mask)  # mkstemp made it 0600; an output is a normal file
        os.replace(out_tmp, out)
    finally:
        for path in (rows_tmp, out_tmp):
            path.unlink(missing_ok=True)
    return _summary(job, source, tally, counts, review, threshold, columns)


def label_records(job: Job, records: Iterable[Sequence[Numbered]], *,
                  routing: Routing = Routing(), progress: bool = False, total: int | None = None,
                  columns: Sequence[str] | None = None
                  ) -> tuple[list[dict[str, Any]], LabelSummary]:
    """In memory (a DataFrame's rows): the output rows in input order, and the summary."""
    routing.check(job.mode)
    check_columns(job, columns, "the DataFrame")
    renderer = Renderer(job.task, job.version)
    tally, labeled = _Tally(), []
    with _bar(total, progress, f"label {job.task.name}/{job.version.name}") as bar:
        for chunk in records:
            for item in label_chunk(job, renderer, chunk, advance=bar.update):
                tally.add(item)
                labeled.append(item)
    router = _Router(routing, tally.confidence)
    counts = {"accepted": 0, "review": 0, "error": 0}
    review: list[ReviewItem] = []
    threshold = math.inf
    rows = []
    for index, item in enumerate(labeled):
        status = router.status(index, item.row, tally.confidence[index])
        threshold = _count(job, item.number, item.row, status, counts, review, threshold)
        rows.append({**item.row, "status": status})
    return rows, _summary(job, None, tally, counts, review, threshold,
                          [*(columns or ()), *added_columns(job.task)])


def _bar(total: int | None, progress: bool, title: str) -> tqdm:
    # ETA from the rows done so far; cached rows count as done at once.
    return tqdm(total=total, unit="row", desc=title, disable=not progress, delay=1.0,
                dynamic_ncols=True)


def _label_pass(job: Job, renderer: Renderer, chunks: Iterator[Sequence[Numbered]],
                rows_tmp: Path, *, total: int, progress: bool, title: str
                ) -> tuple[_Tally, list[str]]:
    tally = _Tally()
    seen: dict[str, None] = {}  # pass-through columns in order of appearance (JSONL)
    added = set(added_columns(job.task))
    with rows_tmp.open("w", encoding="utf-8") as handle, _bar(total, progress, title) as bar:
        for chunk in chunks:
            labeled = label_chunk(job, renderer, chunk, advance=bar.update)
            for item in labeled:
                tally.add(item)
                seen.update((k, None) for k in item.row if k not in added)
            handle.write("".join(json.dumps({"n": item.number, "r": item.row},
                                            ensure_ascii=False, default=str) + "\n"
                                 for item in labeled))
    return tally, list(seen)


def _route_pass(job: Job, rows_tmp: Path, router: _Router, writer: datafiles.TableWriter
                ) -> tuple[dict[str, int], list[ReviewItem], float]:
    counts = {"accepted": 0, "review": 0, "error": 0}
    review: list[ReviewItem] = []
    threshold = math.inf
    batch: list[dict[str, Any]] = []
    with rows_tmp.open(encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            record = json.loads(line)  # our own file, written above
            row = record["r"]
            status = router.status(index, row, _confidence(row))
            row["status"] = status
            threshold = _count(job, record["n"], row, status, counts, review, threshold)
            batch.append(row)
            if len(batch) >= 1000:
                writer.write(batch)
                batch = []
    writer.write(batch)
    return counts, review, threshold


def _confidence(row: Mapping[str, Any]) -> float:
    value = row.get("confidence")
    return math.nan if value is None else float(value)


def _count(job: Job, number: int, row: Mapping[str, Any], status: str, counts: dict[str, int],
           review: list[ReviewItem], threshold: float) -> float:
    counts[status] += 1
    if status == "accepted" and row.get("confidence") is not None:
        threshold = min(threshold, float(row["confidence"]))
    if status == "review":
        distribution = {label: row[f"p_{label}"] for label in job.task.label_names
                        if row.get(f"p_{label}") is not None} or None
        review.append(ReviewItem(
            row_id(number, row), number,
            {f: str(row.get(job.column(f), "")) for f in job.task.input_fields},
            row.get("label"), row.get("confidence"), distribution))
    return threshold


def _summary(job: Job, source: Path | None, tally: _Tally, counts: dict[str, int],
             review: list[ReviewItem], threshold: float, columns: Sequence[str]
             ) -> LabelSummary:
    review.sort(key=lambda item: (math.inf if item.confidence is None else item.confidence,
                                  item.number))
    place = (lambda n: datafiles.place(source, n)) if source else (lambda n: f"row {n}")
    return LabelSummary(
        rows=tally.rows, accepted=counts["accepted"], review=counts["review"],
        errors=counts["error"], bad_rows=tally.bad, model_errors=tally.model_errors,
        problems=tuple(RowProblem(n, place(n), reason) for n, reason in tally.problems),
        model_calls=tally.calls, cache_hits=tally.hits,
        threshold=None if threshold == math.inf else threshold,
        review_items=tuple(review), columns=tuple(columns))


def _temp(out: Path, kind: str) -> Path:
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}{kind}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _remove_stale_temps(out: Path) -> None:
    """Temp files of a run of this output that was killed (kill -9 leaves them)."""
    for path in out.parent.glob(f".{out.name}.*"):
        if is_temp_name(path.name):
            path.unlink(missing_ok=True)


def _parquet_types(job: Job, source: Path, header: Sequence[str] | None) -> dict[str, Any]:
    """Parquet output: the input's own column types where they survive the JSON temp file
    (numbers, booleans, text), the added columns' types, text for the rest."""
    import pyarrow as pa

    types: dict[str, Any] = {"confidence": pa.float64()}
    types.update({f"p_{label}": pa.float64() for label in job.task.label_names})
    if datafiles.format_of(source) == "parquet":
        for name, kind in datafiles.parquet_types(source).items():
            if (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                    or pa.types.is_boolean(kind) or pa.types.is_string(kind)
                    or pa.types.is_large_string(kind)):
                types[name] = kind
    return types
