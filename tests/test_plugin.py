"""The pytest plugin driven from outside with pytester, on the real embedded model."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, copy_task

pytestmark = pytest.mark.model

# The shipped eval module itself, run against a small copy of its task.
EVAL = (REPO / "evals" / "test_subjectivity.py").read_text(encoding="utf-8")


@pytest.fixture
def project(pytester: pytest.Pytester):
    copy_task(pytester.path, rows=40)
    pytester.makepyfile(test_demo_gate=EVAL)
    return pytester


def set_thresholds(pytester: pytest.Pytester, text: str) -> None:
    path = pytester.path / "prompts" / "subjectivity" / "task.yaml"
    lines = path.read_text().splitlines()
    start = lines.index("thresholds:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    path.write_text("\n".join(lines[:start] + text.splitlines() + lines[end:]) + "\n")


def test_versions_are_parametrized_and_summarized(project):
    result = project.runpytest("--split", "all", "--limit", "8", "-v", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    result.stdout.fnmatch_lines(["*test_meets_thresholds?subjectivity/v1? SKIPPED*",
                                 "*harness: prompt evaluations*",
                                 "*subjectivity/v1 * 8 *", "*subjectivity/v2 * 8 *",
                                 "*report: *index.html*",
                                 "*comparison: *compare*subjectivity-v1-v2-*.html",
                                 "*all runs: *reports*index.html"])
    assert "passed" in outcomes
    reports = list((project.path / "reports").glob("*/index.html"))
    assert len(reports) == 2
    html = reports[0].read_text()
    for section in ('id="metrics"', 'id="gate"', 'id="confusion-image"', 'id="confusion"',
                    'id="examples"', 'id="reliability-image"', 'id="coverage-image"',
                    'id="classical-table"', 'id="template-source"', 'href="results.csv"'):
        assert section in html, section
    comparison, = (project.path / "reports" / "compare").glob("subjectivity-v1-v2-*.html")
    assert "McNemar exact p" in comparison.read_text()
    index = (project.path / "reports" / "index.html").read_text()
    assert all(r.parent.name in index for r in reports)
    run_dir = reports[0].parent
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {"id", "input", "expected", "predicted", "distribution",
                               "prompt_hash", "cached"} <= set(rows[0])
    assert json.loads((run_dir / "metrics.json").read_text())["spec"]["n_examples"] == 8


def test_threshold_failure_names_metric_value_threshold_and_confusions(project):
    set_thresholds(project, "thresholds:\n  macro_f1: 0.99")
    result = project.runpytest("--split", "all", "--limit", "8", "--prompt-version", "v2",
                               "-k", "thresholds", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*subjectivity/v2 misses task.yaml thresholds*",
                                 "*FAILED macro_f1 >= 0.99: 0.* < 0.990*",
                                 "*top confusions (expected -> predicted: count)*"])


def test_baseline_round_trip_and_regression(project):
    args = ("--split", "all", "--limit", "8", "--prompt-version", "v2", "-k", "baseline", "-rs",
            "-p", "no:cacheprovider")
    result = project.runpytest(*args)
    result.assert_outcomes(skipped=1)  # no baseline yet: skipped with how to record one
    result.stdout.fnmatch_lines(["*no baseline at*--update-baseline*"])
    project.runpytest(*args, "--update-baseline").assert_outcomes(passed=1)
    path = project.path / "evals" / "baselines" / "subjectivity" / "v2.json"
    baseline = json.loads(path.read_text())
    assert baseline["run"]["mode"] == "score" and baseline["run"]["limit"] == 8
    assert len(baseline["outcomes"]) == 8 and baseline["run"]["environment"]["cpu"]
    project.runpytest(*args).assert_outcomes(passed=1)
    wrong = [o["id"] for o in baseline["outcomes"] if not o["correct"]]
    assert wrong, "the 135M model is expected to miss some of 8 examples"
    for o in baseline["outcomes"]:  # pretend the accepted run got every example right
        o["predicted"], o["correct"] = o["expected"], True
    path.write_text(json.dumps(baseline))
    # The point rule (strict) fails the drop and lists the examples that broke.
    result = project.runpytest(*args, "--harness-strict-baseline")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*regressed against its baseline*",
                                 "*vs baseline*tolerance 0.05*",
                                 f"*broken ({len(wrong)})*", f"*{wrong[0]}:*"])
    # A run with other settings is not compared against it, and says why.
    result = project.runpytest(*args, "--mode", "constrained")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*baseline was recorded with mode 'score' vs 'constrained'*"])


def test_cache_only_replays_without_the_model_and_fails_clearly_on_a_miss(project):
    args = ("--split", "all", "--limit", "6", "--prompt-version", "v2", "-k", "thresholds",
            "-p", "no:cacheprovider")
    project.runpytest(*args).assert_outcomes(passed=1)
    project.runpytest(*args, "--cache-only").assert_outcomes(passed=1)
    result = project.runpytest(*args, "--cache-only", "--mode", "generate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cache miss in replay mode for subjectivity/v2 example*"])


def test_unknown_prompt_version_is_a_usage_error_listing_versions(project):
    result = project.runpytest("--prompt-version", "v9", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*--prompt-version v9: not a version of 'subjectivity'; "
                                 "versions on disk: v1, v2*"])


def test_bad_fixture_fails_collection_with_file_and_line(project):
    path = project.path / "datasets" / "subjectivity.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace('"Objective"', '"Maybe"').replace('"Subjective"', '"Maybe"')
    path.write_text("\n".join(lines) + "\n")
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*subjectivity.jsonl:5: label 'Maybe' is not one of "
                                 "Objective, Subjective*"])


def test_failed_model_calls_give_their_own_exit_status(project, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: every call is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HARNESS_MAX_RETRIES", "0")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = project.runpytest("--split", "all", "--limit", "3", "--prompt-version", "v2",
                               "-k", "thresholds", "--model", "openai:smollm2",
                               "--model-base-url", f"http://127.0.0.1:{port}/v1",
                               "-p", "no:cacheprovider")
    from harness.pytest_plugin import EXIT_MODEL_ERRORS

    assert result.ret == EXIT_MODEL_ERRORS
    result.stdout.fnmatch_lines(["*model calls failed (infrastructure errors, not wrong answers)*",
                                 "*subjectivity/v2: 3 of 3 model calls failed (infrastructure, not wrong answers*"])
