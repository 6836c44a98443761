"""Compare written runs of one task on the same examples: metric deltas against the first run
(the reference), the examples that flipped, and McNemar's exact test on the flips.

Works from the run records on disk (metrics.json, results.jsonl), never from a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.metrics import Metrics
from harness.stats import McNemar, mcnemar_exact
from harness.stored import Flip, Outcome, RunInfo, list_runs, read_run


@dataclass(frozen=True, slots=True)
class ComparedRun:
    directory: Path
    spec: RunInfo
    metrics: Metrics
    rows: Mapping[str, Outcome]  # example id -> outcome

    @property
    def name(self) -> str:
        return f"{self.spec.version} · {self.spec.model} · {self.spec.mode}"


@dataclass(frozen=True, slots=True)
class PairedResult:
    """One run against the reference."""

    fixed: tuple[Flip, ...]  # wrong in the reference, right here
    broken: tuple[Flip, ...]  # right in the reference, wrong here
    test: McNemar


@dataclass(frozen=True, slots=True)
class Comparison:
    task: str
    labels: tuple[str, ...]
    main_metric: str
    runs: tuple[ComparedRun, ...]  # runs[0] is the reference
    paired: tuple[PairedResult, ...]  # one per runs[1:]


def resolve_run(report_root: Path, ref: str | Path) -> Path:
    """A run folder given as a path, or as a run id under `report_root`."""
    for candidate in (Path(ref), report_root / str(ref)):
        if (candidate / "metrics.json").is_file():
            return candidate
    recent = [directory.name for directory, _, _ in list_runs(report_root)[:5]]
    hint = f"; recent runs in {report_root}: {', '.join(recent)}" if recent else \
        f"; {report_root} holds no runs yet (run `harness eval <task>` first)"
    raise UsageError(f"{ref}: not a run folder (no metrics.json there or under {report_root})"
                     + hint)


def _load(directory: Path) -> ComparedRun:
    run = read_run(directory)
    return ComparedRun(directory, run.info, run.metrics, run.by_id())


def _check_comparable(runs: Sequence[ComparedRun]) -> None:
    ref = runs[0]
    for run in runs[1:]:
        for key, what in (("task", "tasks"), ("dataset_hash", "dataset contents"),
                          ("split", "splits")):
            if getattr(run.spec, key) != getattr(ref.spec, key):
                raise UsageError(
                    f"cannot compare {ref.directory.name} and {run.directory.name}: different "
                    f"{what} ({key} {getattr(ref.spec, key)!r} vs {getattr(run.spec, key)!r}); "
                    f"a paired comparison needs the same task, dataset and split")
        if set(run.rows) != set(ref.rows):
            raise UsageError(
                f"cannot compare {ref.directory.name} and {run.directory.name}: they evaluated "
                f"different examples ({len(ref.rows)} vs {len(run.rows)}, limit "
                f"{ref.spec.limit} vs {run.spec.limit}); re-run with the same --limit")


def _outcome(outcome: Outcome) -> str:
    return outcome.predicted if outcome.predicted is not None else "call error"


def _pair(ref: ComparedRun, run: ComparedRun) -> PairedResult:
    ids = list(ref.rows)
    before = [ref.rows[i].correct for i in ids]
    after = [run.rows[i].correct for i in ids]
    fixed, broken = [], []
    for i, was, now in zip(ids, before, after):
        if was != now:
            a, b = ref.rows[i], run.rows[i]
            flip = Flip(i, a.inputs, a.expected, _outcome(a), _outcome(b), a.confidence,
                        b.confidence)
            (fixed if now else broken).append(flip)
    return PairedResult(tuple(fixed), tuple(broken), mcnemar_exact(before, after))


def compare_runs(report_root: Path, refs: Sequence[str | Path]) -> Comparison:
    if len(refs) < 2:
        raise UsageError(f"compare needs at least two runs, got {len(refs)}")
    runs = [_load(resolve_run(report_root, ref)) for ref in refs]
    _check_comparable(runs)
    ref = runs[0]
    return Comparison(task=ref.spec.task, labels=ref.metrics.labels,
                      main_metric=ref.spec.main_metric, runs=tuple(runs),
                      paired=tuple(_pair(ref, run) for run in runs[1:]))
