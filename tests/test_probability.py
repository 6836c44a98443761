"""harness.probability: the one softmax every backend's label distribution goes through."""

from __future__ import annotations

import doctest
import math

import pytest

import harness.probability
from harness.models.label_logprobs import TokenLogprob, label_distribution
from harness.models.local import LocalBackend
from harness.probability import logsumexp, softmax

LOGPROBS = {"Objective": -0.25, "Subjective": -1.9, "Mixed": -7.5}


def test_softmax_sums_to_one_keeps_order_and_ranks():
    probs = softmax(LOGPROBS)
    assert list(probs) == list(LOGPROBS)
    assert math.fsum(probs.values()) == pytest.approx(1.0, abs=1e-15)
    assert probs["Objective"] > probs["Subjective"] > probs["Mixed"] > 0
    assert probs["Objective"] / probs["Subjective"] == pytest.approx(math.exp(-0.25 + 1.9))


def test_softmax_ignores_a_shared_offset_and_never_underflows():
    shifted = softmax({label: value - 5000.0 for label, value in LOGPROBS.items()})
    assert shifted == pytest.approx(softmax(LOGPROBS), rel=1e-12)
    assert all(p > 0 for p in shifted.values())


def test_softmax_refuses_nothing_to_normalize():
    with pytest.raises(ValueError, match="no labels"):
        softmax({})
    with pytest.raises(ValueError, match="finite"):
        softmax({"a": -math.inf, "b": -math.inf})


def test_logsumexp_adds_probabilities_of_disjoint_events():
    assert logsumexp([math.log(0.2), math.log(0.3)]) == pytest.approx(math.log(0.5))
    assert logsumexp([-1000.0, -1000.0]) == pytest.approx(-1000.0 + math.log(2))


def test_the_local_and_openai_backends_normalize_the_same_way():
    # The local scorer sums each label's token log-probs, then normalizes; the OpenAI reader
    # finds each label's log-prob among the top logprobs, then normalizes: the same numbers
    # must give the same distribution, float for float.
    expected = softmax(LOGPROBS)
    local = LocalBackend._distribution(None, LOGPROBS, prompt_tokens=7)  # uses no state
    assert local.distribution == expected and local.raw == "Objective"
    tokens = [TokenLogprob("Objective", LOGPROBS["Objective"],
                           tuple((label, value) for label, value in LOGPROBS.items()))]
    remote, why = label_distribution(tokens, tuple(LOGPROBS))
    assert why is None and remote == expected


def test_doctests():
    assert doctest.testmod(harness.probability).failed == 0
