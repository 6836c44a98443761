"""Chain of thought and self-consistency below the strategy framework: the vote, the seeds, the
records, the cache, stored runs and the report (fake model); the real model in
test_reasoning_model.py."""

from __future__ import annotations

import json
import math

import pytest

from harness.cache import Cache
from harness.datasets import load_fixture
from harness.prompts import Renderer, load_version
from harness.reasoning import reasoned_output, sample_seed, vote
from harness.records import (INVALID, DecodingParams, LabelRequest, ModelOutput, ReasonedAnswer,
                             Reasoning, RunSpec, Usage)
from harness.runner import run
from harness.stored import read_run
from harness.tasks import load_task
from tests.fake_backend import FakeBackend, keyword_rule, peaked
from tests.helpers import make_project
from tests.report_helpers import write_synthetic_report

LABELS = ("Objective", "Subjective")


def test_vote_counts_shares_and_reports_a_tie_broken_by_probability_then_label_order():
    a = ReasonedAnswer("r0", "Subjective", {"Objective": 0.4, "Subjective": 0.6})
    b = ReasonedAnswer("r1", "Objective", {"Objective": 0.9, "Subjective": 0.1})
    c = ReasonedAnswer("r2", "Subjective", {"Objective": 0.2, "Subjective": 0.8})
    three = vote([a, b, c], LABELS)
    assert three.counts == {"Objective": 1, "Subjective": 2} and three.tied == ()
    assert three.winner == "Subjective" and three.distribution["Subjective"] == pytest.approx(2 / 3)
    tie = vote([a, b], LABELS)
    assert tie.tied == LABELS and tie.distribution == {"Objective": 0.5, "Subjective": 0.5}
    assert tie.winner == "Objective"  # 0.4 + 0.9 > 0.6 + 0.1
    flipped = vote([ReasonedAnswer("", "Objective", {"Objective": 0.51, "Subjective": 0.49}),
                    ReasonedAnswer("", "Subjective", {"Objective": 0.1, "Subjective": 0.9})],
                   LABELS)
    assert flipped.winner == "Subjective" and flipped.tied == LABELS
    # Without probabilities (generate mode), the task's label order decides.
    plain = vote([ReasonedAnswer("", "Subjective"), ReasonedAnswer("", "Objective")], LABELS)
    assert plain.winner == "Objective" and plain.tied == LABELS


def test_invalid_answers_cast_no_vote_and_no_valid_vote_is_invalid():
    mixed = vote([ReasonedAnswer("", INVALID), ReasonedAnswer("", "Subjective")], LABELS)
    assert mixed.distribution == {"Objective": 0.0, "Subjective": 1.0} and mixed.tied == ()
    none = vote([ReasonedAnswer("", INVALID)] * 3, LABELS)
    assert none.winner == INVALID and none.distribution is None
    output = reasoned_output([ReasonedAnswer("", INVALID)] * 3, LABELS, "generate", Usage())
    assert output.distribution is None and output.raw == ""


def test_sample_seeds_are_stable_distinct_and_31_bit():
    seeds = {(s, i): sample_seed(s, i) for s in range(4) for i in range(8)}
    assert len(set(seeds.values())) == len(seeds)
    assert sample_seed(0, 1) != sample_seed(1, 0) and sample_seed(3, 2) == seeds[(3, 2)]
    assert all(0 <= v < 2 ** 31 for v in seeds.values())


def test_one_sample_keeps_the_modes_own_shape():
    scored = ReasonedAnswer("because", "Subjective", {"Objective": 0.3, "Subjective": 0.7})
    out = reasoned_output([scored], LABELS, "score", Usage())
    assert out.distribution == scored.distribution and out.raw == "Subjective"
    generated = reasoned_output([ReasonedAnswer("because", "Objective")], LABELS, "generate",
                                Usage(), answer_text=" Objective.")
    assert generated.distribution is None and generated.raw == " Objective."


def _requests(root, reasoning, mode="score"):
    task = load_task(root, "demo")
    version = load_version(task, "v1")
    examples = load_fixture(task).select("all")
    renderer = Renderer(task, version)
    requests = [LabelRequest(renderer.render(e), task.label_names, mode, DecodingParams(),
                             reasoning=reasoning) for e in examples]
    return examples, requests


def _split_rule(call):
    """Sample-dependent answers: even samples follow the keywords, odd ones say Objective,
    so three samples vote 2:1 and two samples tie on the keyword examples."""
    keyword = keyword_rule({"love": "Subjective", "best": "Subjective"}, default="Objective")
    return keyword(call) if call.sample % 2 == 0 else peaked(call.labels, "Objective", 0.6)


