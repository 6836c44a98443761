"""pytest plugin (entry point `pytest11: harness`): prompt versions x fixtures as parametrized tests.

An eval module names its task and asks for fixtures; versions are found on disk:

    pytestmark = pytest.mark.harness_task("subjectivity")

    def test_thresholds(harness_gate, prompt_version):
        harness_gate.check_thresholds(prompt_version)

Each (task, version, split) is evaluated once per session and shared by every test that needs it.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import harness
from harness import MODES, HarnessError, load_settings, wording
from harness.config import SPLIT_CHOICES, THREADS_ENV, available_cores
from harness.errors import strict_warnings


if TYPE_CHECKING:
    from harness import Evaluation, Session, Settings

_STATE = pytest.StashKey["_HarnessState"]()
_GROUPS_KEY = "harness_loadgroup"  # in xdist's workerinput: the controller schedules by group
_PLAIN_ID = pytest.StashKey[str]()  # a test's id before its xdist group was appended

# (namespaced option, short alias, argparse attributes). The namespaced names are always there
# and cannot clash with another plugin; the short alias (what the README shows) is added after
# every plugin and initial conftest has registered its options, and only when nobody took it.
_OPTIONS = (
    ("--harness-model", "--model", dict(
        default=None, metavar="MODEL",
        help="model for evals: `local` (embedded SmolLM2-135M, default), "
             "`local:/path/model.gguf` or `openai:<model>` (OpenAI-compatible)")),
    ("--harness-mode", "--mode", dict(
        choices=MODES, default=None,
        help="how labels are obtained: score (default) | generate | constrained")),
    ("--harness-split", "--split", dict(
        choices=SPLIT_CHOICES, default=None, help="fixture split the gates use (default: test)")),
    ("--harness-limit", "--limit", dict(
        type=int, default=None, metavar="N",
        help="N examples of the split only (a seeded, label-stratified sample)")),
    ("--harness-no-cache", "--no-cache", dict(
        action="store_true", help="bypass the model response cache")),
    ("--harness-cache-only", "--cache-only", dict(
        action="store_true",
        help="replay recorded responses only; a miss fails (no model needed)")),
    ("--harness-report-dir", "--report-dir", dict(
        default=None, metavar="DIR", help="where reports go (default: reports/)")),
    ("--harness-concurrency", "--concurrency", dict(
        type=int, default=None, metavar="N",
        help="remote model calls in flight at once (default 8; HARNESS_CONCURRENCY)")),
    # Selection by git: the same versions `harness ci --base REF` evaluates (affected: something
    # they use changed; new), computed by the same function; the others are deselected.
    ("--harness-changed-since", "--changed-since", dict(
        default=None, metavar="REF",
        help="only the prompt versions a change since git REF affects (what `harness ci "
             "--base REF` evaluates); the others are deselected")),
    # Not --base-url: pytest-base-url (common with Playwright/Selenium) owns that name.
    ("--harness-base-url", "--model-base-url", dict(
        default=None, metavar="URL",
        help="OpenAI-compatible endpoint for openai:<model> (default: OPENAI_BASE_URL, else "
             "api.openai.com)")),
)


def _dest(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "prompt evaluation (promptgate)")
    for name, _alias, attrs in _OPTIONS:
        group.addoption(name, dest=_dest(name), **attrs)
    group.addoption("--prompt-version", action="append", default=None, metavar="VN",
                    help="only these prompt versions (repeatable); default: all on disk")
    group.addoption("--update-baseline", action="store_true",
                    help="rewrite evals/baselines/<task>/<version>.json from this run")
    group.addoption("--harness-strict-baseline", action="store_true",
                    dest="harness_strict_baseline",
                    help="fail any drop beyond baseline_tolerance, without the paired test "
                         "(task.yaml `baseline_rule: strict` does this per task)")
    group.addoption("--harness-strategy", default=None, metavar="NAME", dest="harness_strategy",
                    help="gate this prompting strategy instead of what each version declares "
                         "(exploration: the summary marks every run OVERRIDE)")
    group.addoption("--harness-strict", action="store_true", dest="harness_strict",
                    help="treat warnings about the inputs (unknown keys in task.yaml or fixture "
                         "rows, most likely typos) as errors")


def _taken(parser: pytest.Parser) -> set[str]:
    names: set[str] = set(getattr(parser, "_opt2dest", {}))
    for group in getattr(parser, "_groups", ()):
        for option in group.options:
            names.update(option.names())
    return names


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]):
    result = yield
    taken = _taken(parser)
    group = parser.getgroup("harness")
    for name, alias, attrs in _OPTIONS:
        if alias not in taken:
            group.addoption(alias, dest=_dest(name), **{**attrs, "help": f"same as {name}"})
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness_task(name): the task an eval module tests")
    config.stash[_STATE] = _HarnessState(config)
    if getattr(config.option, "dist", "no") == "load":
        # `pytest -n N`: keep each prompt version's tests on one worker (see
        # pytest_collection_modifyitems), so it is evaluated and reported once, not per worker.
        config.option.dist = "loadgroup"
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if hasattr(config, "workerinput") and workers.isdigit() and not os.environ.get(THREADS_ENV):
        # N model processes on C cores: C // N llama.cpp threads each. More threads than cores
        # spin against each other (two processes x 2 threads on 2 cores ran ~20x slower).
        os.environ[THREADS_ENV] = str(max(1, available_cores() // max(1, int(workers))))


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.changes()  # a bad --changed-since REF is a usage error before anything is collected


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(_STATE, None)
    changes = state.changes() if state is not None else None
    if changes is None:
        return None
    picked = ", ".join(c.id for c in changes.evaluated) or "none"
    return [f"harness: changed since {config.getoption('harness_changed_since')} "
            f"({changes.base[:12]}): evaluating {picked}; {len(changes.unaffected)} not "
            f"affected (deselected), {len(changes.deleted)} deleted (listed at the end)"]


def _changed_since_lines(ref: str, changes: Any) -> list[str]:
    """Every version with its status and reason, for the terminal summary (shown with -q too,
    unlike the header)."""
    picked = changes.evaluated
    if picked:
        lines = [f"{len(picked)} prompt version{'s' if len(picked) != 1 else ''} selected, as "
                 f"`harness ci --base {ref}` would evaluate:"]
    else:
        lines = [f"no prompt version changed since {ref}: nothing evaluated"]
    for change in (*picked, *changes.unaffected, *changes.deleted):
        status = "not affected, deselected" if change in changes.unaffected else change.status
        lines.append(f"  {change.id}: {status} ({change.reason})")
    return lines


def _version_of(item: pytest.Item) -> tuple[str, str] | None:
    """(task, version) of an eval test parametrized by the plugin, else None."""
    task = _task_of(item)
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("critical_case")  # (version, id); not a tuple when there is none
    version = params.get("prompt_version") or (case[0] if isinstance(case, tuple) else None)
    return (task, version) if task and isinstance(version, str) else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, per worker: a worker parses the command line again (`-n 2` names no
    `--dist`), so it would not know that the controller now schedules by group."""
    node.workerinput[_GROUPS_KEY] = node.config.getoption("dist") == "loadgroup"


