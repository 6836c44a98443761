"""pytest plugin (entry point `pytest11: harness`): prompt versions x fixtures as parametrized tests.

An eval module names its task and asks for fixtures; versions are found on disk:

    pytestmark = pytest.mark.harness_task("subjectivity")

    def test_thresholds(harness_gate, prompt_version):
        harness_gate.check_thresholds(prompt_version)

Each (task, version, split) is evaluated once per session and shared by every test that needs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import (Evaluation, HarnessError, Session, Settings, collapse_note, describe_failure,
                     load_settings, metrics_table)
from harness.config import SPLIT_CHOICES
from harness.records import MODES

_STATE = pytest.StashKey["_HarnessState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "prompt evaluation (promptgate)")
    group.addoption("--model", default=None,
                    help="model for evals: `local` (embedded SmolLM2-135M, default), "
                         "`local:/path/model.gguf` or `openai:<model>` (OpenAI-compatible)")
    group.addoption("--mode", choices=MODES, default=None,
                    help="how labels are obtained: score (default) | generate | constrained")
    group.addoption("--prompt-version", action="append", default=None, metavar="VN",
                    help="only these prompt versions (repeatable); default: all on disk")
    group.addoption("--split", choices=SPLIT_CHOICES, default=None,
                    help="fixture split the gates use (default: test)")
    group.addoption("--limit", type=int, default=None, help="first N examples of the split only")
    group.addoption("--no-cache", action="store_true", help="bypass the model response cache")
    group.addoption("--cache-only", action="store_true",
                    help="replay recorded responses only; a miss fails (no model needed)")
    group.addoption("--report-dir", default=None, help="where reports go (default: reports/)")
    group.addoption("--update-baseline", action="store_true",
                    help="rewrite evals/baselines/<task>/<version>.json from this run")
    group.addoption("--concurrency", type=int, default=None, metavar="N",
                    help="remote model calls in flight at once (default 8; HARNESS_CONCURRENCY)")
    # Not --base-url: pytest-base-url (common with Playwright/Selenium) owns that name.
    group.addoption("--model-base-url", default=None, metavar="URL",
                    help="OpenAI-compatible endpoint for openai:<model> (default: "
                         "OPENAI_BASE_URL, else api.openai.com)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness_task(name): the task an eval module tests")
    config.stash[_STATE] = _HarnessState(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


class _HarnessState:
    """Per-session state: one library Session, created on first use (plain unit-test runs never
    load a model)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._session: Session | None = None
        self.on_worker = hasattr(config, "workerinput")  # xdist: workers write nothing
        self.comparisons: list[str] = []  # comparison pages written at session end

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def session(self) -> Session:
        if self._session is None:
            opt = self.config.getoption
            if opt("no_cache") and opt("cache_only"):
                raise pytest.UsageError("--no-cache and --cache-only exclude each other")
            cache = "off" if opt("no_cache") else "replay" if opt("cache_only") else None
            try:
                settings = load_settings(Path(self.config.rootpath), overrides={
                    "model": opt("model"), "mode": opt("mode"), "split": opt("split"),
                    "limit": opt("limit"), "cache": cache, "report_dir": opt("report_dir"),
                    "concurrency": opt("concurrency"), "base_url": opt("model_base_url")})
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
            self._session = Session(settings)
        return self._session

    def evaluate(self, task: str, version: str, split: str | None = None) -> Evaluation:
        try:
            evaluation = self.session.evaluate(task, version, split=split,
                                               write=not self.on_worker)
        except HarnessError as exc:
            pytest.fail(f"{task}/{version}: {exc}", pytrace=False)
        errors = evaluation.result.errors
        if errors:
            # Not a quality verdict: the gate cannot judge examples the model never answered.
            pytest.fail(f"{task}/{version}: {len(errors)} of {len(evaluation.result.predictions)} "
                        f"model calls failed (infrastructure errors, not wrong answers), so the "
                        f"gate was not evaluated. First: {errors[0].error}\nRe-run to retry only "
                        f"the failed calls (finished ones are cached).", pytrace=False)
        return evaluation

    def evaluations(self) -> list[Evaluation]:
        if self._session is None:
            return []
        return self._session.evaluations()

    def write_comparisons(self) -> None:
        """After the session: one comparison page per task evaluated in several versions."""
        if self._session is None or self.on_worker:
            return
        try:
            self.comparisons = [str(p) for p in self._session.compare_session_versions()]
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
        versions = state.session.versions(task)
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
            from harness.datasets import load_fixture
            from harness.tasks import load_task
            fixture = load_fixture(load_task(state.settings.root, task))
            cases = [(v, e.id) for v in versions for e in fixture.select("critical")]
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
        if version in evaluation.result.task.retired:
            pytest.skip(f"{self.task}/{version} is retired in task.yaml: reported, not gated")
        if not evaluation.thresholds.passed:
            pytest.fail(describe_failure(
                evaluation.thresholds, evaluation.metrics,
                title=f"{self.task}/{version} misses task.yaml thresholds "
                      f"(report: {evaluation.report_dir})"), pytrace=False)

    def check_baseline(self, version: str) -> None:
        evaluation = self.evaluation(version)
        if self._state.config.getoption("update_baseline"):
            if self._state.on_worker:
                pytest.skip("--update-baseline is ignored on xdist workers")
            critical = self._state.evaluate(self.task, version, split="critical")
            path = self._state.session.update_baseline(evaluation, critical)
            print(f"baseline written: {path}")
            return
        if evaluation.baseline.skipped:
            pytest.skip(evaluation.baseline.skipped)
        if not evaluation.baseline.passed:
            pytest.fail(describe_failure(
                evaluation.baseline, evaluation.metrics,
                title=f"{self.task}/{version} regressed against its baseline "
                      f"(accept with --update-baseline if intended)"), pytrace=False)

    def check_critical(self, case: tuple[str, str]) -> None:
        version, case_id = case
        evaluation = self._state.evaluate(self.task, version, split="critical")
        index = next(i for i, e in enumerate(evaluation.result.examples) if e.id == case_id)
        example, prediction = evaluation.result.examples[index], evaluation.result.predictions[index]
        if prediction.correct:
            return
        confidence = "n/a" if prediction.confidence is None else f"{prediction.confidence:.3f}"
        message = "\n".join([
            f"{self.task}/{version}: critical case {case_id!r} "
            f"({evaluation.result.task.dataset.name}:{example.line})",
            *(f"  {name}: {value}" for name, value in example.inputs.items()),
            f"  expected:  {prediction.expected}",
            f"  predicted: {prediction.predicted if prediction.predicted else 'error: ' + str(prediction.error)}"
            f" (confidence {confidence})"])
        known = (evaluation.baseline_record or self._baseline(version) or {}).get("critical", {})
        if known.get(case_id) is False:
            pytest.xfail("known failure recorded in the baseline\n" + message)
        pytest.fail(message, pytrace=False)

    def _baseline(self, version: str) -> dict | None:
        from harness.store import read_baseline
        return read_baseline(self._state.session.baseline_file(self.task, version))


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
    state.write_comparisons()
    errored = any(e.result.errors for e in state.evaluations())
    if errored and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = EXIT_MODEL_ERRORS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    evaluations = state.evaluations() if state else []
    if not evaluations:
        return
    terminalreporter.section("harness: prompt evaluations")
    s = state.settings
    terminalreporter.write_line(f"model={s.model} mode={s.mode} split={s.split}"
                                + (f" limit={s.limit}" if s.limit else ""))
    rows = []
    for e in evaluations:
        status = "pass" if e.thresholds.passed else \
            "FAIL " + "; ".join(c.name for c in e.thresholds.failures)
        if e.metrics.n_errors:
            status = f"not judged: {e.metrics.n_errors} calls failed"
        if e.result.spec.version in e.result.task.retired:
            status = f"retired ({status})"
        rows.append((f"{e.result.spec.task}/{e.result.spec.version}", e.metrics, status))
    terminalreporter.write_line(metrics_table(rows))
    for e in evaluations:
        name = f"{e.result.spec.task}/{e.result.spec.version}"
        if e.result.errors:
            terminalreporter.write_line(
                f"{name}: {len(e.result.errors)} model calls FAILED (infrastructure): "
                f"{e.result.errors[0].error}", red=True)
        if collapsed := collapse_note(e.metrics):
            terminalreporter.write_line(f"{name}: {collapsed}", yellow=True)
        if e.result.without_confidence:
            terminalreporter.write_line(f"{name}: confidence unavailable for "
                                        f"{e.result.without_confidence} answers (no usable "
                                        f"logprobs from the server)")
    for e in evaluations:
        if e.report_dir is not None:
            terminalreporter.write_line(f"report: {e.report_dir / 'index.html'}")
    for path in state.comparisons:
        terminalreporter.write_line(f"comparison: {path}")
    if any(e.report_dir is not None for e in evaluations):
        terminalreporter.write_line(f"all runs: {state.session.report_root / 'index.html'}")
