"""The journal of a run, in reports/<run-id>/:

- log.jsonl: one line per candidate, evaluation, rejection and iteration, appended as they
  happen (`event` names the record kind);
- checkpoint.json: the whole search state after each iteration, so `--resume` continues from
  the last finished iteration (the response cache makes the unfinished one's calls free);
- calls.jsonl: one line per model call made, never rewritten, so the call, token and time
  tallies stay exact across interruptions and resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.optimizer.budget import Budget
from harness.optimizer.records import (LIMITS, Candidate, CandidateEval, IterationLog,
                                       OptimizeConfig, Rejection, candidate_from, config_from,
                                       eval_from, iteration_from, rejection_from, to_json)
from harness.records import ModelOutput
from harness.fsutil import atomic_write_json

clock = time.perf_counter  # module-level so tests can run the journal on a fake clock
CHECKPOINT = "checkpoint.json"
LOG = "log.jsonl"
CALLS = "calls.jsonl"
FORMAT = 2


@dataclass
class State:
    """Everything the loop needs to continue; changed only through the Journal."""

    run_id: str
    config: OptimizeConfig
    target_version: str
    budget: Budget
    candidates: list[Candidate] = field(default_factory=list)
    evaluations: list[CandidateEval] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    iterations: list[IterationLog] = field(default_factory=list)
    incumbent: int = 0
    stale: int = 0  # iterations since the incumbent last changed
    status: str = "running"  # running | done
    stop_reason: str = ""
    elapsed_s: float = 0.0  # wall time of every session up to the last save

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "run_id": self.run_id, "config": to_json(self.config),
                "target_version": self.target_version, "charged": self.budget.charged,
                "seen": sorted(self.budget.seen), "candidates": to_json(self.candidates),
                "evaluations": to_json(self.evaluations),
                "rejections": to_json(self.rejections), "iterations": to_json(self.iterations),
                "incumbent": self.incumbent, "stale": self.stale, "status": self.status,
                "stop_reason": self.stop_reason, "elapsed_s": self.elapsed_s}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> State:
        if data.get("format") != FORMAT:
            raise UsageError(f"{path}: written by another version of harness (format "
                             f"{data.get('format')!r}, this one reads {FORMAT}); rerun without "
                             f"--resume to start over")
        config = config_from(data["config"])
        return cls(run_id=data["run_id"], config=config, target_version=data["target_version"],
                   budget=Budget(config.budget_calls, charged=data["charged"], seen=data["seen"]),
                   candidates=[candidate_from(c) for c in data["candidates"]],
                   evaluations=[eval_from(e) for e in data["evaluations"]],
                   rejections=[rejection_from(r) for r in data["rejections"]],
                   iterations=[iteration_from(i) for i in data["iterations"]],
                   incumbent=data["incumbent"], stale=data["stale"], status=data["status"],
                   stop_reason=data["stop_reason"], elapsed_s=data["elapsed_s"])


class Journal:
    """Owns the run's State: every record goes into the state and the log together."""

    def __init__(self, directory: Path, state: State, *, calls: int = 0, tokens: int = 0,
                 elapsed_before: float = 0.0) -> None:
        self.directory, self.state = directory, state
        self.calls, self.tokens = calls, tokens
        self._elapsed_before, self._clock = elapsed_before, clock()

    @classmethod
    def create(cls, report_dir: Path, state: State) -> Journal:
        journal = cls(report_dir / state.run_id, state)
        journal.directory.mkdir(parents=True, exist_ok=True)
        journal.save()  # resumable from the first call on
        return journal

    @classmethod
    def resume(cls, directory: Path) -> Journal:
        path = directory / CHECKPOINT
        state = State.from_json(json.loads(path.read_text(encoding="utf-8")), path)
        calls = tokens = 0
        last = 0.0
        if (directory / CALLS).is_file():
            for line in (directory / CALLS).read_text(encoding="utf-8").split("\n"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # empty, or torn by a kill mid-write
                calls, tokens, last = calls + 1, tokens + entry["tokens"], entry["t"]
        journal = cls(directory, state, calls=calls, tokens=tokens,
                      elapsed_before=max(state.elapsed_s, last))
        journal._rewrite_log()
        return journal

    @property
    def elapsed_s(self) -> float:
        """The whole run so far, every session included."""
        return self._elapsed_before + clock() - self._clock

    # -- one method per record kind ------------------------------------------------------------
    def candidate(self, candidate: Candidate) -> None:
        self.state.candidates.append(candidate)
        self._append("candidate", candidate)

    def evaluation(self, record: CandidateEval) -> None:
        self.state.evaluations.append(record)
        self._append("evaluation", record)

    def rejection(self, record: Rejection) -> None:
        self.state.rejections.append(record)
        self._append("rejection", record)

    def iteration(self, record: IterationLog) -> None:
        self.state.iterations.append(record)
        self._append("iteration", record)

    def call(self, output: ModelOutput) -> None:
        tokens = output.usage.prompt_tokens + output.usage.completion_tokens
        self.calls, self.tokens = self.calls + 1, self.tokens + tokens
        with (self.directory / CALLS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tokens": tokens, "t": round(self.elapsed_s, 3),
                                     "error": output.error is not None}) + "\n")

    def save(self) -> None:
        self.state.elapsed_s = self.elapsed_s
        atomic_write_json(self.directory / CHECKPOINT, self.state.to_json())

    # -------------------------------------------------------------------------------------------
    def _append(self, kind: str, record: Any) -> None:
        with (self.directory / LOG).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": kind, **to_json(record)}, ensure_ascii=False)
                         + "\n")

    def _rewrite_log(self) -> None:
        """On resume: the log again holds exactly what the checkpoint holds (an interrupted
        iteration's lines are dropped; that iteration runs again)."""
        (self.directory / LOG).unlink(missing_ok=True)
        state = self.state
        for kind, records in (("candidate", state.candidates), ("evaluation", state.evaluations),
                              ("rejection", state.rejections), ("iteration", state.iterations)):
            for record in records:
                self._append(kind, record)


def find_resumable(report_dir: Path, task: str) -> Path:
    """The newest unfinished run of this task."""
    found = sorted(report_dir.glob(f"*-optimize-{task}-*/{CHECKPOINT}"), reverse=True)
    for path in found:
        try:
            status = json.loads(path.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: unreadable checkpoint ({exc}); remove the run folder "
                             f"or rerun without --resume") from None
        if status != "done":
            return path.parent
    raise UsageError(f"nothing to resume: no unfinished `harness optimize {task}` run under "
                     f"{report_dir} (finished runs are not resumed)")


def resumed_config(run: OptimizeConfig, requested: OptimizeConfig, explicit: frozenset[str],
                   where: Path) -> tuple[OptimizeConfig, tuple, tuple]:
    """The run's own settings, with the explicitly given limits changed. An explicit search
    setting that differs from the run's is an error (it would be another search).
    Returns (config, kept limits, changed limits)."""
    changed, clashes = [], []
    for name in sorted(explicit - {"task"}):
        old, new = getattr(run, name), getattr(requested, name)
        if old == new:
            continue
        if name in LIMITS:
            changed.append((name, old, new))
        else:
            clashes.append(f"{name}={new!r} (the run has {old!r})")
    if clashes:
        raise UsageError(f"{where}: cannot resume with different settings: {', '.join(clashes)}; "
                         f"rerun without --resume to start over")
    config = replace(run, **{name: new for name, _, new in changed})
    kept = tuple((name, getattr(config, name)) for name in LIMITS
                 if name not in {c[0] for c in changed})
    return config, kept, tuple(changed)
