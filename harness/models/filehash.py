"""SHA-256 of a model file, for cache keys, computed once per file rather than once per process.

Hashing reads the whole file (~1 GB/s here from the page cache, slower from disk): 0.09 s for
the embedded 98 MB GGUF, 4-8 s or more for a 4-8 GB model, paid by every `harness` command and
every pytest worker that builds a cache key, even when the cache answers everything. A memo in the project's cache folder (`file-sha256.json`) keeps the
digest under the file's identity as `os.stat` gives it: path, size, modification and change times
in nanoseconds, inode and device. Replacing or editing the file changes at least the change time
(which no user call can set back), at the kernel clock's tick of a few milliseconds. As git does
for its index ("racy git"), a digest is kept only when the file was last changed over two seconds
before hashing started and its stat did not move while it was read, so an edit within the same
tick cannot hide behind a kept digest. A missing, unreadable or corrupt memo only means hashing
again; a folder that cannot be written (or does not exist yet: the response cache creates it,
with its .gitignore) keeps the digest for this process only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path

from harness.fsutil import atomic_write_json

MEMO_NAME = "file-sha256.json"
SETTLED_NS = 2_000_000_000  # a file changed more recently is hashed again next time


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


def _hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_memo(memo: Path) -> dict:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, stamp: tuple[int, ...], memo_dir: Path | None) -> str:
    memo = memo_dir / MEMO_NAME if memo_dir is not None else None
    entries = _read_memo(memo) if memo is not None else {}
    entry = entries.get(str(path))
    if isinstance(entry, dict) and entry.get("stat") == list(stamp) \
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64:
        return entry["sha256"]
    started = time.time_ns()
    digest = _hash(path)
    settled = started - max(stamp[1], stamp[2]) > SETTLED_NS \
        and tuple(_stamp(path.stat())) == stamp
    if memo is not None and settled and memo.parent.is_dir():  # never creates the cache folder
        entries[str(path)] = {"stat": list(stamp), "sha256": digest}
        try:
            atomic_write_json(memo, entries)
        except OSError:
            pass  # a read-only cache folder: hashed again by the next process, nothing lost
    return digest


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """The file's SHA-256 hex digest; with `memo_dir`, read from / written to its memo there."""
    path = path.resolve()
    return _sha256(path, tuple(_stamp(path.stat())), memo_dir)
