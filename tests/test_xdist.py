"""`pytest -n 2 evals/` (pytest-xdist) against the serial run, on the real embedded model.

Workers evaluate and write the run folders of the versions they were given (the plugin keeps a
version's tests on one worker); the controller merges their summaries, writes the comparison
and the index. What the workers computed is replayed serially from the cache: same outcomes,
same metrics, the baselines they wrote gate the serial run."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO, copy_task

pytestmark = pytest.mark.model

EVAL = (REPO / "evals" / "test_subjectivity.py").read_text(encoding="utf-8")
ARGS = ("--harness-split", "all", "--harness-limit", "8", "-p", "no:cacheprovider", "-rA")


def _main_metrics(report_root):
    values = {}
    for path in sorted(report_root.glob("*/metrics.json")):
        data = json.loads(path.read_text())
        spec = data["spec"]
        values[spec["version"]] = (spec["n_examples"], data["metrics"]["macro_f1"],
                                   data["metrics"]["accuracy"])
    return values


def test_xdist_run_equals_the_serial_run_with_one_set_of_reports(pytester):
    pytester.plugins = []
    # All rows: with their 8 critical cases each version has 10 tests. With 40 rows (2 tests per
    # version) xdist happened to pair them up, and this test passed while the groups were lost
    # (tests/test_xdist_groups.py says how).
    copy_task(pytester.path, rows=340)
    pytester.makepyfile(test_gate=EVAL)

    parallel = pytester.runpytest_subprocess("-n", "2", "-v", *ARGS, "--update-baseline")
    out = parallel.stdout.str()
    assert parallel.ret == 0, out
    workers: dict[str, set[str]] = {}
    for worker, version in re.findall(r"^\[(gw\d)\] .*?\[subjectivity/(v\d+)[\]/]", out, re.M):
        workers.setdefault(version, set()).add(worker)
    assert sorted(workers) == ["v1", "v2"] and all(len(w) == 1 for w in workers.values()), \
        workers
    # One run folder per version, not one per worker; the controller's summary lists both.
    folders = sorted(json.loads(p.read_text())["spec"]["version"]
                     for p in (pytester.path / "reports").glob("*/metrics.json"))
    assert folders == ["v1", "v2"], folders
    parallel.stdout.fnmatch_lines(["*harness: prompt evaluations*", "subjectivity/v1 * 8 *",
                                   "subjectivity/v2 * 8 *",
                                   "*comparison: *compare*subjectivity-v1-v2-*.html",
                                   "*all runs: *reports*index.html"])
    index = (pytester.path / "reports" / "index.html").read_text()
    assert all(p.parent.name in index for p in (pytester.path / "reports").glob("*/metrics.json"))
    for version in ("v1", "v2"):
        baseline = pytester.path / "evals" / "baselines" / "subjectivity" / f"{version}.json"
        assert len(json.loads(baseline.read_text())["outcomes"]) == 8

    # Gate against those baselines, in parallel and serially, replaying what the workers cached.
    gated = pytester.runpytest_subprocess("-n", "2", *ARGS, "--harness-cache-only",
                                          "--harness-report-dir", "reports-parallel")
    serial = pytester.runpytest_subprocess(*ARGS, "--harness-cache-only",
                                           "--harness-report-dir", "reports-serial")
    assert gated.ret == 0 and serial.ret == 0, serial.stdout.str()
    assert _main_metrics(pytester.path / "reports-serial") == \
        _main_metrics(pytester.path / "reports-parallel") == \
        _main_metrics(pytester.path / "reports")
    for run in (gated, serial):
        run.stdout.fnmatch_lines(["*subjectivity/v2 vs baseline: pass (0 fixed, 0 broken)*"])
    counts = {k: v for k, v in gated.parseoutcomes().items() if k != "warnings"}
    assert counts == {k: v for k, v in serial.parseoutcomes().items() if k != "warnings"}
