"""The optimizer: propose candidate prompts from sampled errors, keep the best on validation,
write the winner as a new prompt version that extends its parent."""

from harness.optimizer.loop import estimate_calls, optimize
from harness.optimizer.records import (PROPOSERS, Candidate, CandidateEval, IterationLog,
                                       OptimizeConfig, OptimizeResult, Outcome, Score)

__all__ = ["PROPOSERS", "Candidate", "CandidateEval", "IterationLog", "OptimizeConfig",
           "OptimizeResult", "Outcome", "Score", "estimate_calls", "optimize"]
