"""One exception family. Every message names the place (file:line, template, variable, label) and
the fix, so a user never has to read a traceback to know what to change."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """Bad command-line / pytest option, unknown task or version, bad configuration."""


class DatasetError(HarnessError):
    """A fixture file is malformed. Carries the location so tools can point at it."""

    def __init__(self, message: str, *, path: Path | str, line: int | None = None,
                 case_id: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        # `line` for JSONL (a line of the file); `row` for CSV/TSV/Parquet (the data row, the
        # first after the header is 1; 0 is the header itself); `column` names the cell.
        self.path = Path(path)
        self.line = line
        self.row = row
        self.column = column
        self.case_id = case_id
        where = (f"{self.path}:{line}" if line is not None else
                 f"{self.path}:{'header' if row == 0 else f'row {row}'}" if row is not None
                 else str(self.path))
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class TemplateError(HarnessError):
    """A prompt template cannot be loaded or rendered."""


class BackendError(HarnessError):
    """A model backend failed in a way that is not a wrong answer (missing install, bad model id,
    server unreachable)."""


class CacheMiss(HarnessError):
    """Replay-only cache mode and the response was never recorded."""


class HarnessWarning(UserWarning):
    """A problem that does not stop the run (an unknown key, most likely a typo). The message names
    the place like an error does; `strict_warnings()` turns it into one."""


def warn(message: str) -> None:
    warnings.warn(HarnessWarning(message), stacklevel=3)


@contextmanager
def strict_warnings() -> Iterator[None]:
    """Strict mode (`--strict`): inside this block the first HarnessWarning stops the run as a
    UsageError with the same message. Other warnings are left alone."""
    with warnings.catch_warnings():
        # catch_warnings + a new filter also resets the "already shown" registries, so a warning
        # printed once outside strict mode still raises inside it.
        warnings.simplefilter("error", HarnessWarning)
        try:
            yield
        except HarnessWarning as exc:
            raise UsageError(f"{exc} (strict mode: warnings are errors)") from None


_default_format = warnings.formatwarning


def format_warning(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    """For `warnings.formatwarning` in a command-line shell: a HarnessWarning prints as
    `harness: warning: <message naming the place>` instead of pointing at the harness's source."""
    if isinstance(category, type) and issubclass(category, HarnessWarning):
        return f"harness: warning: {message}\n"
    return _default_format(message, category, filename, lineno, line)