@pytest.hookimpl(wrapper=True)  # the first part before xdist reads the marks on the workers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    _select_and_group(config, items)
    yield
    if getattr(config, "workerinput", {}).get(_GROUPS_KEY):
        _name_groups(config, items)


def _select_and_group(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(_STATE, None)
    changes = state.changes() if state is not None else None
    if changes is not None:
        # Deselected, not skipped: a version nothing changed for is not part of this run (as
        # with -k), and one SKIPPED line per test and critical case of every untouched version
        # would bury the versions that ran. The terminal summary lists them with the reason.
        chosen = {(c.task, c.version) for c in changes.evaluated}
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            key = _version_of(item)
            (dropped if key is not None and key not in chosen else kept).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
            state.deselected += len(dropped)
    if not hasattr(config, "workerinput"):
        # Only an xdist worker's marks are read (the controller collects nothing). Not
        # hasplugin("xdist"): loaded through `-p xdist.plugin` or a conftest, that is its name.
        return
    for item in items:
        key = _version_of(item)
        if key is not None:
            item.add_marker(pytest.mark.xdist_group(f"harness-{key[0]}-{key[1]}"))


def _name_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker of a `loadgroup` run: the controller reads a test's group from the end of its
    node id (`...[v1]@harness-task-v1`), which xdist writes only when the worker itself was given
    `--dist loadgroup`, and only into pytest's pre-9.2 node id attribute (pytest-xdist issue
    #1386; 3.8.0 with pytest 9.2 groups nothing). Every test with an `xdist_group` mark whose id
    does not end with its group gets it here; if this pytest keeps node ids where neither write
    reaches, a warning says so instead of letting each worker evaluate the same versions. Once
    the ids are sent, pytest_collection_finish puts the plain ones back."""
    lost = 0
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if not names:
            continue
        if item.nodeid.endswith(suffix):  # xdist's own doing (pytest < 9.2, --dist loadgroup)
            item.stash[_PLAIN_ID] = item.nodeid[:-len(suffix)]
            continue
        nodeid = item.nodeid + suffix
        item.stash[_PLAIN_ID] = item.nodeid
        _set_nodeid(item, nodeid)
        lost += item.nodeid != nodeid
    if lost:
        config.issue_config_time_warning(pytest.PytestWarning(
            f"harness: could not group {lost} test(s) by xdist_group on this pytest: xdist may "
            "split a prompt version over workers, each evaluating it; run evals without -n"),
            stacklevel=2)


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    structured = getattr(item, "_id", None)  # pytest >= 9.2: a NodeId with .parse()
    if structured is not None and hasattr(type(structured), "parse"):
        item._id = type(structured).parse(nodeid)
    else:
        item._nodeid = nodeid


@pytest.hookimpl(trylast=True)  # after xdist's worker sent the ids (with groups) to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    """On a worker: the tests' own ids again, now that the controller has scheduled by group
    (it tracks tests by index from here on), so what the worker reports (logstart lines, test
    reports, the summary, junitxml, `--lf`) names tests as a run without `-n` does."""
    if not getattr(session.config, "workerinput", {}).get(_GROUPS_KEY):
        return  # every other pytest run of a venv with harness installed: nothing to walk
    for item in session.items:
        plain = item.stash.get(_PLAIN_ID, None)
        if plain is not None:
            _set_nodeid(item, plain)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """xdist's controller, before anyone reads a worker's report: the report of a test that
    crashed its worker is made here from the scheduler's id, which has the `@group`; without it
    the summary, junitxml and `--lf` name a test that does not exist (and pytest 9.2 prints
    `...[v2]@group]`, re-parsing the brackets)."""
    node = getattr(report, "node", None)  # set by xdist on the reports of its workers
    if node is None or not getattr(node, "workerinput", {}).get(_GROUPS_KEY):
        return
    nodeid = report.nodeid
    at = nodeid.rfind("@")
    if at > max(nodeid.rfind("]"), nodeid.rfind("::")):
        report.nodeid = nodeid[:at]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


class _HarnessState:
    """Per-session state: one library Session, created on first use (plain unit-test runs never
    load a model, nor the libraries behind it)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._session: Session | None = None
        # pytest-xdist: each worker evaluates and writes the run folders of the versions it
        # was given (the plugin groups a version's tests on one worker); the controller merges
        # the workers' summaries, writes the comparisons and the index, and sets the exit code.
        self.on_worker = hasattr(config, "workerinput")
        self.worker_rows: list[dict] = []  # summaries sent by xdist workers (controller only)
        self.comparisons: list[str] = []  # comparison pages written at session end
        self._changes: Any = None  # harness.affected_versions(...) for --changed-since
        self.deselected = 0  # items --changed-since deselected

    def changes(self) -> Any:
        """The ChangeSet since --harness-changed-since REF (None without the option), computed
        once by the function `harness ci` uses."""
        ref = self.config.getoption("harness_changed_since")
        if ref is None:
            return None
        if self._changes is None:
            try:
                self._changes = harness.affected_versions(self.settings.root, ref)
            except HarnessError as exc:
                raise pytest.UsageError(f"--changed-since {ref}: {exc}") from None
        return self._changes

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def session(self) -> Session:
        if self._session is None:
            opt = self.config.getoption
            if opt("harness_no_cache") and opt("harness_cache_only"):
                raise pytest.UsageError("--harness-no-cache and --harness-cache-only exclude "
                                        "each other")
            cache = "off" if opt("harness_no_cache") else \
                "replay" if opt("harness_cache_only") else None
            try:
                settings = load_settings(Path(self.config.rootpath), overrides={
                    "model": opt("harness_model"), "mode": opt("harness_mode"),
                    "split": opt("harness_split"), "limit": opt("harness_limit"),
                    "cache": cache, "report_dir": opt("harness_report_dir"),
                    "concurrency": opt("harness_concurrency"),
                    "base_url": opt("harness_base_url"),
                    "strategy": opt("harness_strategy"),
                    "strict_baseline": opt("harness_strict_baseline") or None})
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
            self._session = harness.Session(settings)
        return self._session

    def strict(self) -> AbstractContextManager[None]:
        """--harness-strict: a HarnessWarning (an unknown key...) raises as a HarnessError."""
        return strict_warnings() if self.config.getoption("harness_strict") else nullcontext()

    def evaluate(self, task: str, version: str, split: str | None = None) -> Evaluation:
        try:
            with self.strict():
                evaluation = self.session.evaluate(task, version, split=split)
        except HarnessError as exc:
            pytest.fail(f"{task}/{version}: {exc}", pytrace=False)
        if evaluation.result.errors:
            # Not a quality verdict: the gate cannot judge examples the model never answered.
            pytest.fail(wording.calls_failed(evaluation), pytrace=False)
        return evaluation

    def evaluations(self) -> list[Evaluation]:
        if self._session is None:
            return []
        return self._session.evaluations()

    def rows(self) -> list[dict]:
        """What the summary shows of every evaluation: this process's, then the workers' (which
        finish in any order: sorted by task, then version as on disk)."""
        return [_summary_row(e) for e in self.evaluations()] + sorted(
            self.worker_rows, key=lambda row: (row["group"][0], self._position(row)))

    def _position(self, row: dict) -> tuple[int, str]:
        order = self.session.versions(row["group"][0])
        version = row["version"]
        return (order.index(version) if version in order else len(order), version)

    def write_comparisons(self) -> None:
        """After the session: one comparison page per task evaluated in several versions (same
        model, mode, split and limit), from the run folders written here or by the workers."""
        if self.on_worker:
            return
        groups: dict[tuple, dict[str, str]] = {}
        for row in self.rows():
            if row["report_dir"]:
                groups.setdefault(tuple(row["group"]), {})[row["version"]] = row["report_dir"]
        try:
            self.comparisons = []
            for dirs in groups.values():
                if len(dirs) > 1:  # rows() is in version order already
                    self.comparisons.append(str(self.session.compare(list(dirs.values()))))
        except HarnessError as exc:
            self.comparisons = [f"(no comparison written: {exc})"]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _task_of(node: pytest.Item | pytest.Module | pytest.Function | object) -> str | None:
    marker = node.get_closest_marker("harness_task")  # type: ignore[union-attr]
    return marker.args[0] if marker and marker.args else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wants_version = "prompt_version" in metafunc.fixturenames
    wants_case = "critical_case" in metafunc.fixturenames
    if not (wants_version or wants_case):
        return
    task = _task_of(metafunc.definition)
    if task is None:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: uses prompt_version/critical_case "
                                f"but its module has no pytest.mark.harness_task('<task>')")
    state: _HarnessState = metafunc.config.stash[_STATE]
    try:
        with state.strict():
            versions = state.session.versions(task)
            cases_of_task = state.session.critical_cases(task) if wants_case else []
        chosen = metafunc.config.getoption("prompt_version")
        if chosen:
            unknown = [v for v in chosen if v not in versions]
            if unknown:
                raise HarnessError(f"--prompt-version {', '.join(unknown)}: not a version of "
                                        f"{task!r}; versions on disk: {', '.join(versions)}")
            versions = [v for v in versions if v in chosen]
        if wants_version:
            metafunc.parametrize("prompt_version", versions, ids=[f"{task}/{v}" for v in versions])
        if wants_case:
            cases = [(v, case) for v in versions for case in cases_of_task]
            metafunc.parametrize("critical_case", cases,
                                 ids=[f"{task}/{v}/{case_id}" for v, case_id in cases])
    except HarnessError as exc:
        # A collection error showing just our message (file:line and the fix), no traceback.
        raise pytest.Collector.CollectError(str(exc)) from None


