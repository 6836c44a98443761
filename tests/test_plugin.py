"""The pytest plugin driven from outside with pytester: in seconds through the fake model
(tests/fake_backend.py; thresholds, baseline, critical cases, cache replay, failed calls, the
terminal summary), and the same paths once on the real embedded model (marked `model`)."""

from __future__ import annotations

import json

import pytest

from harness.pytest_plugin import EXIT_MODEL_ERRORS
from tests.conftest import REPO, copy_task
from tests.fake_backend import FakeBackend, keyword_rule
from tests.helpers import default_rows, make_project

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


@pytest.mark.model
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
    for section in ('id="metrics"', 'id="gate"', 'id="confusion"',
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


@pytest.mark.model
def test_threshold_failure_names_metric_value_threshold_and_confusions(project):
    set_thresholds(project, "thresholds:\n  macro_f1: 0.99")
    result = project.runpytest("--split", "all", "--limit", "8", "--prompt-version", "v2",
                               "-k", "thresholds", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*subjectivity/v2 misses task.yaml thresholds*",
                                 "*FAILED macro_f1 >= 0.99: 0.* < 0.990*",
                                 "*top confusions (expected -> predicted: count)*"])


@pytest.mark.model
def test_baseline_round_trip_and_regression(project):
    args = ("--split", "all", "--limit", "8", "--prompt-version", "v2", "-k", "baseline", "-rs",
            "-p", "no:cacheprovider")
    result = project.runpytest(*args)
    result.assert_outcomes(skipped=1)  # no baseline yet: skipped with how to record one
    # The path as the project knows it, not the machine's checkout path (reports get shared).
    result.stdout.fnmatch_lines(["*no baseline at evals/baselines/subjectivity/v2.json; record "
                                 "one with --update-baseline*"])
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


@pytest.mark.model
def test_cache_only_replays_without_the_model_and_fails_clearly_on_a_miss(project):
    args = ("--split", "all", "--limit", "6", "--prompt-version", "v2", "-k", "thresholds",
            "-p", "no:cacheprovider")
    project.runpytest(*args).assert_outcomes(passed=1)
    project.runpytest(*args, "--cache-only").assert_outcomes(passed=1)
    result = project.runpytest(*args, "--cache-only", "--mode", "generate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cache miss in replay mode for subjectivity/v2 example*"])


@pytest.mark.model
def test_unknown_prompt_version_is_a_usage_error_listing_versions(project):
    result = project.runpytest("--prompt-version", "v9", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*--prompt-version v9: not a version of 'subjectivity'; "
                                 "versions on disk: v1, v2*"])


@pytest.mark.model
def test_bad_fixture_fails_collection_with_file_and_line(project):
    path = project.path / "datasets" / "subjectivity.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace('"Objective"', '"Maybe"').replace('"Subjective"', '"Maybe"')
    path.write_text("\n".join(lines) + "\n")
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*subjectivity.jsonl:5: label 'Maybe' is not one of "
                                 "Objective, Subjective*"])


@pytest.mark.model
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
    assert result.ret == EXIT_MODEL_ERRORS
    result.stdout.fnmatch_lines(["*model calls failed (infrastructure errors, not wrong answers)*",
                                 "*subjectivity/v2: 3 of 3 model calls failed (infrastructure, not wrong answers*"])


# -- the same plugin paths through the fake model (seconds) ----------------------------------------
# The demo task of tests/helpers.py: 12 rows (o1..o6 facts, s1..s6 opinions), thresholds
# macro_f1 >= 0.5; o2 and s2 are critical cases. The shipped eval module, pointed at it.
DEMO_EVAL = EVAL.replace('"subjectivity"', '"demo"')
SUBJECTIVE_WORDS = {w: "Subjective" for w in ("love", "best", "ugly", "cheap", "worth",
                                               "recommend")}
V2 = '{% extends "v1.jinja" %}\n{% block instructions %}\nFact or opinion?\n{% endblock %}\n'


@pytest.fixture
def demo(pytester: pytest.Pytester):
    rows = [{**row, "critical": True} if row["id"] in ("o2", "s2") else row
            for row in default_rows()]
    make_project(pytester.path, rows=rows, templates={"v2": V2})
    (pytester.path / "pyproject.toml").write_text(
        '[tool.harness]\ncache_dir = ".harness-cache"\nreport_dir = "reports"\n')
    pytester.makepyfile(test_demo_gate=DEMO_EVAL)
    return pytester


def run_fake(demo: pytest.Pytester, model: str, *args: str):
    return demo.runpytest("--harness-model", model, "--harness-split", "all",
                          "-p", "no:cacheprovider", *args)


