"""The embedded SmolLM2-135M run for real: scoring, KV reuse, generate, constrained, the runner."""

from __future__ import annotations

import math

import pytest

from harness.cache import Cache
from harness.datasets import load_fixture
from harness.models.local import LocalBackend, default_model_path
from harness.records import INVALID, DecodingParams, LabelRequest, Message, RenderedPrompt, RunSpec
from harness.runner import run
from harness.tasks import load_task

pytestmark = pytest.mark.model

LABELS = ("Objective", "Subjective")
SYSTEM = ("Is this product review sentence a fact or an opinion? Facts (Objective) can be "
          "checked. Opinions (Subjective) are feelings and judgments. Answer Objective or Subjective.")


def request(text: str, mode: str = "score", labels: tuple[str, ...] = LABELS) -> LabelRequest:
    messages = (Message("system", SYSTEM), Message("user", text))
    return LabelRequest(RenderedPrompt("x", messages, text), labels, mode, DecodingParams())


def test_score_gives_a_normalized_distribution_that_depends_on_the_input(local_backend):
    texts = ["The box contained two cables and a 30-page manual.",
             "Honestly the most beautiful lamp I have ever owned, I adore it!",
             "Arrived Tuesday."]
    distributions = [local_backend.complete_one(request(t)).distribution for t in texts]
    for d in distributions:
        assert set(d) == set(LABELS)
        assert math.isclose(sum(d.values()), 1.0, rel_tol=1e-9)
    objective = [d["Objective"] for d in distributions]
    # Different inputs must give different distributions (a wrong logits row gives equal ones).
    assert len({round(p, 6) for p in objective}) == len(texts)


def test_multi_token_labels_are_scored_over_their_full_sequence(local_backend):
    tokens = local_backend.label_tokens(LABELS)
    assert len(tokens["Subjective"]) >= 2  # SmolLM2 splits it; the whole sequence must count
    assert len(tokens["Objective"]) == 1


def test_prefix_reuse_gives_the_same_scores_as_a_fresh_model(local_backend):
    target = request("The left earbud stopped charging after nine days.")
    for warmup in ["A totally different sentence about shoes.", "Meh."]:
        local_backend.complete_one(request(warmup))  # leaves another prompt in the KV cache
    reused = local_backend.complete_one(target).distribution
    fresh_backend = LocalBackend(default_model_path())
    try:
        fresh = fresh_backend.complete_one(target).distribution
    finally:
        fresh_backend.close()
    for label in LABELS:
        assert reused[label] == pytest.approx(fresh[label], abs=1e-4)
    # and the shared instruction prefix was not recomputed for the target
    before = local_backend.evaluated_tokens
    local_backend.complete_one(request("The right earbud stopped charging after ten days."))
    prompt_len = len(local_backend.prompt_tokens(
        request("The right earbud stopped charging after ten days.").prompt.messages))
    assert local_backend.evaluated_tokens - before < prompt_len / 2


def test_dataset_text_cannot_inject_special_tokens(local_backend):
    eot = local_backend.llm.token_eos()
    plain = local_backend.prompt_tokens([Message("user", "hello")])
    injected = local_backend.prompt_tokens([Message("user", "hello<|im_end|>")])
    assert injected.count(eot) == plain.count(eot)


def test_generate_returns_free_text(local_backend):
    output = local_backend.complete_one(request("It is 2 cm narrower than the old model.",
                                                mode="generate"))
    assert output.error is None and output.raw.strip()
    assert output.distribution is None and output.usage.completion_tokens > 0


def test_constrained_always_returns_one_of_the_labels(local_backend):
    for text in ["Buy it.", "The zipper broke on day three."]:
        output = local_backend.complete_one(request(text, mode="constrained"))
        assert output.raw in LABELS


def test_a_prompt_longer_than_the_context_is_an_error_not_a_crash():
    backend = LocalBackend(default_model_path(), n_ctx=64)
    try:
        output = backend.complete_one(request("word " * 200))
    finally:
        backend.close()
    assert output.error and "context" in output.error


def test_every_llama_context_uses_the_configured_threads_for_prompt_decodes_too(monkeypatch):
    """llama-cpp-python defaults n_threads_batch to the machine's CPU count: HARNESS_THREADS=1
    (and each `pytest -n N` worker's share) must bind the prompt decodes as well, or N workers
    spin N x cores threads (measured: -n 2 on 2 cores, 6x slower than serial)."""
    monkeypatch.setenv("HARNESS_THREADS", "1")
    backend = LocalBackend(default_model_path())
    try:
        backend.complete_one(request("The lid is blue."))
        params = backend.llm.context_params
        # The score streams' and reasoning samplers' contexts copy these params
        # (llama_streams.py).
        assert (params.n_threads, params.n_threads_batch) == (1, 1)
    finally:
        backend.close()


@pytest.mark.parametrize("mode", ["score", "generate", "constrained"])
def test_runner_with_cache_makes_zero_calls_on_rerun(demo_project, local_backend, mode):
    cache = Cache(demo_project / ".harness-cache", "record")
    spec = RunSpec(task="subjectivity", version="v2", mode=mode, split="all", limit=6)
    first = run(spec, root=demo_project, backend=local_backend, cache=cache, progress=False)
    assert first.model_calls == 6 and first.cache_hits == 0
    second = run(spec, root=demo_project, backend=local_backend, cache=cache, progress=False)
    assert second.model_calls == 0 and second.cache_hits == 6
    assert [p.predicted for p in second.predictions] == [p.predicted for p in first.predictions]
    labels = set(load_task(demo_project, "subjectivity").label_names)
    for p in first.predictions:
        assert p.predicted in labels | {INVALID}
        assert (p.confidence is not None) == (mode == "score")
    off = run(spec, root=demo_project, backend=local_backend, cache=Cache(cache.directory, "off"),
              progress=False)
    assert off.model_calls == 6


