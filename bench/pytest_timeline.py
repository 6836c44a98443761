"""A pytest plugin that writes a timeline of one run, per process: where a `-n 2` run's time goes.

    rm -rf /tmp/pytest-of-root
    PYTHONPATH=bench PYTEST_TIMELINE=/tmp/timeline \\
        .venv/bin/pytest -q -n 2 -p pytest_timeline -m "not model and not server and not labelstudio" tests
    python bench/pytest_timeline.py /tmp/timeline      # the summary

Each process (the xdist controller `ctl`, workers `gw0`, `gw1`) writes PYTEST_TIMELINE/<name>.log:
seconds since the plugin was imported in the controller (passed to the workers through the
environment) at session start, end of collection, the end of every test (with its duration),
session finish and the process's last atexit handler. Not part of the suite.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

import pytest

_START = float(os.environ.setdefault("PYTEST_TIMELINE_T0", str(time.time())))
_NAME = os.environ.get("PYTEST_XDIST_WORKER", "ctl")
_test_started = 0.0
_runs_tests = True  # false in an xdist controller, which only relays its workers' reports


def _log(line: str) -> None:
    folder = Path(os.environ.get("PYTEST_TIMELINE", "/tmp/timeline"))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{_NAME}.log").open("a", encoding="utf-8") as out:
        out.write(f"{time.time() - _START:8.2f} {line}\n")


atexit.register(lambda: _log("exit"))  # registered first, so it runs last


def pytest_configure(config: pytest.Config) -> None:
    global _runs_tests
    _runs_tests = _NAME != "ctl" or not getattr(config.option, "tx", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    _log("sessionstart")


def pytest_collection_finish(session: pytest.Session) -> None:
    _log(f"collected {len(session.items)}")


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    global _test_started
    _test_started = time.time()


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    if _runs_tests:
        _log(f"test {time.time() - _test_started:.3f} {nodeid}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _log("sessionfinish")


def _summary(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        events, tests, per_file = [], 0.0, {}
        for line in log.read_text(encoding="utf-8").splitlines():
            at, what, *rest = line.split()
            if what == "test":
                tests += float(rest[0])
                path = rest[1].split("::")[0]
                per_file[path] = per_file.get(path, 0.0) + float(rest[0])
            else:
                events.append(f"{what} {' '.join(rest)}".strip() + f" at {at} s")
        print(f"{log.stem}: " + "; ".join(events) + (f"; tests {tests:.1f} s" if tests else ""))
        for path, seconds in sorted(per_file.items(), key=lambda kv: -kv[1])[:8]:
            print(f"    {seconds:6.2f} s  {path}")


if __name__ == "__main__":
    _summary(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/timeline"))