@pytest.mark.parametrize("samples", [1, 2, 3])
def test_reasoning_requests_run_vote_cache_and_replay_through_the_runner(tmp_path, samples):
    root = make_project(tmp_path)
    backend = FakeBackend(_split_rule, reason=lambda c: f"thinking #{c.sample} about {c.text}")
    cache = Cache(tmp_path / "cache")
    reasoning = Reasoning(samples=samples, temperature=0.0 if samples == 1 else 0.7, seed=3)
    examples, requests = _requests(root, reasoning)
    result = run(RunSpec("demo", "v1", model="fake", split="all"), root=root, backend=backend,
                 cache=cache, progress=False, examples=examples, requests=requests)
    assert backend.calls_made == len(examples)  # one request per example, its samples inside
    for example, p in zip(examples, result.predictions):
        assert math.isclose(sum(p.distribution.values()), 1.0) and set(p.distribution) == set(LABELS)
        assert len(p.samples) == samples
        assert p.samples[0].reasoning == f"thinking #0 about {example.inputs['text']}"
        answers = [s.answer for s in p.samples]
        if samples > 1:  # the shares are the vote
            assert p.distribution == {l: answers.count(l) / samples for l in LABELS}
            assert p.confidence == max(p.distribution.values())
    loved = next(p for e, p in zip(examples, result.predictions) if "love" in e.inputs["text"])
    if samples == 2:
        assert loved.tied == LABELS and loved.predicted == "Subjective"  # 0.8 + 0.4 > 0.2 + 0.6
    else:
        assert loved.tied == () and loved.predicted == "Subjective"
    replay = run(RunSpec("demo", "v1", model="fake", split="all"), root=root, backend=backend,
                 cache=Cache(tmp_path / "cache", mode="replay"), progress=False,
                 examples=examples, requests=requests)
    assert backend.calls_made == len(examples) and replay.model_calls == 0
    assert [p.samples for p in replay.predictions] == [p.samples for p in result.predictions]
    assert [p.tied for p in replay.predictions] == [p.tied for p in result.predictions]
    assert [p.predicted for p in replay.predictions] == [p.predicted for p in result.predictions]


def test_reasoning_is_part_of_the_cache_key_and_plain_keys_are_unchanged():
    from harness.records import Message, RenderedPrompt
    prompt = RenderedPrompt("x", (Message("user", "hi"),), "h")
    plain = LabelRequest(prompt, LABELS, "score")
    keys = {Cache.key({"m": "1"}, plain)}
    for reasoning in (Reasoning(), Reasoning(samples=5, temperature=0.7),
                      Reasoning(samples=5, temperature=0.7, seed=1)):
        keys.add(Cache.key({"m": "1"}, LabelRequest(prompt, LABELS, "score",
                                                    reasoning=reasoning)))
    assert len(keys) == 4


def test_a_corrupt_samples_entry_is_a_miss_not_a_crash(tmp_path):
    cache = Cache(tmp_path)
    output = ModelOutput(raw="Objective", distribution={"Objective": 1.0, "Subjective": 0.0},
                         samples=(ReasonedAnswer("r", "Objective"),))
    cache.put("ab" * 32, output)
    assert cache.get("ab" * 32) == output
    path = next(tmp_path.glob("??/*.json"))
    entry = json.loads(path.read_text())
    entry["samples"] = [["not", "an", "object"]]
    path.write_text(json.dumps(entry))
    assert cache.get("ab" * 32) is None and cache.corrupt == 1


def test_stored_runs_and_the_report_keep_reasoning_votes_and_ties_escaped(tmp_path):
    from dataclasses import replace

    from tests.report_helpers import synthetic_result

    hostile = "Step 1: </script><script>alert(1)</script> and {{ 7 * 7 }} {% raw %}"
    result = synthetic_result(tmp_path, 6)
    voted = []
    for i, p in enumerate(result.predictions):
        samples = (ReasonedAnswer(hostile, "Objective"), ReasonedAnswer(f"plain {i}", "Subjective"))
        voted.append(replace(p, samples=samples, tied=LABELS if i % 2 else ()))
    result = replace(result, predictions=tuple(voted))
    directory = write_synthetic_report(tmp_path / "reports", result)
    stored = read_run(directory)
    assert [o.samples for o in stored.outcomes] == [p.samples for p in result.predictions]
    assert [o.tied for o in stored.outcomes] == [p.tied for p in result.predictions]
    html = (directory / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "</script><script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; and {{ 7 * 7 }} {% raw %}" in html
    assert "49" not in html.split("alert(1)")[1][:40]  # never rendered as a template
    assert "tie: Objective, Subjective" in html and "votes: Objective 1 · Subjective 1" in html
    with (directory / "results.csv").open(encoding="utf-8") as handle:
        header = handle.readline()
    assert header.rstrip().endswith(",reasoning")


def test_openai_reasoning_sends_a_seeded_reasoning_call_then_an_answer_call_per_sample():
    import asyncio
    from types import SimpleNamespace as NS

    from harness.models.base import BackendOptions
    from harness.models.openai import OpenAIBackend, _RunState
    from harness.reasoning import ANSWER_REQUEST, REASONING_REQUEST
    from harness.records import Message, RenderedPrompt

    sent = []

    async def create(**kwargs):
        sent.append(kwargs)
        last = kwargs["messages"][-1]["content"]
        content = "Objective" if last == ANSWER_REQUEST else f"thought {len(sent)}"
        return NS(choices=[NS(message=NS(content=content), logprobs=None)],
                  usage=NS(prompt_tokens=10, completion_tokens=3))

    client = NS(chat=NS(completions=NS(create=create)))
    backend = OpenAIBackend("m", BackendOptions(base_url="http://127.0.0.1:9/v1"), environ={})
    prompt = RenderedPrompt("x", (Message("system", "s"), Message("user", "u")), "h")
    request = LabelRequest(prompt, LABELS, "generate", DecodingParams(),
                           reasoning=Reasoning(samples=3, max_tokens=40, temperature=0.5, seed=2))
    output = asyncio.run(backend._reasoned(client, request, _RunState()))
    thinking, answering = sent[0::2], sent[1::2]
    assert [k["seed"] for k in thinking] == [sample_seed(2, i) for i in range(3)]
    assert all(k["max_tokens"] == 40 and k["temperature"] == 0.5 for k in thinking)
    assert thinking[0]["messages"][-1] == {"role": "user", "content": REASONING_REQUEST}
    assert answering[0]["messages"][-2] == {"role": "assistant", "content": "thought 1"}
    assert [s.answer for s in output.samples] == ["Objective"] * 3
    assert output.distribution == {"Objective": 1.0, "Subjective": 0.0}
    assert output.usage == Usage(60, 18)
