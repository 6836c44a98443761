"""The one atomic write. Every file the harness writes that a reader (another process, a crash)
could see half-written goes through here: a uniquely named temp file in the same directory, then
`os.replace`. Files get the usual 0644-under-umask mode, not mkstemp's 0600."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp names are unique per call, so concurrent writers of one path never share a temp.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def is_temp_name(name: str) -> bool:
    """A temp file an interrupted atomic write may leave behind (never a finished file)."""
    return name.startswith(".") and name.endswith(".tmp")
