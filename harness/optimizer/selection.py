"""When a candidate replaces the incumbent: only for a real gain on validation.

Screening (a minibatch, both versions on the same examples) decides who gets a full validation
run: only a candidate strictly better than the incumbent there; a tie never does. On the full
validation split the candidate must then be better by at least `min_effect` and a paired test
of the two prediction lists must give p <= `alpha` (McNemar for accuracy, a paired bootstrap for
F1-type metrics; harness.stats.paired_delta). A candidate that meets the task's constraints
where the incumbent misses them wins on that alone: the floors are hard requirements.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.optimizer.records import Gain, OptimizeConfig, Score
from harness.records import Prediction
from harness.stats import paired_delta


def screen_verdict(score: Score, against: Score) -> str:
    if score.beats(against):
        return "better"
    return "worse" if against.beats(score) else "tie"


def gain(before: Sequence[Prediction], after: Sequence[Prediction], *, labels: Sequence[str],
         metric: str, seed: int) -> Gain:
    """The paired change of `metric` between two runs over the same examples, in order."""
    if [p.example_id for p in before] != [p.example_id for p in after]:
        raise ValueError("paired predictions must cover the same examples in the same order")
    d = paired_delta([p.expected for p in before], [str(p.predicted) for p in before],
                     [str(p.predicted) for p in after], labels=labels, metric=metric,
                     seed=seed)
    return Gain(metric, d.before, d.after, d.delta, d.low, d.high, d.pvalue, d.test, d.n)


def accept_verdict(score: Score, against: Score, change: Gain, config: OptimizeConfig) -> str:
    """accepted | not-better | small | not-significant (records.VERDICTS)."""
    if not score.beats(against):
        return "not-better"
    if score.feasible and not against.feasible:
        return "accepted"
    if change.delta < config.min_effect:
        return "small"
    if change.pvalue > config.alpha:
        return "not-significant"
    return "accepted"
