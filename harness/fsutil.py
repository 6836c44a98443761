"""The one atomic write. Every file the harness writes that a reader (another process, a crash)
could see half-written goes through here: a uniquely named temp file in the same directory, then
`os.replace`. Files get the usual 0644-under-umask mode (the kernel applies the umask to the
0666 the temp file is created with), not mkstemp's 0600."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from pathlib import Path

_serial = itertools.count()  # atomic under the GIL: threads of one process never share a name


def _create_temp(path: Path) -> tuple[int, str]:
    """An exclusively created temp file beside `path`: unique per process (pid), per call
    (serial) and, should a killed process with a reused pid have left one, random."""
    while True:
        tmp = f"{path.parent}/.{path.name}.{os.getpid()}-{next(_serial)}-{secrets.token_hex(3)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: Path, data: bytes) -> None:
    # One syscall fewer per write where the folder exists (cache entries: thousands per run).
    try:
        fd, tmp = _create_temp(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
