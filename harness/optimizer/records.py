"""Frozen records of an optimization run: its configuration, candidates, scores, evaluations,
rejections and the final result. Plain data, written to the run log and the checkpoint as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: keeps this module (and `harness optimize --help`) light
    from harness.metrics import Metrics

PROPOSERS = ("teacher", "exemplars", "knn")
# Settings a resumed run may change (explicitly); every other setting steers the search itself.
LIMITS = ("budget_calls", "iterations", "patience", "target")


@dataclass(frozen=True, slots=True)
class OptimizeConfig:
    task: str
    start: str = "v2"
    teacher: str = "local"  # a backend name with `generate` mode: local, openai:gpt-4o, ...
    model: str = "local"  # the model the prompt is optimized for (the student)
    mode: str = "score"
    # Sized so a run on a shipped task takes minutes on 2 CPU cores (bench/RESULTS.md).
    budget_calls: int = 1000  # model calls the search may charge (final test scoring is extra)
    iterations: int = 3
    patience: int = 2  # stop after this many iterations without a new incumbent
    target: float | None = None  # stop once the validation metric reaches this
    seed: int = 0
    minibatch: int = 16  # validation examples a candidate is screened on
    confirm: int = 1  # candidates better on screening that get the full validation split
    train_sample: int = 32  # train examples the incumbent runs on to find its errors
    errors_shown: int = 8  # sampled errors given to the teacher
    max_demos: int = 8  # fixed demonstrations kept at most
    proposers: tuple[str, ...] = PROPOSERS
    min_effect: float = 0.02  # smallest validation gain that may replace the incumbent
    alpha: float = 0.05  # ... and the paired test on validation must give p <= alpha


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
class Gain:
    """A paired comparison of two versions on the same examples (from harness.stats)."""

    metric: str
    before: float
    after: float
    delta: float
    low: float  # CI of the delta
    high: float
    pvalue: float
    test: str  # "mcnemar" | "bootstrap"
    n: int

    def describe(self) -> str:
        return (f"{self.before:.3f} -> {self.after:.3f} ({self.delta:+.3f}, 95% CI "
                f"[{self.low:+.3f}, {self.high:+.3f}], {self.test} p={self.pvalue:.3g}, "
                f"n={self.n})")


# What happened to a candidate at one stage; the report and the CLI word these.
VERDICTS = {
    "errors": "the incumbent's errors on a train sample",
    "better": "better than the incumbent on the screening minibatch",
    "not-confirmed": "better on screening, but not among the best `confirm` this iteration",
    "tie": "tie with the incumbent on screening: not confirmed",
    "worse": "worse than the incumbent on screening",
    "accepted": "a real gain on validation: the new incumbent",
    "not-better": "not better than the incumbent on validation",
    "small": "validation gain below the minimum effect",
    "not-significant": "validation gain not significant (paired test)",
    "start": "the start version",
    "incumbent": "the incumbent on the same minibatch",
    "final": "scored once at the end",
}


@dataclass(frozen=True, slots=True)
class CandidateEval:
    candidate: int
    iteration: int
    stage: str  # "train" | "screen" | "validation" | "test"
    score: Score
    calls: int  # model calls actually made (cache misses)
    charged: int  # calls charged to the budget (new requests in this run, cached or not)
    tokens: int  # prompt + completion tokens of the evaluated requests
    against: Score | None = None  # the incumbent on the same examples
    verdict: str = ""  # a key of VERDICTS
    gain: Gain | None = None  # validation: the paired comparison with the incumbent


@dataclass(frozen=True, slots=True)
class Rejection:
    """A proposal thrown away before any evaluation, with the reason."""

    iteration: int
    proposer: str
    reason: str
    text: str = ""  # the rejected instruction (teacher), for the reader


@dataclass(frozen=True, slots=True)
class IterationLog:
    iteration: int
    incumbent: int  # after this iteration
    best: Score
    proposed: tuple[int, ...]
    promoted: tuple[int, ...]  # scored on the full validation split
    accepted: int | None
    rejected: int = 0  # proposals rejected before evaluation (see Rejection)
    charged: int = 0  # budget used so far


@dataclass(frozen=True, slots=True)
class Outcome:
    """One version's evaluation on a whole split, for the final comparison."""

    metrics: Metrics
    score: Score


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    run_id: str
    config: OptimizeConfig
    directory: Path  # reports/<run-id>/: log, checkpoint, report
    candidates: tuple[Candidate, ...]
    evaluations: tuple[CandidateEval, ...]
    rejections: tuple[Rejection, ...]
    iterations: tuple[IterationLog, ...]
    winner: int
    instructions: Mapping[int, str]  # candidate id -> rendered instruction text
    start_validation: Outcome
    winner_validation: Outcome
    start_test: Outcome
    winner_test: Outcome
    validation_gain: Gain | None  # start -> winner (None when the winner is the start)
    test_gain: Gain | None
    written: Path | None  # the new prompts/<task>/vN.jinja, None when nothing beat the start
    written_source: str  # the new version's file text, header included
    stop_reason: str
    charged: int
    calls: int  # model calls made by this run, in all its sessions (final test included)
    tokens: int  # tokens of those calls
    duration_s: float  # the whole run: every session, final test scoring included
    metric: str  # the optimized metric's name
    objective: str  # the metric with its constraints, in words

    @property
    def holds_on_test(self) -> bool | None:
        """None: no new version; else whether test agrees (gain > 0 and p <= alpha)."""
        if self.test_gain is None:
            return None
        return self.test_gain.delta > 0 and self.test_gain.pvalue <= self.config.alpha


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


def config_from(data: Mapping) -> OptimizeConfig:
    known = {f.name for f in fields(OptimizeConfig)}
    values = {k: v for k, v in data.items() if k in known}
    values["proposers"] = tuple(values.get("proposers", PROPOSERS))
    return OptimizeConfig(**values)


def score_from(data: Mapping | None) -> Score | None:
    return Score(**data) if data else None


def candidate_from(data: Mapping) -> Candidate:
    demos = data.get("demos")
    return Candidate(id=data["id"], iteration=data["iteration"], parent=data["parent"],
                     proposer=data["proposer"], instruction=data["instruction"],
                     demos=DemoChoice(demos["kind"], tuple(demos["ids"]), demos["k"])
                     if demos else None, rationale=data.get("rationale", ""))


def eval_from(data: Mapping) -> CandidateEval:
    gain = data.get("gain")
    return CandidateEval(**{**data, "score": score_from(data["score"]),
                            "against": score_from(data.get("against")),
                            "gain": Gain(**gain) if gain else None})


def rejection_from(data: Mapping) -> Rejection:
    return Rejection(**data)


def iteration_from(data: Mapping) -> IterationLog:
    return IterationLog(**{**data, "best": score_from(data["best"]),
                           "proposed": tuple(data["proposed"]),
                           "promoted": tuple(data["promoted"])})
