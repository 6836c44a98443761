"""The optimizer: propose candidate prompts from sampled errors, keep the best on validation,
write the winner as a new prompt version that extends its parent.

The loop (and the libraries it needs) loads on first use of `optimize` / `estimate_calls`, so
`harness optimize --help` only reads the records."""

from __future__ import annotations

from typing import Any

from harness.optimizer.records import (PROPOSERS, Candidate, CandidateEval, IterationLog,
                                       OptimizeConfig, OptimizeResult, Outcome, Score)

__all__ = ["PROPOSERS", "Candidate", "CandidateEval", "IterationLog", "OptimizeConfig",
           "OptimizeResult", "Outcome", "Score", "estimate_calls", "optimize"]


def __getattr__(name: str) -> Any:
    if name in ("optimize", "estimate_calls"):
        from harness.optimizer import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'harness.optimizer' has no attribute {name!r}")
