"""`harness ci` end to end on a PR-shaped repo with the real embedded model (small --limit)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.cli import main
from tests.git_helpers import commit, edit, git, make_repo

pytestmark = pytest.mark.model


def run_ci(project, monkeypatch, capsys, *extra):
    monkeypatch.chdir(project)
    code = main(["ci", "--split", "all", "--limit", "6", "--no-progress",
                 "--summary", "summary.md", "--junit", "junit.xml", *extra])
    return code, capsys.readouterr()


def test_ci_evaluates_exactly_the_affected_versions(tmp_path, monkeypatch, capsys):
    project = make_repo(tmp_path / "repo")
    base = git(project, "rev-parse", "HEAD")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # Nothing changed: nothing evaluated, no model call.
    code, out = run_ci(project, monkeypatch, capsys, "--base", "main")
    assert code == 0
    assert "subjectivity/v1" in out.out and "not affected (0 model calls)" in out.out
    assert "affected  PASS" not in out.out
    # v2 changes one block: only v2 runs, base and head on the same examples.
    edit(project / "prompts/subjectivity/v2.jinja", "Is this", "Decide: is this")
    commit(project, "reword v2")
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    code, out = run_ci(project, monkeypatch, capsys, "--base", base)
    assert code in (0, 1)  # the verdict depends on the model; the mechanics do not
    line = next(l for l in out.out.splitlines() if l.startswith("subjectivity/v2"))
    assert "affected" in line and " 12 calls" in line  # 6 base + 6 head
    assert "subjectivity/v1" in out.out and "not affected" in out.out
    summary = (project / "summary.md").read_text(encoding="utf-8")
    assert "subjectivity/v2" in summary and step.read_text(encoding="utf-8") == summary + "\n"
    suites = ET.parse(project / "junit.xml").getroot()
    names = [s.get("name") for s in suites.iter("testsuite")]
    assert "subjectivity/v2" in names
    # Re-running the same change replays the cache: 0 model calls.
    code_again, again = run_ci(project, monkeypatch, capsys, "--base", base)
    assert code_again == code
    assert " 0 calls" in next(l for l in again.out.splitlines() if l.startswith("subjectivity/v2"))