class Gate:
    """What an eval test asserts. Failures are one readable message, no traceback."""

    def __init__(self, state: _HarnessState, task: str) -> None:
        self._state = state
        self.task = task

    def evaluation(self, version: str) -> Evaluation:
        return self._state.evaluate(self.task, version)

    def check_thresholds(self, version: str) -> None:
        evaluation = self.evaluation(version)
        if evaluation.retired:
            pytest.skip(f"{self.task}/{version} is retired in task.yaml: reported, not gated")
        if not evaluation.thresholds.passed:
            pytest.fail(harness.describe_failure(
                evaluation.thresholds, evaluation.metrics,
                title=f"{self.task}/{version} misses task.yaml thresholds "
                      f"(report: {evaluation.report_dir})"), pytrace=False)

    def check_baseline(self, version: str) -> None:
        evaluation = self.evaluation(version)
        if self._state.config.getoption("update_baseline"):
            critical = self._state.evaluate(self.task, version, split="critical")
            path = self._state.session.update_baseline(evaluation, critical)
            print(f"baseline written: {path}")
            return
        gate = evaluation.baseline
        if gate.skipped.startswith("invalid baseline"):
            pytest.fail(f"{self.task}/{version}: {gate.skipped}", pytrace=False)
        if gate.skipped:
            pytest.skip(gate.skipped)
        if evaluation.retired:  # retired versions are reported, never gated
            pytest.skip(f"{self.task}/{version} is retired in task.yaml: reported, not gated "
                        f"({wording.baseline_status(evaluation)})")
        if not gate.passed:
            pytest.fail(harness.describe_failure(
                gate, evaluation.metrics,
                title=f"{self.task}/{version} regressed against its baseline "
                      f"(accept with --update-baseline if intended)"), pytrace=False)

    def check_critical(self, case: tuple[str, str]) -> None:
        version, case_id = case
        evaluation = self._state.evaluate(self.task, version, split="critical")
        index = next(i for i, e in enumerate(evaluation.result.examples) if e.id == case_id)
        example, prediction = evaluation.result.examples[index], evaluation.result.predictions[index]
        if prediction.correct:
            return
        before = self._baseline_case(evaluation, version, case_id)
        shown = prediction.predicted if prediction.predicted else f"error: {prediction.error}"
        lines = [f"{self.task}/{version}: critical case {case_id!r} "
                 f"({evaluation.result.task.dataset.name}:{example.line})",
                 *(f"  {name}: {value}" for name, value in example.inputs.items()),
                 f"  expected:  {prediction.expected}",
                 f"  predicted: {shown} (confidence {_confidence(prediction.confidence)})"]
        if before is not None:
            lines.append(f"  baseline:  {before.predicted} (confidence "
                         f"{_confidence(before.confidence)})"
                         + ("" if not before.correct else " -> flipped since the baseline"))
        message = "\n".join(lines)
        if before is not None and not before.correct:
            pytest.xfail("known failure recorded in the baseline\n" + message)
        pytest.fail(message, pytrace=False)

    def _baseline_case(self, evaluation: Evaluation, version: str, case_id: str):
        record = evaluation.baseline_record
        if record is None:
            try:
                record = self._state.session.baseline(self.task, version)
            except HarnessError:
                return None
        return record.critical_outcome(case_id) if record is not None else None


