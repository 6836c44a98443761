"""Data files in the formats users have: CSV, TSV, JSONL and Parquet (by extension), read and
written in chunks so a file of any length costs the memory of one chunk.

Reading yields `(number, row, problem)` per row, like `datasets.jsonl_rows`: a row is a dict of
column -> value, or None with the problem that made it unreadable (the row is then reported,
never dropped). Numbers are 1-based: for JSONL the file's line (lines end at "\\n" only; each
line bounded, strict UTF-8 and strict JSON: no duplicate keys, no NaN), for CSV/TSV/Parquet the
data row (the first row after the header is row 1). `place(path, n)` writes them as `file:line`
/ `file:row n`.

CSV/TSV cells are read as text, verbatim (no type guessing: "007" stays "007", "NA" stays "NA");
an empty cell is "". Writing CSV/TSV neutralizes cells a spreadsheet would run as a formula
(a leading apostrophe, as results.csv does); JSONL and Parquet keep every value verbatim.

pandas and pyarrow are imported inside the functions that need them (startup stays light).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import DatasetError, UsageError
from harness.inputs import strictjson
from harness.inputs.text import BadInput, decode_utf8

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = 1000
MAX_LINE_BYTES = 1 << 20  # a JSONL line this long is a mistake (or an attack), not a row
MAX_REPORTED = 20

Numbered = tuple[int, "dict[str, Any] | None", "str | None"]


def format_of(path: Path) -> str:
    """'csv' | 'tsv' | 'jsonl' | 'parquet' from the extension; UsageError otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown data file type {path.suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(FORMATS)}")
    return fmt


def place(path: Path, number: int) -> str:
    """`file:line` for JSONL (a line of the file), `file:row n` for the table formats."""
    return f"{path}:{number}" if format_of(path) == "jsonl" else f"{path}:row {number}"


# -- reading ------------------------------------------------------------------------------

def columns(path: Path) -> list[str] | None:
    """The header of a CSV/TSV/Parquet file (None for JSONL: each line has its own keys)."""
    fmt = format_of(path)
    _check_file(path)
    if fmt == "parquet":
        return list(_parquet(path).schema_arrow.names)
    if fmt == "jsonl":
        return None
    return _csv_header(path, fmt)


def count_rows(path: Path) -> int:
    """Rows in the file (for a progress bar's total): Parquet from its metadata, the others in
    one pass without parsing values."""
    fmt = format_of(path)
    if fmt == "parquet":
        return _parquet(path).metadata.num_rows
    with path.open("rb") as handle:
        if fmt == "jsonl":
            return sum(1 for line in handle if line.strip())
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle, **_dialect(fmt))) - 1, 0)


def read_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[Numbered]]:
    """Lists of at most `chunk_rows` (number, row, problem), in file order. A problem that stops
    the whole file (not UTF-8, a broken CSV quote) raises DatasetError naming the place."""
    fmt = format_of(path)
    _check_file(path)
    if fmt == "jsonl":
        yield from _batched(_jsonl(path), chunk_rows)
    elif fmt == "parquet":
        yield from _parquet_chunks(path, chunk_rows)
    else:
        yield from _csv_chunks(path, fmt, chunk_rows)


def read_rows(path: Path) -> Iterator[Numbered]:
    for chunk in read_chunks(path):
        yield from chunk


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DatasetError("file not found", path=path)


def _batched(rows: Iterator[Numbered], size: int) -> Iterator[list[Numbered]]:
    batch: list[Numbered] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def jsonl_record(number: int, offset: int, line: bytes, *, locate: bool = True) -> Numbered:
    """One JSONL line: (number, row, None), or (number, None, problem). The dataset loader and
    the chunked reader share it, so both apply the same limits."""
    if len(line) > MAX_LINE_BYTES:
        return number, None, (f"the line is {len(line):,} bytes; the limit is "
                              f"{MAX_LINE_BYTES:,} bytes per line")
    try:
        row = strictjson.loads(decode_utf8(line, base_offset=offset, strip_bom=number == 1),
                               locate=locate)
    except BadInput as exc:
        return number, None, exc.message
    if not isinstance(row, dict):
        return number, None, f"expected a JSON object, got {type(row).__name__}"
    return number, row, None


def _jsonl(path: Path) -> Iterator[Numbered]:
    # Binary readline ends lines at b"\n" only (U+2028 inside a JSON string is not a break);
    # reading at most MAX_LINE_BYTES + 1 bounds the memory a line without "\n" can take.
    bad = number = offset = 0
    with path.open("rb") as handle:
        while True:
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            start = offset
            offset += len(line)
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while True:  # skip the rest of the over-long line
                    rest = handle.readline(1 << 20)
                    offset += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield number, None, (f"the line is over {MAX_LINE_BYTES:,} bytes; the limit is "
                                     f"{MAX_LINE_BYTES:,} bytes per line")
                continue
            body = line[:-1] if line.endswith(b"\n") else line
            if body.strip():
                record = jsonl_record(number, start, body, locate=bad < MAX_REPORTED)
                bad += record[1] is None
                yield record


def _dialect(fmt: str) -> dict:
    return {"delimiter": "\t" if fmt == "tsv" else ","}


def _csv_header(path: Path, fmt: str) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle, **_dialect(fmt)), None)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"invalid UTF-8 in the header (byte 0x{exc.object[exc.start]:02x}); "
                           f"save the file as UTF-8", path=path, row=0) from None
    if not header:
        raise DatasetError("the file is empty: expected a header row with the column names",
                           path=path, row=0)
    seen: set[str] = set()
    for name in header:
        if name == "":
            raise DatasetError(f"column {len(seen) + 1} of the header has no name", path=path,
                               row=0)
        if name in seen:  # pandas would rename the second one 'name.1' without a word
            raise DatasetError(f"column {name!r} appears twice in the header", path=path,
                               row=0, column=name)
        seen.add(name)
    return header


