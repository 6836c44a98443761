"""A pytest plugin that measures the cyclic garbage collector's time per process (why
tests/conftest.py raises the collection threshold).

    rm -rf /tmp/gc-time
    PYTHONPATH=bench PYTEST_GC_TIME=/tmp/gc-time [PYTEST_GC_THRESHOLD=700,10,10] \\
        .venv/bin/pytest -q -n 2 -p pytest_gc_time -m "not model and not server and not labelstudio" tests
    cat /tmp/gc-time/*.txt

Each process (`ctl`, `gw0`, `gw1`) writes PYTEST_GC_TIME/<name>.txt: the seconds spent in
collections (through `gc.callbacks`), those of full (generation 2) ones, and how many of each
generation ran. PYTEST_GC_THRESHOLD, if set, is applied at session start, after the conftest
files loaded (tests/conftest.py sets its own), so `700,10,10` measures Python's default.
Not part of the suite.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

_started = 0.0
_total = [0.0, 0.0, 0.0]  # seconds, by generation
_count = [0, 0, 0]


def _callback(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        _total[info["generation"]] += time.perf_counter() - _started
        _count[info["generation"]] += 1


gc.callbacks.append(_callback)


def pytest_sessionstart(session: pytest.Session) -> None:
    threshold = os.environ.get("PYTEST_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(*(int(n) for n in threshold.split(",")))


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = Path(os.environ.get("PYTEST_GC_TIME", "/tmp/gc-time"))
    folder.mkdir(parents=True, exist_ok=True)
    name = os.environ.get("PYTEST_XDIST_WORKER", "ctl")
    (folder / f"{name}.txt").write_text(
        f"{name}: threshold {gc.get_threshold()}: GC {sum(_total):.2f} s, full passes "
        f"{_total[2]:.2f} s; collections by generation {_count}\n", encoding="utf-8")
