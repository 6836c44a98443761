"""The `harness` command: in-process through `harness.cli.main([...])` on the fake model
(tests/fake_backend.py) for exit codes and output, plus two runs of the real command on the real
embedded model (small limits)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.fake_backend import FakeBackend, keyword_rule
from tests.helpers import make_project

SUBJECTIVE_WORDS = {w: "Subjective" for w in ("love", "best", "ugly", "cheap", "worth",
                                               "recommend")}


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


def fake_eval(root: Path, monkeypatch, model: str, *args: str) -> int:
    monkeypatch.chdir(root)
    return main(["eval", "demo", "--model", model, "--split", "all", "--no-progress", *args])


def test_eval_prints_the_table_and_writes_a_report_exit_0(tmp_path, monkeypatch, capsys,
                                                          fake_model):
    backend = FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective"))
    root = make_project(tmp_path)
    assert fake_eval(root, monkeypatch, fake_model(backend), "--check") == 0
    out, err = capsys.readouterr()
    assert "model=fake:default mode=score split=all" in out
    row = next(line for line in out.splitlines() if line.startswith("demo/v1"))
    assert "1.000" in row and "12" in row.split()  # every example right, 12 of them
    assert "demo/v1: 12 model calls, 0 cached" in err and "all runs: " in out
    [run_dir] = [p for p in (root / "reports").iterdir() if p.is_dir()]
    assert {"results.jsonl", "metrics.json", "index.html"} <= {p.name for p in run_dir.iterdir()}
    assert backend.calls_made == 12 and backend.closed == 1
    assert fake_eval(root, monkeypatch, "fake:default") == 0
    assert "demo/v1: 0 model calls, 12 cached" in capsys.readouterr().err
    assert backend.calls_made == 12  # the cache answered


def test_eval_check_exits_1_when_a_threshold_is_missed(tmp_path, monkeypatch, capsys,
                                                      fake_model):
    model = fake_model(FakeBackend(keyword_rule({}, default="Objective")))  # one label only
    root = make_project(tmp_path)
    assert fake_eval(root, monkeypatch, model, "--check") == 1
    out, err = capsys.readouterr()
    assert "FAIL macro_f1 >= 0.5" in out
    assert "demo/v1: all predictions are 'Objective' (the truth: 50%)" in err
    assert fake_eval(root, monkeypatch, model) == 0  # without --check the table is the answer
    assert "FAIL macro_f1 >= 0.5" in capsys.readouterr().out


def test_eval_exits_3_when_model_calls_fail(tmp_path, monkeypatch, capsys, fake_model):
    backend = FakeBackend(keyword_rule(SUBJECTIVE_WORDS, default="Objective"),
                          fail=lambda call: "HTTP 503: overloaded" if "kg" in call.text else None)
    root = make_project(tmp_path)
    assert fake_eval(root, monkeypatch, fake_model(backend), "--check") == 3
    err = capsys.readouterr().err
    assert "demo/v1: 1 of 12 model calls failed (infrastructure, not wrong answers" in err
    assert "HTTP 503: overloaded" in err
    # Failed calls are not cached: the next run asks again, and a healthy model ends it.
    backend.fail = None
    assert fake_eval(root, monkeypatch, "fake:default") == 0
    assert "demo/v1: 1 model calls, 11 cached" in capsys.readouterr().err


def test_bad_input_exits_2_with_the_place_named(demo_project, monkeypatch, capsys):
    fixture = demo_project / "datasets" / "subjectivity.jsonl"
    fixture.write_text(fixture.read_text() + '{"id": "x1", "text": "ok", "label": "Maybe"}\n')
    monkeypatch.chdir(demo_project)
    assert main(["eval", "subjectivity"]) == 2
    err = capsys.readouterr().err
    assert "subjectivity.jsonl:25: label 'Maybe' is not one of Objective, Subjective" in err
    assert "Traceback" not in err
    assert main(["eval", "nope"]) == 2
    assert "known tasks: subjectivity" in capsys.readouterr().err
    assert main(["eval", "subjectivity", "--version", "v7"]) == 2
    assert "versions on disk: v1, v2" in capsys.readouterr().err


def test_list_names_tasks_labels_and_versions(demo_project, monkeypatch, capsys):
    monkeypatch.chdir(demo_project)
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("subjectivity: Objective, Subjective  versions: "
                                              "v1, v2  dataset: subjectivity.jsonl")
