"""`pytest -n 2` keeps each prompt version's tests on one worker, so each version is evaluated and
reported once (that a run then writes one run folder per version and equals a serial run is
tests/test_xdist.py, on the real model).

A subprocess with two real xdist workers, on tests that ask for `prompt_version` and
`critical_case` but evaluate nothing (no model, no report: ~2 s instead of ~10 s with the fake
model). This broke without a failing test: the workers never marked a version's group (xdist
decides `loadgroup` per worker from its own command line, where `-n 2` names no `--dist`; and
this repository loads xdist as `xdist.plugin`, so `hasplugin("xdist")` was false), and pytest 9.2
keeps node ids where xdist 3.8 no longer writes the group (pytest-xdist issue #1386). Each worker
that got one of a version's tests evaluated that version again and wrote its own run folder."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.conftest import copy_task

VERSIONED = """
import pytest

pytestmark = pytest.mark.harness_task("subjectivity")


def test_thresholds(prompt_version):
    pass


def test_baseline(prompt_version):
    pass


def test_critical(critical_case):
    pass


@pytest.mark.xdist_group("mine")
@pytest.mark.parametrize("n", range(6))
def test_a_users_own_group(n):
    pass
"""


def _workers(out: str, pattern: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for worker, group in re.findall(rf"^\[(gw\d)\] .*? PASSED .*?{pattern}", out, re.M):
        found[group].add(worker)
    return found


def test_each_version_and_group_runs_on_one_worker(pytester):
    copy_task(pytester.path, rows=340)  # all of it: its 8 critical cases are tests too
    pytester.makepyfile(test_gate=VERSIONED)
    # `-n 2` alone, as users type it (the plugin turns xdist's default `load` into `loadgroup`)
    result = pytester.runpytest_subprocess("-n", "2", "-v", "-rA", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert result.ret == 0, out
    # The controller reports each test by its own id: the `@group` is the scheduler's business
    # (in a summary line pytest 9.2 printed `test_critical[subjectivity/v1/...]@harness-...]`).
    assert "@" not in out, [line for line in out.splitlines() if "@" in line][:3]
    result.assert_outcomes(passed=2 * 10 + 6)
    versions = _workers(out, r"\[subjectivity/(v\d+)[\]/]")
    assert set(versions) == {"v1", "v2"}, out
    # 10 tests per version (2 + 8 critical cases): without the groups xdist hands them out one
    # by one to whichever worker is free, and both workers would evaluate both versions.
    assert all(len(w) == 1 for w in versions.values()), dict(versions)
    assert all(len(w) == 1 for w in _workers(out, r"(test_a_users_own_group)").values())


def test_a_pytest_that_keeps_ids_out_of_reach_gets_a_warning_not_silence():
    """If a future pytest stores node ids where neither write reaches, each worker would again
    evaluate every version it got a test of: the run says so."""
    from harness.pytest_plugin import _name_groups

    class Item:
        nodeid = "test_gate.py::test_thresholds[subjectivity/v1]"  # no write changes it

        def __init__(self):
            self.stash = {}

        def iter_markers(self, name):
            return [pytest.mark.xdist_group("harness-subjectivity-v1").mark]

    class Config:
        warned: list[Warning] = []

        def issue_config_time_warning(self, warning, stacklevel):
            self.warned.append(warning)

    config = Config()
    _name_groups(config, [Item(), Item()])
    (warning,) = config.warned
    assert "could not group 2 test(s)" in str(warning) and "without -n" in str(warning)


@pytest.mark.parametrize(("nodeid", "plain"), [
    ("t.py::test_x[subjectivity/v1/s-1]@harness-subjectivity-v1",
     "t.py::test_x[subjectivity/v1/s-1]"),
    ("t.py::test_x@chromium", "t.py::test_x"),
    ("t.py::test_x[a@b]", "t.py::test_x[a@b]"),  # an @ of the test's own parameters stays
    ("dir@home/t.py::test_x", "dir@home/t.py::test_x"),
])
def test_a_crashed_workers_report_names_the_test_without_its_group(nodeid, plain):
    """The one report the controller makes itself (a test that took its worker down) comes from
    the scheduler's id, which has the group; it is taken off before the summary sees it."""
    from types import SimpleNamespace

    from harness.pytest_plugin import _GROUPS_KEY, pytest_runtest_logreport

    report = pytest.TestReport(nodeid, ("t.py", 1, "test_x"), {}, "failed", None, "call")
    report.node = SimpleNamespace(workerinput={_GROUPS_KEY: True})
    pytest_runtest_logreport(report)
    assert report.nodeid == plain


def test_an_id_xdist_already_grouped_gets_its_plain_id_back_too():
    """pytest < 9.2 with an explicit `--dist loadgroup`: xdist appended the group itself."""
    from harness.pytest_plugin import _PLAIN_ID, _name_groups

    class Item:
        nodeid = "t.py::test_x[v1]@g"

        def __init__(self):
            self.stash = {}

        def iter_markers(self, name):
            return [pytest.mark.xdist_group("g").mark]

    item = Item()
    _name_groups(None, [item])
    assert item.stash[_PLAIN_ID] == "t.py::test_x[v1]" and item.nodeid == "t.py::test_x[v1]@g"
