"""Bytes in, text out: size limits, strict UTF-8 with the byte offset of a bad byte, lines split
on "\\n" only (str.splitlines also breaks on U+0085, U+2028, \\x0c, ..., which real text holds
inside JSON strings), and did-you-mean hints for unknown keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path

BOM = b"\xef\xbb\xbf"


class BadInput(ValueError):
    """One problem in an input, with its 1-based line (and column) inside that input if known."""

    def __init__(self, message: str, *, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def read_limited(path: Path, max_bytes: int, what: str = "the file") -> bytes:
    """The file's bytes, refused before reading when it is larger than `max_bytes`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BadInput(f"{what} is {size:,} bytes; the limit is {max_bytes:,} bytes")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise BadInput(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise BadInput(f"{what} is over the limit of {max_bytes:,} bytes")
    return raw


def decode_utf8(raw: bytes, *, base_offset: int = 0, strip_bom: bool = True) -> str:
    """Strict UTF-8. A bad byte raises BadInput naming its byte offset (counted from the start of
    the file: `base_offset` is where `raw` starts in it), its line and column."""
    start = len(BOM) if strip_bom and raw.startswith(BOM) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = start + exc.start
        line = raw.count(b"\n", 0, at) + 1
        column = at - (raw.rfind(b"\n", 0, at) + 1) + 1
        raise BadInput(f"invalid UTF-8 at byte offset {base_offset + at} (byte 0x{raw[at]:02x}, "
                       f"column {column}); save the file as UTF-8", line=line,
                       column=column) from None


def lines(raw: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset of the line, the line's bytes without "\\n") for every line."""
    offset = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        yield number, offset, line
        offset += len(line) + 1


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """` — did you mean 'critical'?` for the closest known key, or ''."""
    text = str(word)
    known = list(known)
    same_case = [k for k in known if k.lower() == text.lower()]
    close = same_case or difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


def shorten(value: object, limit: int = 60) -> str:
    """repr() for a message, cut so a 10 MB value cannot flood the terminal."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit * 4 else \
        repr(value[: limit * 4])
    return text if len(text) <= limit else text[: limit - 3] + "..."
