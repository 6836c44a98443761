"""cot and self-consistency on the real embedded SmolLM2 (short reasonings, two inputs)."""

from __future__ import annotations

import math

import pytest

from harness.records import (DecodingParams, LabelRequest, Message, Reasoning, RenderedPrompt)

pytestmark = pytest.mark.model

LABELS = ("Objective", "Subjective")
SYSTEM = ("Is this product review sentence a fact or an opinion? Facts (Objective) can be "
          "checked. Opinions (Subjective) are feelings and judgments. Answer Objective or Subjective.")
TEXTS = ("The box contained two cables and a 30-page manual.",
         "Honestly the most beautiful lamp I have ever owned, I adore it!")


def request(text: str, reasoning: Reasoning, mode: str = "score") -> LabelRequest:
    messages = (Message("system", SYSTEM), Message("user", text))
    return LabelRequest(RenderedPrompt("x", messages, text), LABELS, mode, DecodingParams(),
                        reasoning=reasoning)


def test_cot_scores_the_labels_after_a_reasoning(local_backend):
    outputs = [local_backend.complete_one(request(t, Reasoning(max_tokens=16))) for t in TEXTS]
    for output in outputs:
        assert output.error is None and len(output.samples) == 1
        assert output.samples[0].reasoning.strip()
        assert set(output.distribution) == set(LABELS)
        assert math.isclose(sum(output.distribution.values()), 1.0, rel_tol=1e-9)
        assert 0 < output.usage.completion_tokens <= 16
    # Different inputs, different distributions (a wrong logits row gives equal ones).
    assert outputs[0].distribution != outputs[1].distribution
    again = local_backend.complete_one(request(TEXTS[0], Reasoning(max_tokens=16)))
    assert again.samples == outputs[0].samples and again.distribution == outputs[0].distribution


def test_cot_generate_mode_parses_the_answer_after_the_reasoning(local_backend):
    output = local_backend.complete_one(request(TEXTS[1], Reasoning(max_tokens=12), "generate"))
    assert output.error is None and output.distribution is None
    assert output.samples[0].answer in (*LABELS, "INVALID")


def test_self_consistency_decodes_the_prompt_once_votes_and_reproduces(local_backend):
    reasoning = Reasoning(samples=3, max_tokens=12, temperature=0.9, seed=7)
    sampler = local_backend.reasoning_sampler(3)
    before = sampler.prompt_rows
    first = local_backend.complete_one(request(TEXTS[1], reasoning))
    prompt_len = first.usage.prompt_tokens
    assert sampler.prompt_rows - before <= prompt_len  # once, not three times
    assert len(first.samples) == 3 and first.error is None
    answers = [s.answer for s in first.samples]
    assert first.distribution == {label: answers.count(label) / 3 for label in LABELS}
    assert len({s.reasoning for s in first.samples}) > 1  # sampled, not three greedy copies
    again = local_backend.complete_one(request(TEXTS[1], reasoning))
    assert again.samples == first.samples and again.distribution == first.distribution
    other_seed = local_backend.complete_one(request(TEXTS[1], Reasoning(
        samples=3, max_tokens=12, temperature=0.9, seed=8)))
    assert [s.reasoning for s in other_seed.samples] != [s.reasoning for s in first.samples]
