"""The `harness` command as a user runs it (real embedded model, small limits)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main


def harness(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_help_lists_commands_and_eval_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "eval" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    for option in ("--version", "--model", "--mode", "--split", "--limit", "--no-cache",
                   "--cache-only", "--report-dir"):
        assert option in out


@pytest.mark.model
def test_eval_prints_metrics_and_writes_a_report(demo_project):
    done = harness(demo_project, "eval", "subjectivity", "--version", "v2", "--split", "all",
                   "--limit", "10", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "subjectivity/v2" in done.stdout and "macroF1" in done.stdout
    run_dirs = [p for p in (demo_project / "reports").iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    assert {"results.jsonl", "results.csv", "metrics.json", "analysis.json", "index.html"} <= \
        {p.name for p in run_dirs[0].iterdir()}
    assert "all runs: " in done.stdout and (demo_project / "reports" / "index.html").is_file()
    spec = json.loads((run_dirs[0] / "metrics.json").read_text())["spec"]
    assert spec["model_calls"] == 10 and spec["cache_hits"] == 0
    again = harness(demo_project, "eval", "subjectivity", "--version", "v2", "--split", "all",
                    "--limit", "10", "--no-progress")
    assert "0 model calls, 10 cached" in again.stderr


@pytest.mark.model
def test_check_exits_1_when_a_threshold_is_missed(demo_project):
    task_yaml = demo_project / "prompts" / "subjectivity" / "task.yaml"
    task_yaml.write_text(task_yaml.read_text().replace("macro_f1: 0.40", "macro_f1: 0.99"))
    done = harness(demo_project, "eval", "subjectivity", "--version", "v2", "--limit", "4",
                   "--split", "all", "--check", "--no-progress")
    assert done.returncode == 1
    assert "FAIL macro_f1 >= 0.99" in done.stdout


def test_bad_input_exits_2_with_the_place_named(demo_project):
    fixture = demo_project / "datasets" / "subjectivity.jsonl"
    fixture.write_text(fixture.read_text() + '{"id": "x1", "text": "ok", "label": "Maybe"}\n')
    done = harness(demo_project, "eval", "subjectivity")
    assert done.returncode == 2
    assert "subjectivity.jsonl:25: label 'Maybe' is not one of Objective, Subjective" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = harness(demo_project, "eval", "nope")
    assert unknown.returncode == 2 and "known tasks: subjectivity" in unknown.stderr
    version = harness(demo_project, "eval", "subjectivity", "--version", "v7")
    assert version.returncode == 2 and "versions on disk: v1, v2" in version.stderr
