"""Typed records of what is on disk: a stored run (metrics.json + results.jsonl in a run folder)
and a baseline (a stored run someone accepted, evals/baselines/<task>/<version>.json).

Everything downstream (gate, compare, index, CI, Label Studio push of a stored run) reads these
records, never raw dicts. `RUN_SCHEMA` is checked on read: a record written by a newer harness,
or a baseline of an older shape, is refused with the file and the command that rewrites it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.fsutil import atomic_write_json
from harness.metrics import Metrics
from harness.reasoning import samples_from_json
from harness.records import RUN_SCHEMA, ReasonedAnswer


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The spec block: what was run, on what, where. Enough to reproduce it."""

    task: str
    version: str
    model: str
    mode: str
    split: str
    limit: int | None
    dataset_hash: str
    prompt_hash: str
    run_id: str = ""
    schema: int = RUN_SCHEMA
    main_metric: str = "macro_f1"
    prompt_parent: str | None = None
    model_identity: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = ""
    n_examples: int = 0
    git: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    started_at: str = ""
    duration_s: float = 0.0
    model_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    without_confidence: int = 0
    cost: Mapping[str, Any] = field(default_factory=dict)
    # The prompting strategy (harness.strategy) and where it came from (declared / override /
    # default); runs written before strategies existed read as zero-shot.
    strategy: str = "zero-shot"
    strategy_source: str = "default"
    strategy_note: str = ""

    @property
    def model_sha256(self) -> str:
        return str(self.model_identity.get("sha256", ""))

    @property
    def name(self) -> str:
        return f"{self.task}/{self.version}"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> RunInfo:
        try:
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise UsageError(f"{where}: the spec block is incomplete ({exc})") from None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One example's result. A baseline keeps only what the paired gate needs (id, expected,
    predicted, confidence, distribution); a run folder's results.jsonl also has the inputs, the
    raw answer and the rest."""

    id: str
    expected: str
    predicted: str | None  # a label, INVALID, or None when the call errored
    confidence: float | None = None
    distribution: Mapping[str, float] | None = None
    error: str | None = None
    critical: bool = False
    inputs: Mapping[str, str] = field(default_factory=dict)
    raw: str = ""
    cached: bool = False
    line: int = 0
    # Reasoning strategies: each sample's reasoning and answer, and a tied vote's labels.
    samples: tuple[ReasonedAnswer, ...] = ()
    tied: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected

    def as_baseline_dict(self) -> dict:
        row = {"id": self.id, "expected": self.expected, "predicted": self.predicted,
               "confidence": self.confidence, "correct": self.correct}
        if self.distribution:
            row["distribution"] = dict(self.distribution)
        if self.error:
            row["error"] = self.error
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], *, where: str) -> Outcome:
        try:
            return cls(id=str(row["id"]), expected=str(row["expected"]),
                       predicted=row.get("predicted"), confidence=row.get("confidence"),
                       distribution=row.get("distribution"), error=row.get("error"),
                       critical=bool(row.get("critical", False)), inputs=row.get("input") or {},
                       raw=row.get("raw") or "", cached=bool(row.get("cached", False)),
                       line=int(row.get("line") or 0),
                       samples=samples_from_json(row.get("samples")),
                       tied=tuple(str(t) for t in row.get("tied") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: not a result row ({exc!r} missing or malformed)") from None


@dataclass(frozen=True, slots=True)
class Flip:
    """An example whose correctness differs between two runs on the same examples."""

    id: str
    inputs: Mapping[str, str]
    expected: str
    before: str  # prediction of the reference ("call error" when the call failed)
    after: str
    before_confidence: float | None
    after_confidence: float | None


@dataclass(frozen=True, slots=True)
class StoredRun:
    info: RunInfo
    metrics: Metrics
    outcomes: tuple[Outcome, ...]
    directory: Path | None = None  # the run folder, when read from one

    def by_id(self) -> dict[str, Outcome]:
        return {o.id: o for o in self.outcomes}

    def to_pandas(self):  # -> pandas.DataFrame (pandas is imported only here)
        """One row per example: id, line, one column per input field, expected, predicted,
        confidence, `p_<label>` per label (the distribution; empty without one), correct,
        error, critical, cached."""
        import pandas as pd

        labels = list(self.metrics.labels)
        fields = list(dict.fromkeys(k for o in self.outcomes for k in o.inputs))
        rows = []
        for o in self.outcomes:
            dist = o.distribution or {}
            rows.append({"id": o.id, "line": o.line, **{f: o.inputs.get(f) for f in fields},
                         "expected": o.expected, "predicted": o.predicted,
                         "confidence": o.confidence,
                         **{f"p_{label}": dist.get(label) for label in labels},
                         "correct": o.correct, "error": o.error, "critical": o.critical,
                         "cached": o.cached})
        columns = ["id", "line", *fields, "expected", "predicted", "confidence",
                   *[f"p_{label}" for label in labels], "correct", "error", "critical", "cached"]
        return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A stored run someone accepted (`--update-baseline`), with its critical cases."""

    path: Path
    run: StoredRun
    critical: tuple[Outcome, ...]
    accepted_at: str

    def critical_outcome(self, case_id: str) -> Outcome | None:
        return next((o for o in self.critical if o.id == case_id), None)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


