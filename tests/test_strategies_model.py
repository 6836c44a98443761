"""Each few-shot strategy on the real embedded model with a small limit: valid distributions,
reproducible seeds, and a cache replay that makes no model call."""

from __future__ import annotations

import math

import pytest

import harness
from tests.conftest import copy_task

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