def test_fake_versions_are_parametrized_gated_and_summarized(demo, fake_model):
    backend = FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective"))
    result = run_fake(demo, fake_model(backend), "-v", "-rs")
    result.assert_outcomes(passed=6, skipped=2)  # 2 versions x (thresholds + 2 critical)
    result.stdout.fnmatch_lines([
        "*test_meets_thresholds?demo/v1? PASSED*", "*test_meets_thresholds?demo/v2? PASSED*",
        "*test_critical_case?demo/v1/o2? PASSED*",
        "*harness: prompt evaluations*", "*demo/v1 * 12 *", "*demo/v2 * 12 *",
        "*demo/v1 vs baseline: not compared: no baseline at*v1.json*--update-baseline*",
        "*report: *index.html*", "*comparison: *compare*demo-v1-v2-*.html",
        "*all runs: *reports*index.html"])
    assert backend.calls_made == 24  # 12 per version; the critical cases come from the cache
    assert len(list((demo.path / "reports").glob("*/index.html"))) == 2


def test_fake_threshold_failure_names_metric_value_threshold_and_collapse(demo, fake_model):
    model = fake_model(FakeBackend(keyword_rule({}, default="Objective")))
    result = run_fake(demo, model, "--prompt-version", "v1", "-k", "thresholds")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*demo/v1 misses task.yaml thresholds*",
                                 "*FAILED macro_f1 >= 0.5: 0.333 < 0.500*",
                                 "*top confusions (expected -> predicted: count): Subjective "
                                 "-> Objective: 6",
                                 "*harness: prompt evaluations*",
                                 "demo/v1: all predictions are 'Objective' (the truth: 50%)"])


def test_fake_critical_case_failure_names_the_case_and_its_line(demo, fake_model):
    rule = keyword_rule({**SUBJECTIVE_WORDS, "batteries": "Subjective"}, default="Objective")
    result = run_fake(demo, fake_model(FakeBackend(rule)), "--prompt-version", "v1",
                      "-k", "critical")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*demo/v1: critical case 'o2' (demo.jsonl:3)*",
                                 "*text: It ships with two batteries.*",
                                 "*expected:  Objective*",
                                 "*predicted: Subjective (confidence 0.800)"])


def test_fake_baseline_round_trip_paired_and_strict_rules(demo, fake_model):
    args = ("--prompt-version", "v1", "-k", "baseline", "-rs")
    good = fake_model(FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective")))
    run_fake(demo, good, *args, "--update-baseline").assert_outcomes(passed=1)
    path = demo.path / "evals" / "baselines" / "demo" / "v1.json"
    baseline = json.loads(path.read_text())
    assert len(baseline["outcomes"]) == 12 and all(o["correct"] for o in baseline["outcomes"])
    assert [c["id"] for c in baseline["critical"]] == ["o2", "s2"]
    run_fake(demo, good, *args).assert_outcomes(passed=1)
    # The same model name answering worse (a new revision: its answers are not in the cache)
    # misses two opinions ("love", "best" forgotten): macro-F1 drops 1.0 -> 0.83, beyond the
    # 0.05 tolerance, but two flips in 12 examples are not significant for the paired rule.
    worse = {w: label for w, label in SUBJECTIVE_WORDS.items() if w not in ("love", "best")}
    fake_model(FakeBackend(keyword_rule(worse, default="Objective"), revision="2"))
    result = run_fake(demo, good, *args)
    result.assert_outcomes(passed=1)
    strict = run_fake(demo, good, *args, "--harness-strict-baseline")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*demo/v1 regressed against its baseline*",
                                 "*broken (2)*", "*s1:*", "*s2:*"])
    other_mode = run_fake(demo, good, *args, "--harness-mode", "generate")
    other_mode.assert_outcomes(skipped=1)
    other_mode.stdout.fnmatch_lines(["*baseline was recorded with mode 'score' vs 'generate'*"])


def test_fake_cache_only_miss_fails_clearly(demo, fake_model):
    backend = FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective"))
    result = run_fake(demo, fake_model(backend), "--harness-cache-only", "--prompt-version",
                      "v1", "-k", "thresholds")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cache miss in replay mode for demo/v1 example*"])
    assert backend.calls_made == 0


def test_fake_failed_model_calls_give_their_own_exit_status(demo, fake_model):
    backend = FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective"),
                          fail=lambda call: "HTTP 503: overloaded" if "kg" in call.text else None)
    result = run_fake(demo, fake_model(backend), "--prompt-version", "v1", "-k", "thresholds")
    assert result.ret == EXIT_MODEL_ERRORS
    result.stdout.fnmatch_lines(["*model calls failed (infrastructure errors, not wrong answers)*",
                                 "*demo/v1: 1 of 12 model calls failed (infrastructure, not wrong "
                                 "answers*"])