def _check_schema(path: Path, found: object, *, rewrite: str) -> None:
    if found == RUN_SCHEMA:
        return
    if isinstance(found, int) and found > RUN_SCHEMA:
        raise UsageError(f"{path}: written by a newer harness (schema {found}; this one reads "
                         f"{RUN_SCHEMA}); upgrade harness")
    raise UsageError(f"{path}: schema {found!r} is an older format without per-example outcomes "
                     f"and environment (this harness reads schema {RUN_SCHEMA}); {rewrite}")


# -- run folders --------------------------------------------------------------------------

def read_run(directory: Path) -> StoredRun:
    """A written run folder (metrics.json + results.jsonl) as a typed record. Run folders of
    schema 1 (before per-run environment) are read too: every field they lack has a default."""
    metrics_path = directory / "metrics.json"
    if not metrics_path.is_file():
        raise UsageError(f"{directory} is not a run directory (no metrics.json)")
    data = _load_json(metrics_path)
    if not isinstance(data, dict) or "spec" not in data or "metrics" not in data:
        raise UsageError(f"{metrics_path}: expected an object with 'spec' and 'metrics'")
    schema = data["spec"].get("schema")
    if isinstance(schema, int) and schema > RUN_SCHEMA:
        _check_schema(metrics_path, schema, rewrite="")
    info = RunInfo.from_dict(data["spec"], where=str(metrics_path))
    results = directory / "results.jsonl"
    outcomes = []
    if results.is_file():
        with results.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as exc:
                        raise UsageError(f"{results}:{number}: not valid JSON ({exc})") from None
                    outcomes.append(Outcome.from_dict(row, where=f"{results}:{number}"))
    return StoredRun(info, Metrics.from_dict(data["metrics"], where=str(metrics_path)),
                     tuple(outcomes), directory)


def load_run(directory: Path | str) -> StoredRun:
    """A run folder (reports/<run-id>/) as a StoredRun, e.g. `load_run(path).to_pandas()`."""
    return read_run(Path(directory))


def read_run_info(directory: Path) -> tuple[RunInfo, Metrics] | None:
    """The spec and metrics of a run folder without its rows (for listings); None when the
    folder holds no readable run (other report kinds, a half-copied folder)."""
    try:
        data = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
        return (RunInfo.from_dict(data["spec"], where=str(directory)),
                Metrics.from_dict(data["metrics"], where=str(directory)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError):
        return None


def list_runs(report_root: Path) -> list[tuple[Path, RunInfo, Metrics]]:
    """Every readable run folder under `report_root`, newest first."""
    runs = []
    for path in report_root.glob("*/metrics.json"):
        read = read_run_info(path.parent)
        if read is not None:
            runs.append((path.parent, *read))
    runs.sort(key=lambda run: (run[1].started_at, run[0].name), reverse=True)
    return runs


# -- baselines ----------------------------------------------------------------------------

def rerecord_hint(task: str, version: str) -> str:
    return (f"re-record it with `pytest evals/ --prompt-version {version} --update-baseline` "
            f"(or `harness eval {task} --version {version} --update-baseline`)")


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at `path`, None when there is none. An older or malformed file is an error
    naming the file and the command that rewrites it."""
    if not path.is_file():
        return None
    data = _load_json(path)
    task, version = path.parent.name, path.stem
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object; {rerecord_hint(task, version)}")
    _check_schema(path, data.get("schema"), rewrite=rerecord_hint(task, version))
    where = str(path)
    try:
        run = StoredRun(RunInfo.from_dict(data["run"], where=where),
                        Metrics.from_dict(data["metrics"], where=where),
                        tuple(Outcome.from_dict(o, where=f"{where}: outcome {i}")
                              for i, o in enumerate(data["outcomes"])))
        critical = tuple(Outcome.from_dict(o, where=f"{where}: critical {i}")
                         for i, o in enumerate(data.get("critical", [])))
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path}: malformed baseline ({exc!r}); "
                         f"{rerecord_hint(task, version)}") from None
    return Baseline(path, run, critical, str(data.get("accepted_at", "")))


def write_baseline(path: Path, run: StoredRun, critical: tuple[Outcome, ...],
                   accepted_at: str) -> None:
    metrics = {k: v for k, v in run.metrics.as_dict().items() if k != "confusion"}
    atomic_write_json(path, {
        "schema": RUN_SCHEMA,
        "accepted_at": accepted_at,
        "run": run.info.as_dict(),
        "metrics": metrics,
        "outcomes": [o.as_baseline_dict() for o in run.outcomes],
        "critical": [o.as_baseline_dict() for o in critical],
    })
