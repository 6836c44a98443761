"""What accuracy to expect of the rows a labeling job accepts: read off the accuracy-vs-coverage
curve of the version's last stored evaluation (reports/<run-id>/), at the job's threshold.

It is an estimate from the evaluated fixture split, so it holds as far as the new rows look like
the fixture; the summary says which run it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.stats import coverage_curve
from harness.stored import list_runs, read_run


@dataclass(frozen=True, slots=True)
class Expected:
    accuracy: float | None  # None: no estimate (see `note`)
    note: str  # where it comes from, or why there is none
    run_id: str = ""
    examples: int = 0  # evaluated examples at or above the threshold
    coverage: float = 0.0  # their share of the evaluated examples


def expected_accuracy(report_root: Path, *, task: str, version: str, prompt_hash: str,
                      model: str, threshold: float) -> Expected:
    """Accuracy of the last evaluation's examples with confidence >= `threshold`."""
    how = f"`harness eval {task} --version {version} --model {model}` (score mode) makes one"
    runs = [(path, info) for path, info, _ in list_runs(report_root)
            if info.task == task and info.version == version and info.model == model
            and info.split != "critical"]
    if not runs:
        return Expected(None, f"no stored evaluation of {task}/{version} with model {model} "
                              f"under {report_root}; {how}")
    path, info = runs[0]  # newest first
    if info.prompt_hash != prompt_hash:
        return Expected(None, f"the last evaluation of {task}/{version} ({info.run_id}) used "
                              f"another text of the template (hash {info.prompt_hash[:12]}, now "
                              f"{prompt_hash[:12]}); {how}", info.run_id)
    if info.mode != "score":
        return Expected(None, f"the last evaluation ({info.run_id}) ran in {info.mode} mode, "
                              f"which gives no confidence; {how}", info.run_id)
    try:
        outcomes = read_run(path).outcomes
    except UsageError as exc:
        return Expected(None, f"cannot read {path}: {exc}", info.run_id)
    scored = [o for o in outcomes if o.error is None and o.confidence is not None]
    curve = coverage_curve([o.correct for o in scored], [o.confidence for o in scored],
                           max_points=len(scored) + 1)
    # The curve runs from the strictest threshold down; the last point at or above ours is
    # exactly the set of examples this job would accept.
    points = [p for p in curve if p.threshold >= threshold]
    if not points:
        return Expected(None, f"no example of the last evaluation ({info.run_id}, "
                              f"{len(scored)} examples) was that confident (>= "
                              f"{threshold:.3f}); no estimate", info.run_id)
    point = points[-1]
    return Expected(point.accuracy,
                    f"from run {info.run_id}: {round(point.accuracy * point.accepted)} of the "
                    f"{point.accepted} {info.split}-split examples with confidence >= "
                    f"{threshold:.3f} were right ({point.coverage:.0%} of the evaluated "
                    f"examples)", info.run_id, point.accepted, point.coverage)
