"""`pytest evals/ --changed-since REF`: the plugin selects exactly the prompt versions `harness ci
--base REF` evaluates, in a real git repo, on the fake model (seconds, no weights)."""

from __future__ import annotations

import json
import re

import pytest

import harness
from tests.fake_backend import FakeBackend, table_rule
from tests.git_helpers import commit, edit, make_repo

EVAL = """
import pytest

pytestmark = pytest.mark.harness_task("subjectivity")


def test_meets_thresholds(harness_gate, prompt_version):
    harness_gate.check_thresholds(prompt_version)


def test_critical_case(harness_gate, critical_case):
    harness_gate.check_critical(critical_case)


def test_not_about_a_version():
    pass
"""


@pytest.fixture
def repo(pytester: pytest.Pytester, fake_model):
    """A repo on `main`: the subjectivity task (24 rows, one marked critical), an eval module,
    committed. The fake model answers every row right, so every selected test passes."""
    project = make_repo(pytester.path)
    data = project / "datasets" / "subjectivity.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    rows[0]["critical"] = True
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pytester.makepyfile(test_gate=EVAL)
    (project / ".gitignore").write_text(".harness-cache/\nreports/\n__pycache__/\n")
    commit(project, "evals")
    model = fake_model(FakeBackend(table_rule({r["text"]: r["label"] for r in rows})))
    return project, model


def run(pytester: pytest.Pytester, model: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--model", model, "--split", "all", "-v", "-p", "no:cacheprovider",
                              *args)


def ran_versions(result: pytest.RunResult) -> set[str]:
    """Versions whose tests ran, from -v lines such as `test_gate.py::test_meets_thresholds[
    subjectivity/v2] PASSED` and `...::test_critical_case[subjectivity/v2/subj-0001] PASSED`."""
    ids = [m.group(1) for line in result.outlines
           if (m := re.search(r"::test_\w+\[([^\]]+)\] (PASSED|FAILED|SKIPPED|XFAIL)", line))]
    return {"/".join(test_id.split("/")[:2]) for test_id in ids}


def test_only_the_changed_version_runs_and_the_header_says_why(repo, pytester):
    project, model = repo
    edit(project / "prompts/subjectivity/v2.jinja", "Is this", "Decide: is this")
    commit(project, "reword v2")
    result = run(pytester, model, "--changed-since", "main~1")
    result.assert_outcomes(passed=3)  # v2's thresholds + its critical case + the plain test
    assert ran_versions(result) == {"subjectivity/v2"}
    assert "2 deselected" in result.stdout.str()  # v1's two tests
    result.stdout.fnmatch_lines([
        "harness: changed since main~1 (*): evaluating subjectivity/v2; 1 not affected "
        "(deselected), 0 deleted (listed at the end)",
        "*",
        "*= harness: changed since main~1 (*) =*",
        "1 prompt version selected, as `harness ci --base main~1` would evaluate:",
        "  subjectivity/v2: affected (v2.jinja changed)",
        "  subjectivity/v1: not affected, deselected (nothing it uses changed)"])


def test_a_change_to_the_parent_selects_every_version_that_extends_it(repo, pytester):
    project, model = repo
    edit(project / "prompts/subjectivity/v1.jinja", "Answer with one word.", "One word.")
    result = run(pytester, model, "--harness-changed-since", "HEAD")  # uncommitted edit
    assert ran_versions(result) == {"subjectivity/v1", "subjectivity/v2"}
    result.stdout.fnmatch_lines(["  subjectivity/v2: affected (v1.jinja changed; v2 extends v1)"])
    assert "deselected" not in result.outlines[-1]


