"""The run log (log.jsonl: one line per candidate, evaluation and iteration, appended as they
happen) and the checkpoint (checkpoint.json: the whole search state after each iteration, so
`--resume` continues from the last finished iteration; the response cache makes the unfinished
iteration's finished calls free)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.optimizer.records import (Candidate, CandidateEval, IterationLog, OptimizeConfig,
                                       candidate_from, eval_from, iteration_from, to_json)
from harness.fsutil import atomic_write_json

CHECKPOINT = "checkpoint.json"
LOG = "log.jsonl"
FORMAT = 1


@dataclass
class State:
    """Everything the loop needs to continue; mutable inside the loop, saved after each
    iteration."""

    run_id: str
    config: OptimizeConfig
    target_version: str
    candidates: list[Candidate] = field(default_factory=list)
    evaluations: list[CandidateEval] = field(default_factory=list)
    iterations: list[IterationLog] = field(default_factory=list)
    incumbent: int = 0
    stale: int = 0
    charged: int = 0
    calls: int = 0
    tokens: int = 0
    seen: set[str] = field(default_factory=set)  # request keys already charged in this run
    status: str = "running"  # running | done
    stop_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "run_id": self.run_id, "config": to_json(self.config),
                "target_version": self.target_version,
                "candidates": to_json(self.candidates), "evaluations": to_json(self.evaluations),
                "iterations": to_json(self.iterations), "incumbent": self.incumbent,
                "stale": self.stale, "charged": self.charged, "calls": self.calls,
                "tokens": self.tokens, "seen": sorted(self.seen), "status": self.status,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        config = dict(data["config"])
        config["proposers"] = tuple(config["proposers"])
        return cls(run_id=data["run_id"], config=OptimizeConfig(**config),
                   target_version=data["target_version"],
                   candidates=[candidate_from(c) for c in data["candidates"]],
                   evaluations=[eval_from(e) for e in data["evaluations"]],
                   iterations=[iteration_from(i) for i in data["iterations"]],
                   incumbent=data["incumbent"], stale=data["stale"], charged=data["charged"],
                   calls=data["calls"], tokens=data["tokens"], seen=set(data["seen"]),
                   status=data["status"], stop_reason=data["stop_reason"])


def save(directory: Path, state: State) -> None:
    atomic_write_json(directory / CHECKPOINT, state.to_json())


def append_log(directory: Path, kind: str, record: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOG).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": kind, **to_json(record)}, ensure_ascii=False) + "\n")


def rewrite_log(directory: Path, state: State) -> None:
    """On resume: the log again holds exactly what the checkpoint holds (an interrupted
    iteration's lines are dropped; that iteration runs again)."""
    (directory / LOG).unlink(missing_ok=True)
    for kind, records in (("candidate", state.candidates), ("evaluation", state.evaluations),
                          ("iteration", state.iterations)):
        for record in records:
            append_log(directory, kind, record)


def find_resumable(report_dir: Path, config: OptimizeConfig) -> tuple[Path, State]:
    """The newest unfinished run of this task; its search settings must match."""
    found = sorted(report_dir.glob(f"*-optimize-{config.task}-*/{CHECKPOINT}"), reverse=True)
    for path in found:
        state = State.from_json(json.loads(path.read_text(encoding="utf-8")))
        if state.status == "done":
            continue
        if state.config.search_key() != config.search_key():
            diff = [f"{k}={v!r} (run has {state.config.search_key()[k]!r})"
                    for k, v in config.search_key().items()
                    if state.config.search_key()[k] != v]
            raise UsageError(f"{path}: cannot resume with different settings: "
                             f"{', '.join(diff)}; rerun without --resume to start over")
        return path.parent, state
    raise UsageError(f"nothing to resume: no unfinished `harness optimize {config.task}` run "
                     f"under {report_dir} (finished runs are not resumed)")