def _confidence(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@pytest.fixture
def harness_gate(request: pytest.FixtureRequest) -> Gate:
    task = _task_of(request.node)
    if task is None:
        raise pytest.UsageError(f"{request.node.nodeid}: harness_gate needs "
                                f"pytest.mark.harness_task('<task>') on the module")
    return Gate(request.config.stash[_STATE], task)


@pytest.fixture(scope="session")
def harness_session(request: pytest.FixtureRequest) -> Session:
    """The library Session for this pytest run (for custom eval tests)."""
    return request.config.stash[_STATE].session


# pytest uses 0-5; this says "model calls failed (infrastructure): results are partial", so CI can
# tell a flaky endpoint (re-run: finished calls are cached) from a prompt that got worse.
EXIT_MODEL_ERRORS = 6


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    if state.on_worker:
        session.config.workeroutput[_WORKER_KEY] = json.dumps(  # type: ignore[attr-defined]
            [_summary_row(e) for e in state.evaluations()])
        return
    state.write_comparisons()
    changes = state.changes()
    if changes is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and (
            state.deselected or not changes.evaluated):  # (under xdist workers deselect)
        # --changed-since found no prompt version to check: that is a pass, not "no tests".
        session.exitstatus = pytest.ExitCode.OK
    errored = any(row["errored"] for row in state.rows())
    if errored and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = EXIT_MODEL_ERRORS


_WORKER_KEY = "harness_evaluations"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: a worker finished; keep the summaries of what it evaluated."""
    state = node.config.stash.get(_STATE, None)
    output = getattr(node, "workeroutput", None) or {}
    if state is not None and _WORKER_KEY in output:
        state.worker_rows.extend(json.loads(output[_WORKER_KEY]))


def _summary_row(e: Evaluation) -> dict:
    """An evaluation as the summary and the comparisons need it; plain JSON, so an xdist worker
    can send it to the controller."""
    spec = e.result.spec
    return {"name": e.name, "version": spec.version, "metrics": e.metrics.as_dict(),
            "status": wording.status(e), "baseline": wording.baseline_status(e),
            "notes": wording.notes(e), "errored": bool(e.result.errors),
            "report_dir": str(e.report_dir) if e.report_dir is not None else "",
            "group": [spec.task, spec.model, spec.mode, spec.split, spec.limit]}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    rows = state.rows() if state else []
    changes = state.changes() if state else None
    if changes is not None:
        ref = config.getoption("harness_changed_since")
        terminalreporter.section(f"harness: changed since {ref} ({changes.base[:12]})")
        for line in _changed_since_lines(ref, changes):
            terminalreporter.write_line(line)
    if not rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section("harness: prompt evaluations")
    s = state.settings
    write(f"model={s.model} mode={s.mode} split={s.split}" + (f" limit={s.limit}" if s.limit else ""))
    write(harness.metrics_table([(row["name"], harness.Metrics.from_dict(row["metrics"]),
                                  row["status"]) for row in rows]))
    for row in rows:
        write(row["baseline"])
        for note in row["notes"]:
            write(note, red=row["errored"] and "model calls failed" in note)
    for row in rows:
        if row["report_dir"]:
            write(f"report: {Path(row['report_dir']) / 'index.html'}")
    for path in state.comparisons:
        write(f"comparison: {path}")
    if any(row["report_dir"] for row in rows):
        write(f"all runs: {state.session.report_root / 'index.html'}")
