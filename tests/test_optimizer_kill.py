"""kill -9 during `harness optimize`, then `harness optimize TASK --resume` (issue 13, item 6):
nothing corrupt, no finished call asked again, and the resumed run ends exactly where an
uninterrupted run with the same seed ends.

The process really is killed (SIGKILL, at whatever line it is on); the model is the fake of
tests/test_optimizer_loop.py (a test double, tests/fake_backend.py), so the kill can land at many
points of a run that takes a second. Each `harness optimize` runs in its own process, forked from
the test process once it has imported the library and scikit-learn (a fresh interpreter spent ~3 s
of each run importing them; a forkserver pays that once per process: 3.3 s of the module's 5 s
under `-n 2`). Forking a process with threads is safe here: the only other threads are execnet's
I/O thread under xdist and OpenBLAS's pool (which re-creates itself after a fork; tqdm's monitor
is stopped while these tests fork), the child touches nothing they own, writes to files of its
own and leaves through os._exit (no atexit, no finalizers). When a Python thread an earlier test
left is still running, it could hold a lock the child needs, and the runs start from a
forkserver instead. Each call the fake is asked is appended to a log file
before it is answered: the logs count the calls each process made. The Ctrl-C and in-process
variants are in tests/test_optimizer_loop.py.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from tqdm import tqdm

from harness.cache import Cache
from tests.test_optimizer_loop import Fake, demos_fix, project

START = ["optimize", "demo", "--from", "v1", "--iterations", "2", "--patience", "2",
         "--minibatch", "10", "--no-progress"]
RESUME = ["optimize", "demo", "--resume", "--no-progress"]
PRELOAD = ["harness.api", "harness.cli", "harness.report", "sklearn.feature_extraction.text",
           "sklearn.linear_model", "sklearn.pipeline", "tests.test_optimizer_loop"]


class Logged(Fake):
    log = ""

    def _fail_call(self, call):
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(call.example_id + "\n")
        return super()._fail_call(call)


def _optimize(root: str, log: str, args: list[str]) -> None:
    """The child: `harness optimize ARGS` in `root` with the logged fake; stdout and stderr to
    files beside the log; exits with the CLI's status."""
    from harness import Session
    from harness.cli import main

    os.chdir(root)
    for name in [k for k in os.environ if k.startswith("HARNESS_")]:
        del os.environ[name]
    fake = Logged(demos_fix, ["Objective Subjective Objective Subjective."])
    fake.log, fake.latency_s = log, 0.001
    Session.backend = lambda self, model=None: fake
    with open(log + ".out", "w", encoding="utf-8") as out, \
            open(log + ".err", "w", encoding="utf-8") as err:
        sys.stdout, sys.stderr = out, err
        code = main(args)
        out.flush()
        err.flush()
    os._exit(code)


@pytest.fixture(scope="module")
def processes():
    """Where each `harness optimize` process starts: a fork of this process when it runs no other
    Python thread, else (the whole serial suite: guidance's background event loop, started by the
    constrained-mode tests, runs for the rest of the process) a forkserver's, which has none."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    deadline = time.monotonic() + 1  # an earlier test's pool or server winding down
    for thread in others:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in others):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        yield context
        return
    for name in PRELOAD:  # once, before the first fork: the children share them
        importlib.import_module(name)
    # tqdm's monitor thread (started by any earlier progress bar in this process) takes tqdm's
    # lock every 10 s; a fork at that moment would leave it locked in the child. None while
    # these tests fork; tqdm starts a new one at the next bar.
    interval, tqdm.monitor_interval = tqdm.monitor_interval, 0
    if tqdm.monitor is not None:
        tqdm.monitor.exit()
        tqdm.monitor = None
    yield multiprocessing.get_context("fork")
    tqdm.monitor_interval = interval


def _start(context, root: Path, log: Path, args: list[str]):
    process = context.Process(target=_optimize, args=(str(root), str(log), args))
    process.start()
    return process


def _run(context, root: Path, log: Path, args: list[str]) -> str:
    process = _start(context, root, log, args)
    process.join(timeout=300)
    assert process.exitcode == 0, Path(f"{log}.err").read_text(encoding="utf-8")
    return Path(f"{log}.out").read_text(encoding="utf-8")


def _calls(log: Path) -> int:
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def _written(root: Path) -> dict[str, str]:
    """The new version's files, without the header's run id and report path (start times)."""
    return {p.name: "\n".join(line for line in p.read_text(encoding="utf-8").splitlines()
                              if not line.strip().startswith(("run id:", "report:")))
            for p in sorted((root / "prompts" / "demo").glob("v2*"))}


def _summary(stdout: str) -> list[str]:
    """The result table and verdicts, without the run folder's name and the duration."""
    return [re.sub(r"[\d.]+ (s|min) in all", "... in all", line)
            for line in stdout.splitlines() if "reports/" not in line]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, processes) -> tuple[int, dict[str, str], list[str]]:
    root = project(tmp_path_factory.mktemp("reference"))
    log = root / "calls.log"
    stdout = _run(processes, root, log, START)
    written = _written(root)
    assert "v2.jinja" in written  # the fake's rule makes the demonstrations a real gain
    return _calls(log), written, _summary(stdout)


@pytest.mark.xdist_group("optimizer-kill")  # one worker, one reference run under -n N
# Python 3.12+ warns at every fork of a process with more than one OS thread (see the docstring).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("share", [0.2, 0.7])
def test_kill_9_mid_optimize_then_resume_equals_an_uninterrupted_run(share, tmp_path, reference,
                                                                    processes):
    reference_calls, reference_written, reference_summary = reference
    root = project(tmp_path)
    killed_log, resumed_log = root / "killed.log", root / "resumed.log"
    process = _start(processes, root, killed_log, START)
    deadline = time.monotonic() + 120
    while _calls(killed_log) < share * reference_calls:
        assert process.is_alive(), Path(f"{killed_log}.err").read_text(encoding="utf-8")
        assert time.monotonic() < deadline, "the optimizer made too few calls within 120 s"
        time.sleep(0.002)
    process.kill()  # SIGKILL
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    killed_calls = _calls(killed_log)
    assert killed_calls < reference_calls, "the kill came after the run ended"

    # Nothing corrupt: every cache entry whole, the checkpoint and log readable.
    assert Cache(root / ".harness-cache").stats()["corrupt"] == 0
    (run_dir,) = [p for p in (root / "reports").iterdir() if p.is_dir()]
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text(encoding="utf-8"))
    assert checkpoint["status"] == "running"
    assert _written(root) == {}  # no new version from a run that did not finish

    stdout = _run(processes, root, resumed_log, RESUME)
    # No finished call asked again: at most the one in flight at the kill (asked, not cached).
    repeated = killed_calls + _calls(resumed_log) - reference_calls
    assert repeated in (0, 1)
    written = _written(root)
    assert written.keys() == reference_written.keys()
    for name, text in written.items():  # line by line, so a failure shows the line that differs
        assert text.splitlines() == reference_written[name].splitlines(), name
    # The tally counts every answered call: the one lost at the kill too when its answer had
    # been journaled (kill between journal and cache), not when the kill came before it.
    summary = _summary(stdout)
    tallied = [int(n) for n in re.findall(r"(\d+) model calls made", "\n".join(summary))]
    assert len(tallied) == 1 and reference_calls <= tallied[0] <= reference_calls + repeated
    assert [line.replace(f"{tallied[0]} model calls made", f"{reference_calls} model calls made")
            for line in summary] == reference_summary
    assert json.loads((run_dir / "checkpoint.json").read_text(encoding="utf-8"))["status"] \
        == "done"
