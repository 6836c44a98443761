"""One frozen settings object for the CLI and the pytest plugin.

Precedence, highest first: explicit options (CLI flags / pytest options) > environment variables
(`HARNESS_MODEL`, `HARNESS_MODE`, `HARNESS_SPLIT`, `HARNESS_CACHE`, `HARNESS_REPORT_DIR`,
`HARNESS_CACHE_DIR`, `HARNESS_CONCURRENCY`, `HARNESS_MAX_RETRIES`, `HARNESS_TIMEOUT`) >
`[tool.harness]` in the project's pyproject.toml > built-in defaults. Remote backends also read
their own standard variables (OPENAI_BASE_URL, and the key from the variable `api_key_env` names).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.prices import validate_prices
from harness.records import MODES

CACHE_MODES = ("record", "replay", "refresh", "off")
SPLIT_CHOICES = ("train", "validation", "test", "all")
# llama.cpp threads of the local backend (default: the cores this process may use).
THREADS_ENV = "HARNESS_THREADS"


def available_cores() -> int:
    """The cores this process may run on (sched_getaffinity honours taskset and container CPU
    sets), not os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Settings:
    root: Path
    model: str = "local"
    mode: str = "score"
    split: str = "test"
    limit: int | None = None
    # record: read and write; replay: read only, a miss is an error; refresh: write only; off: neither.
    cache: str = "record"
    cache_dir: Path = Path(".harness-cache")
    report_dir: Path = Path("reports")
    baseline_dir: Path = Path("evals/baselines")
    progress: bool = True
    # Gate baselines with the point rule (any drop beyond the tolerance fails) instead of the
    # paired test; task.yaml `baseline_rule: strict` does the same per task.
    strict_baseline: bool = False
    # Remote backends (openai:<model>): calls in flight at once, where, which variable holds the
    # key (its name, never the secret), retries after the first attempt, seconds per attempt.
    concurrency: int = 8
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_retries: int = 5
    timeout_s: float = 60.0
    # A prompting strategy run instead of what each version declares (exploration; reported
    # as an override), and the sampling temperature of self-consistency:N (harness.strategy).
    strategy: str | None = None
    temperature: float | None = None
    # [tool.harness.prices]: {model: (USD per 1M input tokens, per 1M output tokens)}
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.split not in SPLIT_CHOICES:
            raise UsageError(f"unknown split {self.split!r}; choose one of {', '.join(SPLIT_CHOICES)}")
        if self.cache not in CACHE_MODES:
            raise UsageError(f"unknown cache mode {self.cache!r}; choose one of {', '.join(CACHE_MODES)}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit must be a positive number of examples, got {self.limit}")
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise UsageError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.timeout_s <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout_s}")

    def resolve(self, path: Path) -> Path:
        """Paths in settings are relative to the project root."""
        return path if path.is_absolute() else self.root / path

    def shown(self, path: Path) -> str:
        """`path` as messages and reports show it: relative to the project root when inside."""
        return shown_path(path, self.root)


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to `root` when it lies inside (a report shared from CI shows
    evals/baselines/x.json, not the runner's checkout path), else as given."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


_ENV = {
    "model": "HARNESS_MODEL",
    "mode": "HARNESS_MODE",
    "split": "HARNESS_SPLIT",
    "cache": "HARNESS_CACHE",
    "cache_dir": "HARNESS_CACHE_DIR",
    "report_dir": "HARNESS_REPORT_DIR",
    "concurrency": "HARNESS_CONCURRENCY",
    "max_retries": "HARNESS_MAX_RETRIES",
    "timeout_s": "HARNESS_TIMEOUT",
}
_NUMBERS = {"temperature": float, "limit": int, "concurrency": int, "max_retries": int, "timeout_s": float}


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding a `prompts/` folder or a pyproject.toml
    with a [tool.harness] table."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "prompts").is_dir():
            return candidate
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "tool" in _read_toml(pyproject) and \
                "harness" in _read_toml(pyproject)["tool"]:
            return candidate
    raise UsageError(
        f"no harness project found at or above {here}: expected a prompts/ folder "
        "(prompts/<task>/task.yaml) or a pyproject.toml with [tool.harness]"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from exc


def load_settings(root: Path | None = None, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from pyproject, environment and explicit overrides (None values ignored)."""
    root = find_root(root)
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)} - {"root"}
    values: dict[str, Any] = {}

    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("harness", {})
        unknown = sorted(set(table) - known)
        if unknown:
            raise UsageError(f"{pyproject}: [tool.harness] has unknown key(s) {', '.join(unknown)}; "
                             f"known keys: {', '.join(sorted(known))}")
        values.update(table)
        if "prices" in values:
            values["prices"] = validate_prices(values["prices"], str(pyproject))
    for name, var in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})

    for name in ("cache_dir", "report_dir", "baseline_dir"):
        if name in values:
            values[name] = Path(values[name])
    for name, kind in _NUMBERS.items():
        if values.get(name) is not None:
            try:
                values[name] = kind(values[name])
            except (TypeError, ValueError):
                source = _ENV.get(name, name)
                raise UsageError(f"{source}: expected a number, got {values[name]!r}") from None
    return Settings(root=root, **values)
