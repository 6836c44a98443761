"""The fake model (tests/fake_backend.py) and the Session API driven through it (no model)."""

from __future__ import annotations

import harness
from tests.fake_backend import FakeBackend, keyword_rule
from tests.helpers import make_project


def session_for(root, model, **overrides):
    return harness.Session(harness.load_settings(root, overrides={
        "model": model, "split": "all", "progress": False, **overrides}))


def test_session_evaluates_through_the_fake_and_the_cache_spares_the_second_run(tmp_path,
                                                                                 fake_model):
    backend = FakeBackend(keyword_rule({"love": "Subjective", "best": "Subjective"},
                                       default="Objective"))
    root = make_project(tmp_path)
    session = session_for(root, fake_model(backend))
    evaluation = session.evaluate("demo", "v1")
    session.close()
    by_id = {p.example_id: p for p in evaluation.result.predictions}
    assert by_id["s1"].predicted == "Subjective" and by_id["o1"].predicted == "Objective"
    assert by_id["s3"].predicted == "Objective"  # "The colour is ugly." has no keyword
    assert backend.calls_made == 12 and backend.closed == 1
    again = session_for(root, "fake:default").evaluate("demo", "v1", write=False)
    assert backend.calls_made == 12 and again.result.cache_hits == 12


def test_per_call_failures_are_recorded_as_errors_not_wrong_answers(tmp_path, fake_model):
    backend = FakeBackend(keyword_rule({}, default="Objective"),
                          fail=lambda call: "HTTP 503" if "kg" in call.text else None)
    root = make_project(tmp_path)
    evaluation = session_for(root, fake_model(backend)).evaluate("demo", "v1", write=False)
    errors = evaluation.result.errors
    assert [p.example_id for p in errors] == ["o1"] and errors[0].error == "HTTP 503"
    assert evaluation.metrics.n_errors == 1