def test_new_version_selected_deleted_one_listed(repo, pytester):
    project, model = repo
    (project / "prompts/subjectivity/v3.jinja").write_text(
        '{% extends "v1.jinja" %}\n', encoding="utf-8")
    (project / "prompts/subjectivity/v2.jinja").unlink()
    commit(project, "v3 replaces v2")
    result = run(pytester, model, "--changed-since", "main~1")
    assert ran_versions(result) == {"subjectivity/v3"}
    result.stdout.fnmatch_lines(["  subjectivity/v3: new (v3.jinja added: thresholds only)",
                                 "  subjectivity/v1: not affected, deselected (*)",
                                 "  subjectivity/v2: deleted (v2.jinja deleted (it extended v1))"])


def test_no_prompt_change_deselects_every_version_and_passes(repo, pytester):
    project, model = repo
    (project / "README.md").write_text("# demo, reworded\n", encoding="utf-8")
    commit(project, "docs")
    result = run(pytester, model, "--changed-since", "main~1")
    assert result.ret == pytest.ExitCode.OK  # not 5 ("no tests collected"): nothing to check
    result.assert_outcomes(passed=1)  # the test that is not about a version still runs
    assert ran_versions(result) == set()
    result.stdout.fnmatch_lines(["no prompt version changed since main~1: nothing evaluated",
                                 "  subjectivity/v1: not affected, deselected (*)",
                                 "  subjectivity/v2: not affected, deselected (*)"])


def test_the_listing_survives_quiet_mode(repo, pytester):
    project, model = repo
    (project / "prompts/subjectivity/v2.jinja").unlink()
    commit(project, "v2 removed")
    result = pytester.runpytest("--model", model, "-q", "--changed-since", "main~1")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["no prompt version changed since main~1: nothing evaluated",
                                 "  subjectivity/v1: not affected, deselected (*)",
                                 "  subjectivity/v2: deleted (v2.jinja deleted (it extended v1))"])


def test_only_deselected_items_exit_zero_not_five(repo, pytester):
    project, model = repo
    result = run(pytester, model, "--changed-since", "HEAD", "-k", "thresholds")
    assert result.ret == pytest.ExitCode.OK
    assert "5 deselected" in result.outlines[-1]  # 4 by --changed-since, 1 by -k


def test_selection_is_what_harness_ci_evaluates(repo, pytester):
    project, model = repo
    (project / "prompts/subjectivity/v3.jinja").write_text(
        '{% extends "v2.jinja" %}\n', encoding="utf-8")
    edit(project / "prompts/subjectivity/v2.jinja", "Is this", "Decide: is this")
    commit(project, "v3, and v2 reworded")
    result = run(pytester, model, "--changed-since", "main~1")
    session = harness.Session(harness.load_settings(project, overrides={
        "model": model, "split": "all", "progress": False}))
    try:
        report = harness.check_changes(session, "main~1")
    finally:
        session.close()
    assert ran_versions(result) == {v.id for v in report.verdicts} == {
        "subjectivity/v2", "subjectivity/v3"}
    assert {v.id for v in report.unaffected} == {"subjectivity/v1"}


def test_bad_ref_is_a_usage_error_naming_it(repo, pytester):
    _, model = repo
    result = run(pytester, model, "--changed-since", "no-such-branch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --changed-since no-such-branch: unknown git revision "
                                 "'no-such-branch'*fetch it first*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_outside_a_git_repo_is_a_usage_error(pytester, fake_model):
    from tests.conftest import copy_task

    copy_task(pytester.path)
    pytester.makepyfile(test_gate=EVAL)
    result = pytester.runpytest("--changed-since", "main", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --changed-since main: *not inside a git work tree*"])


def test_short_alias_yields_to_a_conftest_that_owns_it(repo, pytester):
    project, model = repo
    pytester.makeconftest("""
def pytest_addoption(parser):
    parser.addoption("--changed-since", action="store_true", help="someone else's flag")
""")
    commit(project, "conftest")
    edit(project / "prompts/subjectivity/v2.jinja", "Is this", "Decide: is this")
    result = run(pytester, model, "--harness-changed-since", "HEAD", "--changed-since")
    assert ran_versions(result) == {"subjectivity/v2"}
