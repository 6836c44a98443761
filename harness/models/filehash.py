"""SHA-256 of a model file, for cache keys, computed once per file rather than once per process.

Hashing reads the whole file (~1 GB/s here from the page cache, slower from disk): 0.09 s for
the embedded 98 MB GGUF, 4-8 s or more for a 4-8 GB model, paid by every `harness` command and
every pytest worker that builds a cache key, even when the cache answers everything. A memo in
the project's cache folder (`file-sha256.json`) keeps the digest under the file's identity as
`os.stat` gives it: path, size, modification and change times in nanoseconds, inode and device.
Replacing or editing the file changes at least the change time (which no user call can set back),
at the kernel clock's tick of a few milliseconds. As git does for its index ("racy git"), a
digest is kept, on disk or in this process, only when the file was last changed over two seconds
before hashing started and its stat did not move while it was read, so an edit within the same
tick cannot hide behind a kept digest. A missing, unreadable or corrupt memo only means hashing
again; a folder that cannot be written (or does not exist yet: the response cache creates it,
with its .gitignore) keeps the digest for this process only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from harness.fsutil import atomic_write_json

MEMO_NAME = "file-sha256.json"
SETTLED_NS = 2_000_000_000  # a file changed more recently is hashed again next time


def _hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_memo(memo: Path) -> dict:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _memoized(entry: object, stamp: tuple[int, ...]) -> str | None:
    if isinstance(entry, dict) and entry.get("stat") == list(stamp) \
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64:
        return entry["sha256"]
    return None


def stamp_of(path: Path) -> tuple[int, ...]:
    """The file's identity as `os.stat` gives it (size, mtime and ctime ns, inode, device)."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev


def settled_stamp(path: Path) -> tuple[int, ...] | None:
    """The file's stamp, or None when it changed in the last SETTLED_NS (the racy-file rule):
    what something read from the file may be remembered under, in this process or on disk."""
    stamp = stamp_of(path)
    return stamp if time.time_ns() - max(stamp[1], stamp[2]) > SETTLED_NS else None


# This process's digests of settled files, and the memo folders known to hold them: a second
# project in one process (a notebook's Sessions, the test suite) reuses the digest and writes it
# to its own memo; a digest of a file changed within the racy window is never kept.
_DIGESTS: dict[tuple[Path, tuple[int, ...]], str] = {}
_RECORDED: set[tuple[Path, tuple[int, ...], Path | None]] = set()


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """The file's SHA-256 hex digest; with `memo_dir`, read from / written to its memo there."""
    path = path.resolve()
    stamp = stamp_of(path)
    if (path, stamp, memo_dir) in _RECORDED:
        return _DIGESTS[path, stamp]
    memo = memo_dir / MEMO_NAME if memo_dir is not None else None
    entries = _read_memo(memo) if memo is not None else {}
    on_disk = _memoized(entries.get(str(path)), stamp)
    digest = on_disk or _DIGESTS.get((path, stamp))
    if digest is None:  # the racy-file rule, as for the chat format (models/local.py)
        settled = settled_stamp(path) == stamp
        digest = _hash(path)
        if not settled or stamp_of(path) != stamp:
            return digest  # changed lately or while read: hashed again next time
    _DIGESTS[path, stamp] = digest
    if memo is not None and on_disk is None:
        if not memo.parent.is_dir():  # never creates the cache folder; written once it exists
            return digest
        entries[str(path)] = {"stat": list(stamp), "sha256": digest}
        try:
            atomic_write_json(memo, entries)
        except OSError:  # a read-only cache folder: hashed again by the next process
            return digest
    _RECORDED.add((path, stamp, memo_dir))
    return digest
