"""Label log-probabilities -> a distribution over the labels: the one softmax of the harness.

Every backend that reads label log-probs (the local llama.cpp scorer, the OpenAI top-logprobs
reader) normalizes through `softmax` here, so a label distribution means the same thing
whichever backend produced it. Pure Python on purpose: a handful of labels, no numpy import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def softmax(logprobs: Mapping[str, float]) -> dict[str, float]:
    """{label: log-prob (unnormalized)} -> {label: probability}, summing to 1, same order.

    Shifted by the largest value first, so very negative log-probs (long labels on a small
    model) do not underflow to 0/0.

    >>> softmax({"Objective": -1.0, "Subjective": -1.0})
    {'Objective': 0.5, 'Subjective': 0.5}
    >>> round(softmax({"a": -1000.0, "b": -1001.0})["a"], 4)
    0.7311
    """
    if not logprobs:
        raise ValueError("softmax of no labels")
    top = max(logprobs.values())
    if not math.isfinite(top):
        raise ValueError(f"softmax needs at least one finite log-prob, got {dict(logprobs)}")
    weights = {label: math.exp(value - top) for label, value in logprobs.items()}
    total = math.fsum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def logsumexp(values: Iterable[float]) -> float:
    """log(sum(exp(v))), computed without overflow or underflow (disjoint events' log-probs
    added up)."""
    values = list(values)
    top = max(values)
    if not math.isfinite(top):
        return top
    return top + math.log(math.fsum(math.exp(v - top) for v in values))