def _csv_chunks(path: Path, fmt: str, chunk_rows: int) -> Iterator[list[Numbered]]:
    import pandas as pd

    header = _csv_header(path, fmt)
    number = 0
    try:
        # Every cell as text, verbatim: no NA guessing ("NA", "null" are data), no number parsing.
        reader = pd.read_csv(path, sep=_dialect(fmt)["delimiter"], dtype=str,
                             keep_default_na=False, na_filter=False, chunksize=chunk_rows,
                             encoding="utf-8-sig", engine="c", header=0, names=header,
                             skip_blank_lines=True, on_bad_lines="error", index_col=False)
        with reader:
            while True:
                # pandas only warns when the first row is longer than the header (and drops the
                # extra cells): an error here, so no cell is lost without a word.
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    frame = next(reader, None)
                if frame is None:
                    break
                chunk = []
                for values in frame.itertuples(index=False, name=None):
                    number += 1
                    chunk.append((number, dict(zip(header, values)), None))
                yield chunk
    except UnicodeDecodeError as exc:
        raise DatasetError(f"invalid UTF-8 after row {number} (byte "
                           f"0x{exc.object[exc.start]:02x}); save the file as UTF-8",
                           path=path) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
        # e.g. "Expected 3 fields in line 7, saw 4": pandas names the physical line.
        raise DatasetError(f"not a well-formed {fmt.upper()} file after row {number}: "
                           f"{str(exc).strip()} (quote cells that contain the delimiter)",
                           path=path) from None


def _parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a non-Parquet file
        raise DatasetError(f"not a readable Parquet file ({exc})", path=path) from None


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[list[Numbered]]:
    number = 0
    for batch in _parquet(path).iter_batches(batch_size=chunk_rows):
        chunk = []
        for row in batch.to_pylist():
            number += 1
            chunk.append((number, row, None))
        yield chunk


def missing(value: Any) -> bool:
    """None or a float NaN (what pandas and Parquet use for an empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


# -- writing ------------------------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text`, with a leading apostrophe if a spreadsheet would run it as a formula. A plain
    number ("-5", "+1.5e3") is left alone: it is a value, not a formula.

    >>> print(spreadsheet_safe('=HYPERLINK("http://x")'), spreadsheet_safe("fine"),
    ...       spreadsheet_safe("-5"))
    '=HYPERLINK("http://x") fine -5
    """
    if not text.startswith(_FORMULA_START):
        return text
    try:
        float(text)
        return text if text.strip() == text else "'" + text
    except ValueError:
        return "'" + text


class TableWriter:
    """Writes rows (dicts over `columns`) chunk by chunk into `path` in the format of its
    extension. `types` (column -> pyarrow type) fixes Parquet column types; other columns are
    written as text (non-text values as JSON) so every chunk has the same schema.
    CSV/TSV text cells that a spreadsheet would run as a formula get a leading apostrophe
    (`spreadsheet_safe`) unless `verbatim` (a dataset file written back: its text is the data)."""

    def __init__(self, path: Path, columns: Sequence[str], *, fmt: str | None = None,
                 types: Mapping[str, Any] | None = None, verbatim: bool = False) -> None:
        self.path = path
        self.columns = list(columns)
        self.fmt = fmt or format_of(path)
        self.types = dict(types or {})
        self._safe = (lambda text: text) if verbatim else spreadsheet_safe
        self.rows = 0
        self._parquet = None
        self._handle = None
        if self.fmt in ("csv", "tsv"):
            self._handle = path.open("w", encoding="utf-8", newline="")
            self._csv = csv.writer(self._handle, **_dialect(self.fmt), lineterminator="\n")
            self._csv.writerow([self._safe(c) for c in self.columns])
        elif self.fmt == "jsonl":
            self._handle = path.open("w", encoding="utf-8", newline="\n")

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.fmt in ("csv", "tsv"):
            self._csv.writerows([[_cell(row.get(c), self._safe) for c in self.columns]
                                 for row in rows])
        elif self.fmt == "jsonl":
            self._handle.write("".join(
                json.dumps({c: _json_value(row.get(c)) for c in self.columns},
                           ensure_ascii=False, default=str, allow_nan=False) + "\n"
                for row in rows))
        else:
            self._write_parquet(rows)
        self.rows += len(rows)

    def _write_parquet(self, rows: Sequence[Mapping[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._schema = pa.schema([(c, self.types.get(c, pa.string())) for c in self.columns])
            self._parquet = pq.ParquetWriter(self.path, self._schema)
        arrays = []
        for field in self._schema:
            values = [row.get(field.name) for row in rows]
            if field.name not in self.types:
                values = [None if missing(v) else v if isinstance(v, str) else
                          json.dumps(v, ensure_ascii=False, default=str) for v in values]
            arrays.append(pa.array(values, type=field.type))
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        if self.fmt == "parquet" and self._parquet is None:
            self._write_parquet([])  # an empty file still has the schema
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(value: Any, safe: Callable[[str], str] = spreadsheet_safe) -> str:
    if missing(value):
        return ""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return safe(json.dumps(value, ensure_ascii=False, default=str))


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN / inf are not JSON; an empty Parquet/pandas cell becomes null
    return value


def parquet_types(path: Path) -> dict[str, Any]:
    """Column -> pyarrow type of a Parquet file, to write its columns back with their types."""
    return {f.name: f.type for f in _parquet(path).schema_arrow}

