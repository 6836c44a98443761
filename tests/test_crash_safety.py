"""Crash safety of `harness eval` with the cache on (issue 13, item 6), with the real embedded
model in subprocesses:

- kill -9 and Ctrl-C (SIGINT) mid-run: no corrupt cache entry or report, no finished call made
  again on the re-run (its model_calls are exactly the missing ones), and the resumed result
  equals an uninterrupted run's;
- two `harness eval` at once on one cache and one reports dir: both runs kept, the index lists
  both, nothing corrupt.

Small on purpose: 16 examples of the subjectivity copy; one model process at a time except in
the concurrency test, which needs two.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cache import Cache
from harness.fsutil import is_temp_name
from tests.conftest import copy_task
from tests.helpers import default_sigint

LIMIT = 16
EVAL = ["eval", "subjectivity", "--version", "v2", "--split", "all", "--limit", str(LIMIT),
        "--no-progress"]


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    return {**clean, "PYTHONUNBUFFERED": "1"}


def _start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *(args or EVAL)], cwd=root,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


def _finish(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "harness.cli", *(args or EVAL)], cwd=root,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def _entries(root: Path) -> int:
    return Cache(root / ".harness-cache").stats()["entries"]


def _interrupt_after_first_answers(root: Path, sig: int) -> tuple[subprocess.Popen, int, str]:
    """Start an eval, send `sig` as soon as the first answers are cached; (process, cached
    entries once it ended, stderr)."""
    process = _start(root)
    deadline = time.monotonic() + 300
    while _entries(root) == 0:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no answer cached within 300 s"
        time.sleep(0.02)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    return process, _entries(root), stderr


def _run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "reports").glob("*/") if (p / "metrics.json").exists())


def _predictions(run_dir: Path) -> dict[str, tuple]:
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return {r["id"]: (r["predicted"], r["confidence"], r["distribution"], r["error"])
            for r in rows}


def _assert_nothing_corrupt(root: Path) -> None:
    cache_dir = root / ".harness-cache"
    stats = Cache(cache_dir).stats()
    assert stats["corrupt"] == 0
    finished = [p for p in cache_dir.glob("??/*") if not is_temp_name(p.name)]
    for entry in finished:  # every finished entry is a whole answer
        data = json.loads(entry.read_text(encoding="utf-8"))
        assert set(data) >= {"raw", "distribution", "usage"}, entry
    # A killed writer's temp files are not counted as entries (`harness cache stats`).
    assert stats["entries"] == len(finished)
    for path in (root / "reports").rglob("*.json") if (root / "reports").exists() else ():
        json.loads(path.read_text(encoding="utf-8"))  # no half-written record


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, tuple]:
    root = copy_task(tmp_path_factory.mktemp("reference") / "project")
    _finish(root)
    (run,) = _run_dirs(root)
    return _predictions(run)


@pytest.mark.model
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_eval_resumes_without_repeating_calls(sig, tmp_path, uninterrupted):
    root = copy_task(tmp_path / "project")
    process, cached, stderr = _interrupt_after_first_answers(root, sig)
    if sig == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    assert 1 <= cached < LIMIT, f"{cached} answers cached: the signal came too late"
    assert _run_dirs(root) == []  # nothing half-reported
    _assert_nothing_corrupt(root)

    _finish(root)
    (run,) = _run_dirs(root)
    spec = json.loads((run / "metrics.json").read_text())["spec"]
    assert spec["cache_hits"] == cached  # every finished call came from the cache
    assert spec["model_calls"] == LIMIT - cached  # and only the missing ones were made
    assert _entries(root) == LIMIT
    _assert_nothing_corrupt(root)
    assert _predictions(run) == uninterrupted


@pytest.mark.model
def test_two_evals_at_once_share_one_cache_and_reports_dir(tmp_path):
    root = copy_task(tmp_path / "project")
    small = ["--split", "all", "--limit", "6", "--no-progress"]
    first = _start(root, "eval", "subjectivity", "--version", "v2", *small)
    second = _start(root, "eval", "subjectivity", "--version", "v1", *small)
    outcomes = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outcomes
    runs = _run_dirs(root)
    assert sorted(json.loads((r / "metrics.json").read_text())["spec"]["version"]
                  for r in runs) == ["v1", "v2"]  # no lost run
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert index.rstrip().endswith("</html>")
    for run in runs:  # both runs listed, whichever process wrote the index last
        assert run.name in index, run.name
    assert _entries(root) == 12
    _assert_nothing_corrupt(root)
    # The same version twice at once: the same cache keys written by both, no error.
    again = [_start(root, "eval", "subjectivity", "--version", "v2", "--split", "all",
                    "--limit", "8", "--no-progress") for _ in range(2)]
    for process in again:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    assert len(_run_dirs(root)) == 4 and _entries(root) == 14
    _assert_nothing_corrupt(root)


@pytest.mark.model
def test_index_written_by_many_processes_at_once_stays_whole(tmp_path, monkeypatch):
    """The reports/index.html write race: writers once shared one temp name, so one process's
    rename could find its temp gone (FileNotFoundError mid-`harness eval`)."""
    root = copy_task(tmp_path / "project", rows=8)
    _finish(root, "eval", "subjectivity", "--version", "v2", "--split", "all", "--limit", "2",
            "--no-progress")
    script = ("import sys\nfrom pathlib import Path\nfrom harness.report import write_index\n"
              "for _ in range(40):\n    write_index(Path(sys.argv[1]))\n")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(root / "reports")],
                                env=_env(), stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [w.communicate(timeout=600)[1] for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert index.rstrip().endswith("</html>") and _run_dirs(root)[0].name in index
    assert not [p for p in (root / "reports").iterdir() if is_temp_name(p.name)]

    # A run finished by another process while this one renders: the index still lists it.
    import shutil

    from harness.report import index as index_module

    (run,) = _run_dirs(root)
    render = index_module.charts.trend_chart
    late = root / "reports" / (run.name + "-late")

    def other_process_finishes_meanwhile(*args):
        if not late.exists():
            shutil.copytree(run, late)
        return render(*args)

    monkeypatch.setattr(index_module.charts, "trend_chart", other_process_finishes_meanwhile)
    index_module.write_index(root / "reports")
    assert late.name in (root / "reports" / "index.html").read_text(encoding="utf-8")


def test_cache_stats_ignores_a_killed_writers_temp_file(tmp_path):
    """What a writer killed between its temp write and its rename leaves behind."""
    cache_dir = tmp_path / ".harness-cache"
    (cache_dir / "ab").mkdir(parents=True)
    key = "ab" + "0" * 62
    (cache_dir / "ab" / f".{key}.json.x1y2z3.tmp").write_text('{"raw": "Obj', encoding="utf-8")
    (cache_dir / "ab" / f"{key}.json").write_text(json.dumps(
        {"raw": "Objective", "distribution": None, "usage": {}, "meta": {"model": "local"}}))
    cache = Cache(cache_dir)
    assert cache.stats() == {"entries": 1, "bytes": (cache_dir / "ab" / f"{key}.json").stat().st_size,
                             "corrupt": 0, "by_model": {"local": 1}}
    cache.clear()
    assert list(cache_dir.glob("??/*")) == []


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test, as in a terminal: a pytest started with `&`
    ignores SIGINT, and the library leaves such a choice alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_inside_llama_log_callback_is_raised_at_the_next_result(python_sigint):
    """ctypes swallows a KeyboardInterrupt raised in a callback (llama.cpp's logger): the local
    backend notes it there and raises it after the result in hand (harness.models.interrupts)."""
    from harness.models.interrupts import deferred_interrupts

    def llama_log_callback():  # the name llama_cpp._logger's callback has
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs on one of these bytecodes, in this frame
            pass

    with deferred_interrupts() as check:
        llama_log_callback()  # not raised here
        with pytest.raises(KeyboardInterrupt):
            check()
        check()  # noted once, raised once
        with pytest.raises(KeyboardInterrupt):  # elsewhere: at once, as usual
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