def test_runner_renders_every_prompt_before_the_first_call(demo_project, local_backend):
    # A broken example late in the split must fail before any model call is made.
    task = load_task(demo_project, "subjectivity")
    (task.prompt_dir / "v3.jinja").write_text(
        '{% extends "v2.jinja" %}{% block user %}{{ text[500] }}{% endblock %}', encoding="utf-8")
    before = local_backend.evaluated_tokens
    with pytest.raises(Exception) as info:
        run(RunSpec(task="subjectivity", version="v3", split="all"), root=demo_project,
            backend=local_backend, cache=Cache(demo_project / "c", "off"), progress=False)
    assert "v3.jinja" in str(info.value)
    assert local_backend.evaluated_tokens == before
    assert load_fixture(task).examples  # the fixture itself is fine


def _reference_logprob(llm, prompt: list[int], label: list[int]) -> float:
    """log P(label | prompt) the slow way: a full evaluation from an empty cache per token."""
    import llama_cpp
    import numpy as np

    total = 0.0
    for k, token in enumerate(label):
        llm.n_tokens = 0
        llm.eval(prompt + label[:k])
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1),
                                       shape=(llm.n_vocab(),)).astype(np.float64)
        shifted = logits - logits.max()
        total += float(shifted[token] - np.log(np.exp(shifted).sum()))
    return total


def test_several_multi_token_labels_match_a_full_evaluation(local_backend):
    # Two multi-token labels: the first rides along in the prompt's decode, the second is
    # decoded separately; both must equal the slow reference.
    labels = ("Subjective", "Subject matter", "Objective")
    target = request("The handle is metal and the lid is glass.", labels=labels)
    local_backend.complete_one(request("Warm-up with another prompt.", labels=labels))
    got = local_backend.complete_one(target).distribution
    sequences = local_backend.label_tokens(labels)
    assert sum(len(s) > 1 for s in sequences.values()) >= 2
    fresh = LocalBackend(default_model_path())
    try:
        prompt = fresh.prompt_tokens(target.prompt.messages)
        totals = {label: _reference_logprob(fresh.llm, prompt, sequences[label])
                  for label in labels}
    finally:
        fresh.close()
    top = max(totals.values())
    norm = sum(math.exp(v - top) for v in totals.values())
    for label in labels:
        assert got[label] == pytest.approx(math.exp(totals[label] - top) / norm, abs=1e-4)


def _shuffled(items: list, seed: int) -> list:
    import random

    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def test_batched_scores_do_not_depend_on_the_other_prompts_in_the_batch(monkeypatch):
    # Score mode decodes several prompts per llama_decode. A gate cannot let an example's score
    # depend on its neighbours, the order, or which examples were cached: every grouping must
    # give the SAME floats as scoring each prompt alone. Two multi-token labels cover the
    # ride-along and the extra label decode; a small stream size sends the longest prompts to
    # the one-stream context.
    import harness.models.local as local

    monkeypatch.setattr(local, "STREAM_TOKENS", 72)
    labels = ("Subjective", "Subject matter", "Objective")
    texts = ["Arrived Tuesday.", "Meh.", "The handle is metal and the lid is glass.",
             "Honestly the most beautiful lamp I have ever owned, I adore it!",
             "Battery lasted 9 hours in my test, which is exactly what the box says, so fine.",
             "Two of the four screws were missing and the manual is in German only, which "
             "for a product sold in France is frankly a joke; support never answered.",
             "It's a kettle.", "Too loud for an office, perfect for a garage.",
             "Shipping took 3 weeks instead of the promised 5 days.", "Love it!!!"]
    requests = [request(t, labels=labels) for t in texts]

    def scores(backend: LocalBackend, order: list[int]) -> dict[int, dict[str, float]]:
        return {order[j]: out.distribution
                for j, out in backend.complete([requests[i] for i in order])}

    alone = LocalBackend(default_model_path(), streams=1)
    batched = LocalBackend(default_model_path(), streams=4)
    try:
        reference = {i: alone.complete_one(requests[i]).distribution for i in range(len(texts))}
        short, long = batched.scorer(False), batched.scorer(True)
        assert (short.streams, long.streams) == (4, 1)
        for seed in (1, 2):
            order = _shuffled(range(len(texts)), seed)
            before = short.decodes
            assert scores(batched, order) == {i: reference[i] for i in order}
            # The prompts that fit a stream really shared decodes: alone, each would take two
            # (prompt + ride-along, then "Subject matter").
            fitting = sum(len(batched.prompt_tokens(r.prompt.messages)) + 2 <= 72
                          for r in requests)
            assert 2 <= fitting < len(texts)
            assert short.decodes - before < 2 * fitting
        subset = [2, 7, 0]  # other neighbours, streams already holding other prompts
        assert scores(batched, subset) == {i: reference[i] for i in subset}
        assert long.evaluated_tokens > 0 and short.padding_tokens > 0
    finally:
        alone.close()
        batched.close()
