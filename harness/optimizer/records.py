"""Frozen records of an optimization run: its configuration, candidates, scores, evaluations
and the final result. Plain data, written to the run log and the checkpoint as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: keeps this module (and `harness optimize --help`) light
    from harness.metrics import Metrics
    from harness.records import RunResult

PROPOSERS = ("teacher", "exemplars", "knn")


@dataclass(frozen=True, slots=True)
class OptimizeConfig:
    task: str
    start: str = "v2"
    teacher: str = "local"  # a backend name with `generate` mode: local, openai:gpt-4o, ...
    model: str = "local"  # the model the prompt is optimized for (the student)
    mode: str = "score"
    budget_calls: int = 3000  # model calls the search may charge (final test scoring is extra)
    iterations: int = 5
    patience: int = 3  # stop after this many iterations without a new incumbent
    target: float | None = None  # stop once the validation metric reaches this
    seed: int = 0
    minibatch: int = 24  # validation examples a candidate is screened on
    confirm: int = 2  # screened candidates promoted to the full validation split
    train_sample: int = 64  # train examples the incumbent runs on to find its errors
    errors_shown: int = 8  # sampled errors given to the teacher
    max_demos: int = 8  # fixed demonstrations kept at most
    proposers: tuple[str, ...] = PROPOSERS

    def search_key(self) -> dict[str, Any]:
        """What must match for `--resume` to continue a run (limits may change)."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("budget_calls", "iterations", "patience", "target")}


@dataclass(frozen=True, slots=True)
class DemoChoice:
    """Demonstrations by training-example id: `fixed` ids, or `knn` over all of train."""

    kind: str  # "fixed" | "knn"
    ids: tuple[str, ...] = ()
    k: int = 0

    def describe(self) -> str:
        return f"kNN k={self.k}" if self.kind == "knn" else f"{len(self.ids)} fixed demos"


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    iteration: int
    parent: int | None
    proposer: str  # "start" | one of PROPOSERS
    instruction: str | None  # None: the start version's own instructions block
    demos: DemoChoice | None
    rationale: str = ""  # why it was proposed (which errors, which k)

    def signature(self) -> tuple:
        return (self.instruction, self.demos)


@dataclass(frozen=True, slots=True)
class Score:
    value: float  # the optimization metric
    feasible: bool  # every task.yaml optimize constraint met
    violation: float  # summed shortfall below the constraints
    n: int

    def key(self) -> tuple[bool, float, float]:
        # Feasible beats infeasible; then the smaller violation; then the metric.
        return (self.feasible, -round(self.violation, 12), round(self.value, 12))

    def beats(self, other: Score) -> bool:
        return self.key() > other.key()


@dataclass(frozen=True, slots=True)
class CandidateEval:
    candidate: int
    iteration: int
    stage: str  # "train" | "screen" | "validation"
    score: Score
    calls: int  # model calls actually made (cache misses)
    charged: int  # calls charged to the budget (new requests in this run, cached or not)
    tokens: int  # prompt + completion tokens of the evaluated requests
    against: Score | None = None  # the incumbent on the same minibatch (screening)


@dataclass(frozen=True, slots=True)
class IterationLog:
    iteration: int
    incumbent: int  # after this iteration
    best: Score
    proposed: tuple[int, ...]
    promoted: tuple[int, ...]
    accepted: int | None
    rejected: tuple[str, ...] = ()  # proposals thrown away before evaluation, with the reason
    charged: int = 0  # budget used so far
    calls: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One version's evaluation on a whole split, for the final comparison."""

    result: RunResult
    metrics: Metrics
    score: Score


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    run_id: str
    config: OptimizeConfig
    directory: Path  # reports/<run-id>/: log, checkpoint, report
    candidates: tuple[Candidate, ...]
    evaluations: tuple[CandidateEval, ...]
    iterations: tuple[IterationLog, ...]
    winner: int
    sources: Mapping[int, str]  # candidate id -> template source (child of the start)
    instructions: Mapping[int, str]  # candidate id -> rendered instruction text
    start_validation: Outcome
    winner_validation: Outcome
    start_test: Outcome
    winner_test: Outcome
    written: Path | None  # the new prompts/<task>/vN.jinja, None when nothing beat the start
    stop_reason: str
    charged: int
    calls: int
    tokens: int
    duration_s: float
    metric: str
    written_source: str = ""  # the new version's file text, header included
    notes: tuple[str, ...] = field(default=())


def to_json(value: Any) -> Any:
    """Records -> JSON-ready data (dataclasses, tuples, paths)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f: to_json(getattr(value, f)) for f in value.__dataclass_fields__}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def score_from(data: Mapping | None) -> Score | None:
    return Score(**data) if data else None


def candidate_from(data: Mapping) -> Candidate:
    demos = data.get("demos")
    return Candidate(id=data["id"], iteration=data["iteration"], parent=data["parent"],
                     proposer=data["proposer"], instruction=data["instruction"],
                     demos=DemoChoice(demos["kind"], tuple(demos["ids"]), demos["k"])
                     if demos else None, rationale=data.get("rationale", ""))


def eval_from(data: Mapping) -> CandidateEval:
    return CandidateEval(**{**data, "score": score_from(data["score"]),
                            "against": score_from(data.get("against"))})


def iteration_from(data: Mapping) -> IterationLog:
    return IterationLog(**{**data, "best": score_from(data["best"]),
                           "proposed": tuple(data["proposed"]),
                           "promoted": tuple(data["promoted"]),
                           "rejected": tuple(data["rejected"])})
