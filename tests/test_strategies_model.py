"""Each few-shot strategy on the real embedded model with a small limit: valid distributions,
reproducible seeds, and a cache replay that makes no model call."""

from __future__ import annotations

import math

import pytest

import harness
from tests.conftest import copy_task
from tests.test_strategies import declare

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return copy_task(tmp_path_factory.mktemp("strategies") / "project", rows=24)


def session(root, **overrides):
    s = harness.Session(harness.load_settings(root, overrides={"progress": False, "limit": 4,
                                                               **overrides}))
    return s


@pytest.mark.parametrize("strategy", ["few-shot:random:2", "few-shot:errors:2", "few-shot:knn:2"])
def test_few_shot_strategy_on_the_real_model(root, strategy, local_backend, monkeypatch):
    first = session(root)
    first._backends["local"] = local_backend  # one llama.cpp instance for the module
    evaluation = first.evaluate("subjectivity", "v2", strategy=strategy)
    result = evaluation.result
    assert result.spec.strategy == strategy and len(result.predictions) == 4
    assert result.prompt.demonstrations is not None
    for p in result.predictions:
        assert p.error is None and set(p.distribution) == {"Objective", "Subjective"}
        assert math.isclose(sum(p.distribution.values()), 1.0, abs_tol=1e-6)
        assert all(0.0 <= v <= 1.0 for v in p.distribution.values())
        assert p.confidence == max(p.distribution.values())
    # Demonstrations are shown after the instruction, in every prompt.
    assert "Examples:" in result.rendered_example.messages[0].content

    # Seeds: a second session picks the same demonstrations, renders the same prompts and
    # replays every answer from the cache (0 model calls).
    replay = session(root, cache="replay")
    replay._backends["local"] = local_backend
    again = replay.evaluate("subjectivity", "v2", strategy=strategy).result
    assert again.model_calls == 0 and again.cache_hits == 4
    assert [p.prompt_hash for p in again.predictions] == [p.prompt_hash for p in
                                                          result.predictions]
    assert [p.distribution for p in again.predictions] == [p.distribution for p in
                                                           result.predictions]
    assert again.prompt.content_hash == result.prompt.content_hash


def test_cot_and_a_declared_self_consistency_on_the_real_model(tmp_path, local_backend):
    """The reasoning strategies through the strategy framework (what `harness eval --strategy`
    and the gate run), on the real model: cot as an override keeps a label distribution after
    one reasoning; a version declaring self-consistency:3 runs it as declared, votes three
    reasonings (the shares are the distribution), and replays from the cache."""
    root = copy_task(tmp_path / "project", rows=24)
    first = session(root, limit=3)
    first._backends["local"] = local_backend
    cot = first.evaluate("subjectivity", "v2", strategy="cot").result
    assert (cot.spec.strategy, cot.spec.strategy_source) == ("cot", "override")
    for p in cot.predictions:
        assert p.error is None and len(p.samples) == 1 and p.samples[0].reasoning.strip()
        assert math.isclose(sum(p.distribution.values()), 1.0, abs_tol=1e-6)
        assert p.predicted == max(p.distribution, key=p.distribution.get)

    declare(root, "v2", "self-consistency:3")
    declared = session(root, limit=3)
    declared._backends["local"] = local_backend
    sc = declared.evaluate("subjectivity", "v2").result
    assert (sc.spec.strategy, sc.spec.strategy_source) == ("self-consistency:3", "declared")
    for p in sc.predictions:
        assert p.error is None and len(p.samples) == 3
        assert all(s.reasoning.strip() for s in p.samples)
        votes = [s.answer for s in p.samples]
        assert p.distribution == {label: votes.count(label) / 3
                                  for label in ("Objective", "Subjective")}
        assert p.confidence == max(p.distribution.values())

    replay = session(root, limit=3, cache="replay")
    replay._backends["local"] = local_backend
    again = replay.evaluate("subjectivity", "v2").result
    assert again.model_calls == 0 and again.cache_hits == 3
    assert [p.samples for p in again.predictions] == [p.samples for p in sc.predictions]
