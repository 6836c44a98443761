"""`harness ci` through the fake model, counting the calls the backend really received (the
real-model version of this, tests/test_ci_command.py, reads the counts `harness ci` prints)."""

from __future__ import annotations

from harness.cli import main
from tests.fake_backend import FakeBackend, keyword_rule
from tests.git_helpers import commit, edit, make_repo


def test_unchanged_head_makes_no_model_call_and_a_change_asks_base_and_head(
        tmp_path, monkeypatch, capsys, fake_model):
    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    model = fake_model(backend)
    project = make_repo(tmp_path / "repo")
    monkeypatch.chdir(project)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    args = ["ci", "--model", model, "--split", "all", "--limit", "6", "--no-progress"]

    assert main([*args, "--base", "main"]) == 0
    assert backend.calls_made == 0 and backend.batches == 0
    out = capsys.readouterr().out
    assert out.count("not affected (0 model calls)") == 2  # v1 and v2

    edit(project / "prompts/subjectivity/v2.jinja", "Is this", "Decide: is this")
    commit(project, "reword v2")
    assert main([*args, "--base", "main~1"]) in (0, 1)
    assert backend.calls_made == 12  # v2 at the base commit and at the head, 6 examples each
    assert {c.example_id for c in backend.calls[:6]} == {c.example_id for c in backend.calls[6:]}
