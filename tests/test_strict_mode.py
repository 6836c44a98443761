"""--strict (CLI) and --harness-strict (pytest): input warnings become errors naming the place.

No model runs: `harness list` and pytest's collection load task.yaml and the fixture only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import main
from tests.helpers import DEFAULT_TASK_YAML, make_project

TYPO_YAML = DEFAULT_TASK_YAML + "treshold: 3\n"  # line 9: `thresholds` misspelt

EVAL_MODULE = """
import pytest
pytestmark = pytest.mark.harness_task("demo")

def test_meets_thresholds(harness_gate, prompt_version):
    harness_gate.check_thresholds(prompt_version)
"""


@pytest.fixture
def typo_project(tmp_path, monkeypatch):
    root = make_project(tmp_path, task_yaml=TYPO_YAML)
    monkeypatch.chdir(root)
    return root


def test_a_warning_prints_as_the_place_and_the_command_goes_on(typo_project):
    # A real process: pytest would capture the warning itself in-process.
    done = subprocess.run([sys.executable, "-m", "harness.cli", "list"], cwd=typo_project,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    assert "demo: Objective, Subjective" in out
    assert err.startswith("harness: warning: ")
    assert "prompts/demo/task.yaml:9: unknown key 'treshold'" in err
    assert "did you mean 'thresholds'?" in err
    assert "Traceback" not in err and "HarnessWarning" not in err


@pytest.mark.parametrize("argv", [["--strict", "list"], ["list", "--strict"]])
def test_strict_turns_the_warning_into_an_error(typo_project, capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "prompts/demo/task.yaml:9: unknown key 'treshold'" in err
    assert err.startswith("harness: error: ") and "strict mode: warnings are errors" in err


def test_strict_is_accepted_by_nested_commands(typo_project, capsys):
    # `cache stats` reads no task: strict mode has nothing to refuse, and the flag parses.
    assert main(["cache", "stats", "--strict"]) == 0


def test_strict_without_warnings_changes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(make_project(tmp_path))
    assert main(["--strict", "list"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_pytest_harness_strict_fails_collection_with_the_place(pytester):
    make_project(pytester.path, task_yaml=TYPO_YAML)
    pytester.makepyfile(test_demo=EVAL_MODULE)
    relaxed = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    relaxed.stdout.fnmatch_lines(["*test_meets_thresholds?demo/v1?*",
                                  "*unknown key 'treshold'*did you mean 'thresholds'*"])
    assert relaxed.ret == 0
    strict = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider",
                                "--harness-strict")
    strict.stdout.fnmatch_lines(["*task.yaml:9: unknown key 'treshold'*strict mode*"])
    assert strict.ret != 0
    assert "Traceback" not in strict.stdout.str()
