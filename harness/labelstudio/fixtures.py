"""Write pulled rows into a fixture file without losing anything: merge with what is there, show
the difference, and replace only when asked. The result is validated by harness.datasets before it
replaces the file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.datasets import load_fixture, read_jsonl_rows
from harness.errors import DatasetError
from harness.records import TaskSpec


@dataclass(frozen=True, slots=True)
class FixtureDiff:
    added: tuple[str, ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()  # (id, old label, new label)
    removed: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()  # same label, new or different provenance
    unchanged: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.provenance)

    def lines(self, limit: int = 50) -> list[str]:
        out = [f"{len(self.added)} added, {len(self.changed)} changed label(s), "
               f"{len(self.removed)} removed, {len(self.provenance)} with new provenance only, "
               f"{self.unchanged} unchanged"]
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


def merge(existing: Sequence[Mapping], pulled: Sequence[Mapping], *,
          drop_missing: bool = False) -> tuple[list[dict], FixtureDiff]:
    """Existing rows keep their place and their other fields (split, critical, ...); a pulled
    label and provenance replace theirs; new ids are appended. With `drop_missing`, existing rows
    the pull does not have are removed (otherwise kept)."""
    by_id = {str(row["id"]): row for row in pulled}
    rows, changed, removed, provenance, unchanged = [], [], [], [], 0
    for row in existing:
        case_id = str(row.get("id"))
        new = by_id.pop(case_id, None)
        if new is None:
            if drop_missing:
                removed.append(case_id)
            else:
                rows.append(dict(row))
                unchanged += 1
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
                             unchanged)


def read_existing(path: Path) -> list[dict] | None:
    return read_jsonl_rows(path) if path.exists() else None


def write_fixture(path: Path, rows: Sequence[Mapping], task: TaskSpec) -> None:
    """Validate the rows as a fixture of `task` (file:line errors), then atomically replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        try:
            load_fixture(task, Path(tmp))
        except DatasetError as exc:  # name the file the user asked for, not our temporary one
            raise DatasetError(f"not written, the rows are not a valid fixture of task "
                               f"{task.name!r}: {str(exc).replace(tmp, str(path))}",
                               path=path) from None
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
