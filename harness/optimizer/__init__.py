"""The optimizer: propose candidate prompts from sampled errors, keep the best on validation
only for a real gain, write the winner as a new prompt version that extends its parent.

The loop (and the libraries it needs) loads on first use of `optimize` / `estimate_calls`, so
`harness optimize --help` only reads the records and the event types."""

from __future__ import annotations

from typing import Any

from harness.optimizer import events
from harness.optimizer.events import CallsFailed
from harness.optimizer.records import (LIMITS, PROPOSERS, VERDICTS, Candidate, CandidateEval,
                                       Gain, IterationLog, OptimizeConfig, OptimizeResult,
                                       Outcome, Rejection, Score)

__all__ = ["LIMITS", "PROPOSERS", "VERDICTS", "CallsFailed", "Candidate", "CandidateEval", "Gain",
           "IterationLog", "OptimizeConfig", "OptimizeResult", "Outcome", "Rejection", "Score",
           "estimate_calls", "events", "optimize"]


def __getattr__(name: str) -> Any:
    if name == "optimize":
        from harness.optimizer import loop

        return loop.optimize
    if name == "estimate_calls":
        from harness.optimizer import preflight

        return preflight.estimate_calls
    raise AttributeError(f"module 'harness.optimizer' has no attribute {name!r}")
