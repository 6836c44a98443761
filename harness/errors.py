"""One exception family. Every message names the place (file:line, template, variable, label) and
the fix, so a user never has to read a traceback to know what to change."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """Bad command-line / pytest option, unknown task or version, bad configuration."""


class DatasetError(HarnessError):
    """A fixture file is malformed. Carries the location so tools can point at it."""

    def __init__(self, message: str, *, path: Path | str, line: int | None = None,
                 case_id: str | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.case_id = case_id
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class TemplateError(HarnessError):
    """A prompt template cannot be loaded or rendered."""


class BackendError(HarnessError):
    """A model backend failed in a way that is not a wrong answer (missing install, bad model id,
    server unreachable)."""


class CacheMiss(HarnessError):
    """Replay-only cache mode and the response was never recorded."""


class HarnessWarning(UserWarning):
    """A non-fatal problem a user should know about (e.g. a fallback the harness chose)."""
