"""What the optimizer reports while it runs: typed events handed to a callback, in order. The
library never words them; `harness optimize` turns them into lines (harness/cli/optimize.py).

Failed model calls are not an event but an exception, `CallsFailed`: the run stops before any
candidate is judged on part of its examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import BackendError
from harness.optimizer.records import Candidate, Gain, Rejection, Score


@dataclass(frozen=True, slots=True)
class Started:
    task: str
    start: str
    objective: str
    n_train: int
    n_validation: int
    n_test: int
    teacher: str | None  # None: no teacher proposer
    seed: int
    budget_calls: int
    search_calls: int  # upper bound of the calls the search charges (capped by the budget)
    test_calls: int  # the final test scoring (start and winner), not charged


@dataclass(frozen=True, slots=True)
class Resumed:
    run_id: str
    after_iteration: int
    charged: int
    calls: int
    kept: tuple[tuple[str, object], ...]  # limits as the run was started
    changed: tuple[tuple[str, object, object], ...]  # (name, run's value, new value)


@dataclass(frozen=True, slots=True)
class TimeEstimate:
    sampled_calls: int  # model calls timed (0: all cached, no estimate)
    seconds_per_call: float
    calls: int  # scoring calls still ahead at most (search + final test)
    seconds: float


@dataclass(frozen=True, slots=True)
class StartScored:
    score: Score


@dataclass(frozen=True, slots=True)
class Proposed:
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class ProposalRejected:
    rejection: Rejection


@dataclass(frozen=True, slots=True)
class Screened:
    iteration: int
    candidate: Candidate
    score: Score
    against: Score  # the incumbent on the same minibatch
    verdict: str  # better | not-confirmed | tie | worse (records.VERDICTS)


@dataclass(frozen=True, slots=True)
class Confirmed:
    iteration: int
    candidate: Candidate
    score: Score
    against: Score
    gain: Gain
    verdict: str  # accepted | not-better | small | not-significant


@dataclass(frozen=True, slots=True)
class NotScored:
    iteration: int
    candidate: Candidate
    stage: str  # screen | validation
    reason: str


@dataclass(frozen=True, slots=True)
class IterationDone:
    iteration: int
    iterations: int
    incumbent: Candidate
    best: Score
    start: Score
    accepted: bool
    charged: int
    budget_calls: int
    calls: int


@dataclass(frozen=True, slots=True)
class Stopped:
    reason: str


@dataclass(frozen=True, slots=True)
class FinalScoring:
    calls: int  # test calls ahead (cached ones cost none)


Event = (Started | Resumed | TimeEstimate | StartScored | Proposed | ProposalRejected | Screened
         | Confirmed | NotScored | IterationDone | Stopped | FinalScoring)
OnEvent = Callable[[Event], None]


class CallsFailed(BackendError):
    """Model calls failed (infrastructure, not wrong answers); the run stopped at its last
    checkpoint. `failed` of `total` calls of one evaluation; `first` is the first error."""

    def __init__(self, message: str, *, failed: int, total: int, first: str) -> None:
        super().__init__(message)
        self.failed, self.total, self.first = failed, total, first
