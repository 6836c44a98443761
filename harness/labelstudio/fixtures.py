"""Write pulled rows into a fixture file without losing anything: merge with what is there, show
the difference, and replace only when asked. The result is validated by harness.datasets before it
replaces the file.

Nothing is misattributed: a pulled label is applied to a row only when the reviewed inputs equal
the row's (otherwise it is a conflict, listed and not written). Nothing is lost: `drop_missing`
removes only rows the source does not have at all, and a file that changed between our read and
our write (another pull, an editor, a checkout) is not replaced."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.datafiles import TableWriter, format_of, parquet_types
from harness.datasets import load_fixture, read_fixture_rows
from harness.errors import DatasetError, HarnessWarning, UsageError, warn
from harness.records import TaskSpec


@dataclass(frozen=True, slots=True)
class FixtureDiff:
    added: tuple[str, ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()  # (id, old label, new label)
    removed: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()  # same label, new or different provenance
    unchanged: int = 0
    # (id, task id, input fields that differ): reviewed inputs are not the row's; not applied
    conflicts: tuple[tuple[str, object, tuple[str, ...]], ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.provenance)

    def lines(self, limit: int = 50) -> list[str]:
        out = [f"{len(self.added)} added, {len(self.changed)} changed label(s), "
               f"{len(self.removed)} removed, {len(self.provenance)} with new provenance only, "
               f"{self.unchanged} unchanged"
               + (f", {len(self.conflicts)} conflict(s) not applied" if self.conflicts else "")]
        for case_id, task_id, fields in self.conflicts[:limit]:
            out.append(f"  conflict, not written: {case_id} (task {task_id}): the reviewed "
                       f"{', '.join(fields)} differs from the fixture row's; the row is kept as "
                       f"it is (fix the row or the task, then pull again)")
        if len(self.conflicts) > limit:
            out.append(f"  ... and {len(self.conflicts) - limit} more conflicts")
        for case_id, old, new in self.changed[:limit]:
            out.append(f"  changed {case_id}: {old} -> {new}")
        if len(self.changed) > limit:
            out.append(f"  ... and {len(self.changed) - limit} more changed")
        for label, ids in (("added", self.added), ("removed", self.removed)):
            if ids:
                shown = ", ".join(ids[:limit]) + (f", ... (+{len(ids) - limit})"
                                                  if len(ids) > limit else "")
                out.append(f"  {label}: {shown}")
        return out


def _same_provenance(a: Mapping | None, b: Mapping | None) -> bool:
    strip = lambda p: {k: v for k, v in (p or {}).items() if k != "pulled_at"}  # noqa: E731
    return strip(a) == strip(b)


_NOT_INPUTS = frozenset({"id", "label", "provenance"})


def merge(existing: Sequence[Mapping], pulled: Sequence[Mapping], *,
          drop_missing: bool = False,
          present: Collection[str] | None = None) -> tuple[list[dict], FixtureDiff]:
    """Existing rows keep their place and their other fields (split, critical, ...); a pulled
    label and provenance replace theirs when the pulled row's inputs (its fields other than id,
    label and provenance: what the reviewer saw) equal the row's, else the row is kept and the
    pull listed as a conflict; new ids are appended. With `drop_missing`, existing rows whose id
    is not in `present` (every id the source has, labeled or not; default: the pulled ids) are
    removed (otherwise kept)."""
    by_id = {str(row["id"]): row for row in pulled}
    has = set(by_id) if present is None else {str(i) for i in present} | set(by_id)
    rows, changed, removed, provenance, conflicts, unchanged = [], [], [], [], [], 0
    for row in existing:
        case_id = str(row.get("id"))
        new = by_id.pop(case_id, None)
        if new is None:
            if drop_missing and case_id not in has:
                removed.append(case_id)
            else:
                rows.append(dict(row))
                unchanged += 1
            continue
        differ = tuple(k for k in new if k not in _NOT_INPUTS and row.get(k) != new[k])
        if differ:
            conflicts.append((case_id, (new.get("provenance") or {}).get("task_id"), differ))
            rows.append(dict(row))
            continue
        merged = {**row, "label": new["label"], "provenance": new["provenance"]}
        rows.append(merged)
        if row.get("label") != new["label"]:
            changed.append((case_id, str(row.get("label")), new["label"]))
        elif not _same_provenance(row.get("provenance"), new["provenance"]):
            provenance.append(case_id)
        else:
            merged["provenance"] = row.get("provenance")  # keep the old pulled_at: no churn
            unchanged += 1
    added = list(by_id)
    rows.extend(dict(by_id[i]) for i in added)
    return rows, FixtureDiff(tuple(added), tuple(changed), tuple(removed), tuple(provenance),
                             unchanged, tuple(conflicts))


@dataclass(frozen=True, slots=True)
class FileState:
    """What a file was when read: compared again right before it is replaced."""

    exists: bool
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""


def file_state(path: Path) -> FileState:
    try:
        before = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return FileState(exists=False)
    return FileState(True, before.st_size, before.st_mtime_ns, digest)


def read_with_state(path: Path) -> tuple[list[dict] | None, FileState]:
    """The rows of a fixture file (None when there is none) and its state when read; a file
    that changes while it is read is an error."""
    state = file_state(path)
    rows = read_fixture_rows(path) if state.exists else None
    if file_state(path) != state:
        raise UsageError(f"{path} changed while it was being read; nothing written, run the "
                         f"pull again")
    return rows, state


def read_existing(path: Path) -> list[dict] | None:
    return read_fixture_rows(path) if path.exists() else None


def write_fixture(path: Path, rows: Sequence[Mapping], task: TaskSpec, *,
                  expected: FileState | None = None) -> None:
    """Validate the rows as a fixture of `task` (file:line / file:row errors), then atomically
    replace. The format is the file's (by its extension: JSONL, CSV, TSV, Parquet); in a table
    the columns are the rows' keys in order of first appearance, `provenance` is JSON text, and
    a Parquet file's existing column types are kept where the merged values still fit them.
    With `expected` (the state when it was read), a file that changed since is not replaced."""
    fmt = format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp file keeps the extension: the table readers go by it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=f".tmp{path.suffix}")
    try:
        if fmt == "jsonl":
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            os.close(fd)
            _write_table(Path(tmp), fmt, rows, path)
        try:  # errors and warnings name the file the user asked for, not our temporary one
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", HarnessWarning)
                load_fixture(task, Path(tmp), fmt=fmt)
        except DatasetError as exc:
            raise DatasetError(f"not written, the rows are not a valid fixture of task "
                               f"{task.name!r}: {str(exc).replace(tmp, str(path))}",
                               path=path) from None
        for caught_warning in caught:
            warn(str(caught_warning.message).replace(tmp, str(path)))
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; keep the file's own mode
        if expected is not None and file_state(path) != expected:
            what = "was created" if not expected.exists else (
                "was deleted" if not path.exists() else "changed")
            raise UsageError(f"{path} {what} after the pull read it (another pull, an editor or a "
                             f"checkout?); not replaced, nothing written. Run the pull again "
                             f"to merge with its current content")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_table(tmp: Path, fmt: str, rows: Sequence[Mapping], original: Path) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    types = {}
    if fmt == "parquet" and original.exists():
        import pyarrow as pa

        for column, kind in parquet_types(original).items():
            try:  # keep the column's type when every merged value still fits it
                pa.array([row.get(column) for row in rows], type=kind)
                types[column] = kind
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                pass  # new values of another kind (a text id in an int column): written as text
    with TableWriter(tmp, columns, fmt=fmt, types=types, verbatim=True) as writer:
        writer.write(rows)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
