"""The optimizer loop end to end on the fake model (tests/fake_backend.py, a test double):
acceptance of real gains only, ties, degenerate teacher output, budget, failed calls, resume,
tallies, the time estimate, wording. Seconds, no model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import CallsFailed, TemplateError, UsageError
from harness.cache import Cache
from harness.cli.optimize import describe, summary
from harness.optimizer import OptimizeConfig, events as ev, optimize
from harness.optimizer import evaluation as evaluation_module, journal as journal_module
from harness.optimizer.loop import TIMING_SAMPLE
from harness.optimizer.teacher import ASK
from harness.report.optimize import budget_split, write_optimize_report
from tests.fake_backend import Call, FakeBackend, peaked
from tests.helpers import make_project

TASK_YAML = """\
description: Is a sentence a verifiable fact or an opinion?
dataset: datasets/demo.jsonl
inputs: [text]
labels:
  Objective: States something verifiable.
  Subjective: Expresses an opinion or feeling.
"""

TEMPLATE = """\
{% block system %}
{% block instructions %}
Classify the sentence as {{ labels | map(attribute="name") | join(" or ") }}.
{% endblock %}
{% block demonstrations %}{% endblock %}
Answer with one word.
{% endblock %}
{% block user %}
{{ text }}
{% endblock %}
"""

LOOPING = "The instructions are: - No Correct: No " * 30  # measured on LIAR (issue 16)


def rows(per_label: int = 20) -> list[dict]:
    out = []
    for split in ("train", "validation", "test"):
        for i in range(per_label):
            out.append({"id": f"{split}-o{i}", "text": f"fact {split} {i}",
                        "label": "Objective", "split": split})
            out.append({"id": f"{split}-s{i}", "text": f"opinion {split} {i}",
                        "label": "Subjective", "split": split})
    return out


def project(tmp_path: Path, template: str = TEMPLATE) -> Path:
    return make_project(tmp_path, task_yaml=TASK_YAML, templates={"v1": template}, rows=rows())


# -- the fake backend -----------------------------------------------------------------------------
Rule = Callable[[str, str], str]  # (whole prompt, input text) -> label


def collapsed(system: str, text: str) -> str:
    return "Subjective"


def demos_fix(system: str, text: str) -> str:
    if "Examples:" in system or "MAGIC" in system:
        return "Objective" if text.startswith("fact") else "Subjective"
    return "Subjective"


def demos_fix_validation_only(system: str, text: str) -> str:
    return demos_fix(system, text) if " validation " in text else "Subjective"


def demos_fix_two(system: str, text: str) -> str:
    if text in ("fact validation 0", "fact validation 1"):
        return demos_fix(system, text)
    return "Subjective"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Fake(FakeBackend):
    """The shared fake model (tests/fake_backend.py) with this file's rules: score mode gives
    the rule's label 0.9; generate mode (the teacher) answers the next scripted text.
    `fail(prompt, input text)` -> an error message makes that scoring call fail; `stop_after`
    calls raise KeyboardInterrupt (as Ctrl-C would); each call ticks `clock` by one second, the
    very first by `load_s` more (loading the model)."""

    def __init__(self, rule: Rule = collapsed, teacher: Sequence[str] = (), *,
                 fail: Callable[[str, str], str | None] = lambda prompt, text: None,
                 stop_after: int | None = None, clock: Clock | None = None,
                 load_s: float = 0.0) -> None:
        self.label_rule, self.script, self.asked = rule, list(teacher), 0
        self.score_fail, self.clock, self.load_s = fail, clock, load_s
        super().__init__(self._answer_call, fail=self._fail_call, raise_after=stop_after,
                         raises=KeyboardInterrupt, modes=("score", "generate"))

    def _fail_call(self, call: Call) -> str | None:
        # Asked for every call, failed or not, right after it is counted: the clock's tick.
        if self.clock:
            self.clock.now += 1.0 + (self.load_s if self.calls_made == 1 else 0.0)
        return None if call.mode == "generate" else self.score_fail(call.prompt, call.text)

    def _answer_call(self, call: Call):
        if call.mode == "generate":
            self.asked += 1
            return self.script[(self.asked - 1) % len(self.script)] if self.script else ""
        return peaked(call.labels, self.label_rule(call.prompt, call.text), 0.9)


def config(**changes) -> OptimizeConfig:
    settings = dict(task="demo", start="v1", teacher="fake", model="fake", budget_calls=2000,
                    iterations=2, patience=2, minibatch=10, confirm=1, train_sample=20,
                    errors_shown=4, proposers=("knn", "exemplars"))
    return OptimizeConfig(**{**settings, **changes})


def run(root: Path, fake: Fake, cfg: OptimizeConfig, events: list | None = None, **kwargs):
    return optimize(cfg, root=root, backends=lambda name: fake,
                    cache=Cache(root / ".harness-cache", "record"), report_dir=root / "reports",
                    on_event=(events.append if events is not None else lambda e: None), **kwargs)


def log(result) -> list[dict]:
    text = (result.directory / "log.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def fingerprint(result) -> tuple:
    return (result.winner, [(c.proposer, c.instruction, c.demos) for c in result.candidates],
            [(e.candidate, e.stage, e.score, e.verdict) for e in result.evaluations],
            result.winner_test.score, result.charged, result.calls, result.tokens)


# -- accept only a real gain ----------------------------------------------------------------------
def test_a_real_gain_is_accepted_written_and_holds_on_test(tmp_path):
    root = project(tmp_path)
    result = run(root, Fake(demos_fix), config())
    assert result.winner != 0 and result.written is not None
    g = result.validation_gain
    assert g.delta >= result.config.min_effect and g.pvalue <= result.config.alpha
    assert result.test_gain.delta > 0 and result.holds_on_test is True
    assert "holds on test" in result.written_source
    assert "does NOT hold" not in summary(result, root)


def test_a_validation_gain_that_does_not_hold_on_test_is_reported_as_such(tmp_path):
    root = project(tmp_path)
    result = run(root, Fake(demos_fix_validation_only), config())
    assert result.written is not None and result.validation_gain.pvalue <= 0.05
    assert result.test_gain.delta == 0 and result.holds_on_test is False
    text = summary(result, root)
    assert "the gain does NOT hold on test" in text
    assert "does NOT hold on test" in result.written_source  # the version's header says so
    test_row = next(line for line in text.splitlines() if line.startswith("test"))
    assert "[+0.000, +0.000]" in test_row and "1" in test_row.split()[-1]  # CI and p shown
    html = write_optimize_report(result.directory, result).read_text(encoding="utf-8")
    assert "The gain does NOT hold on test" in html


@pytest.mark.parametrize("min_effect, verdict", [(0.02, "not-significant"), (0.5, "small")])
def test_a_gain_too_small_or_not_significant_is_not_accepted(tmp_path, min_effect, verdict):
    # Two validation examples fixed (of 40): macro-F1 rises by ~0.1, but a paired test cannot
    # tell two flips from noise (measured on LIAR: +0.049 accepted with test p = 0.33).
    root = project(tmp_path)
    events: list = []
    result = run(root, Fake(demos_fix_two), config(minibatch=40, min_effect=min_effect,
                                                   proposers=("knn",)), events)
    confirmed = [e for e in events if isinstance(e, ev.Confirmed)]
    assert confirmed and {e.verdict for e in confirmed} == {verdict}
    assert all(e.gain.delta > 0 for e in confirmed)
    assert result.winner == 0 and result.written is None
    assert not list((root / "prompts" / "demo").glob("v2*"))
    assert "no candidate showed a real gain" in summary(result, root)


def test_ties_on_screening_never_earn_a_full_validation_run(tmp_path):
    events: list = []
    result = run(project(tmp_path), Fake(collapsed), config(iterations=5), events)
    screened = [e for e in events if isinstance(e, ev.Screened)]
    assert screened and {e.verdict for e in screened} == {"tie"}
    assert not [e for e in result.evaluations if e.stage == "validation" and e.candidate != 0]
    assert budget_split(result)["validation (contenders)"] == 0
    assert describe(screened[0]).endswith("tie with the incumbent: not confirmed")
    assert result.stop_reason == "no improvement for 2 iterations (patience)"


# -- degenerate teacher instructions --------------------------------------------------------------
def test_degenerate_teacher_instructions_are_rejected_and_logged_with_the_reason(tmp_path):
    garbage = [LOOPING, "Decide whether the sentence is a fact.<|im_end|>", ASK,
               "Objective Subjective Objective or Subjective, Subjective."]
    events: list = []
    result = run(project(tmp_path), Fake(collapsed, garbage),
                 config(proposers=("teacher",), iterations=4, patience=4), events)
    reasons = [r.reason for r in result.rejections]
    for expected, reason in zip(("repeats itself", "control token '<|im_end|>'",
                                 "copies the meta-prompt", "mostly label names"), reasons):
        assert expected in reason
    assert len(reasons) == 4 and len(result.candidates) == 1  # nothing was ever scored
    logged = [e for e in log(result) if e["event"] == "rejection"]
    assert [e["reason"] for e in logged] == reasons and logged[0]["text"].startswith("The ins")
    wording = [describe(e) for e in events if isinstance(e, ev.ProposalRejected)]
    assert wording[0].startswith("  teacher proposal rejected: repeats itself")


def test_a_good_teacher_instruction_is_scored(tmp_path):
    teacher = ["MAGIC: a sentence that can be checked (numbers, parts, what arrived) is "
               "Objective; a feeling or judgment is Subjective."]
    result = run(project(tmp_path), Fake(demos_fix, teacher),
                 config(proposers=("teacher",), iterations=1))
    assert result.candidates[result.winner].proposer == "teacher" and not result.rejections


# -- budget and wording ---------------------------------------------------------------------------
def test_a_candidate_the_budget_stopped_is_reported_as_not_scored(tmp_path):
    # start 40 + train sample 20 + first candidate 10 = 70 charged (the incumbent's screening
    # prompts are among the start's validation prompts: charged once, already)
    events: list = []
    result = run(project(tmp_path), Fake(collapsed), config(budget_calls=75), events)
    skipped = [e for e in events if isinstance(e, ev.NotScored)]
    assert len(skipped) == 1 and skipped[0].candidate.id == 2
    assert describe(skipped[0]) == ("  candidate 2 (exemplars): not scored on screen: call "
                                    "budget spent")
    assert result.stop_reason == "call budget spent" and result.charged == 70
    html = write_optimize_report(result.directory, result).read_text(encoding="utf-8")
    assert "not scored: call budget spent" in html and "screened out" not in html
    done = next(e for e in events if isinstance(e, ev.IterationDone))
    assert describe(done).endswith("70/75 calls charged, 70 made")


def test_the_start_shows_a_time_estimate_from_a_measured_sample(tmp_path):
    root = project(tmp_path)
    events: list = []
    run(root, Fake(demos_fix), config(), events)
    estimate = next(e for e in events if isinstance(e, ev.TimeEstimate))
    assert estimate.sampled_calls == TIMING_SAMPLE and estimate.calls > 0
    assert estimate.seconds == pytest.approx(estimate.seconds_per_call * estimate.calls)
    assert describe(estimate).startswith("estimated time: about ")
    warm = tmp_path / "warm"
    shutil.copytree(root, warm, ignore=shutil.ignore_patterns("reports", "v2*"))
    events.clear()
    run(warm, Fake(demos_fix), config(), events)
    estimate = next(e for e in events if isinstance(e, ev.TimeEstimate))
    assert estimate.sampled_calls == 0 and describe(estimate).startswith("no time estimate")


def test_the_estimate_leaves_out_the_first_call_that_loads_the_model(tmp_path, monkeypatch):
    # Measured on the busy 2-core machine: timing the load with the sample made the estimate
    # 4.5x too long (17.4 s per call estimated, ~3.8 s real).
    clock = Clock()
    monkeypatch.setattr(evaluation_module, "time", SimpleNamespace(perf_counter=clock))
    events: list = []
    run(project(tmp_path), Fake(demos_fix, clock=clock, load_s=100.0), config(), events)
    estimate = next(e for e in events if isinstance(e, ev.TimeEstimate))
    assert estimate.sampled_calls == TIMING_SAMPLE
    assert estimate.seconds_per_call == pytest.approx(1.0)  # the fake's 1 s a call, no load


def test_each_prompt_is_rendered_once(tmp_path, monkeypatch):
    from harness.prompts import Renderer
    counts: dict[tuple, int] = {}
    render = Renderer.render

    def counting(self, example):
        key = (self.version.content_hash, example.id)
        counts[key] = counts.get(key, 0) + 1
        return render(self, example)

    monkeypatch.setattr(Renderer, "render", counting)
    result = run(project(tmp_path), Fake(demos_fix), config())
    assert result.written is not None and counts and max(counts.values()) == 1


# -- errors are errors ----------------------------------------------------------------------------
def fails_with_demonstrations(system: str, text: str) -> str | None:
    return "HTTP 500: server error" if "Examples:" in system and text.endswith(" 3") else None


def test_failed_calls_stop_the_run_before_any_candidate_is_judged(tmp_path):
    root = project(tmp_path)
    # The start scores fine; screening the first candidate meets one failed call.
    with pytest.raises(CallsFailed, match=r"1 of 10 model calls failed while scoring candidate "
                                          r"1 \(knn\) on screen"):
        run(root, Fake(demos_fix, fail=fails_with_demonstrations), config())
    [directory] = (root / "reports").iterdir()
    lines = [json.loads(x) for x in (directory / "log.jsonl").read_text().splitlines()]
    judged = {x["candidate"] for x in lines if x["event"] == "evaluation"}
    assert judged == {0}  # the start (validation, train errors); candidate 1 never judged
    assert json.loads((directory / "checkpoint.json").read_text())["status"] == "running"
    assert not list((root / "prompts" / "demo").glob("v2*"))


def test_failed_calls_mid_search_then_resume_equals_an_uninterrupted_run(tmp_path):
    reference = run(project(tmp_path / "reference"), Fake(demos_fix), config())
    root = project(tmp_path / "flaky")
    failing = Fake(demos_fix, fail=lambda system, text: "timeout" if " train " in text else None)
    with pytest.raises(CallsFailed, match="on train"):
        run(root, failing, config())
    resumed = run(root, Fake(demos_fix), config(), resume=True)
    assert fingerprint(resumed)[:5] == fingerprint(reference)[:5]


def test_cli_exits_3_when_model_calls_fail(tmp_path, monkeypatch, capsys):
    from harness import Session
    from harness.cli import main
    root = project(tmp_path)
    monkeypatch.chdir(root)
    fake = Fake(demos_fix, fail=lambda system, text: "connection refused")
    monkeypatch.setattr(Session, "backend", lambda self, model=None: fake)
    assert main(["optimize", "demo", "--from", "v1", "--proposer", "knn", "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "1 of 1 model calls failed" in err  # the first call, before the timed sample
    assert "connection refused" in err and "infrastructure errors, not wrong answers" in err
    assert "harness optimize demo --resume" in err


# -- resume ---------------------------------------------------------------------------------------
def test_a_plain_resume_keeps_the_runs_limits_and_says_so(tmp_path):
    root = project(tmp_path)
    first = config(budget_calls=500, iterations=1, patience=1)
    with pytest.raises(KeyboardInterrupt):
        run(root, Fake(demos_fix, stop_after=50), first)
    events: list = []
    # What `harness optimize demo --resume` passes: the CLI defaults, only the task explicit.
    result = run(root, Fake(demos_fix), OptimizeConfig(task="demo"), events, resume=True,
                 explicit={"task"})
    assert (result.config.budget_calls, result.config.iterations, result.config.start) == \
        (500, 1, "v1")
    resumed = next(e for e in events if isinstance(e, ev.Resumed))
    assert ("budget_calls", 500) in resumed.kept and not resumed.changed
    assert "kept as the run was started: budget_calls 500, iterations 1, patience 1, " \
           "target none" in describe(resumed)


def test_resume_changes_only_the_limits_given_explicitly(tmp_path):
    root = project(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(root, Fake(demos_fix, stop_after=50), config(iterations=1))
    with pytest.raises(UsageError, match=r"cannot resume with different settings: seed=5 "
                                         r"\(the run has 0\)"):
        run(root, Fake(demos_fix), config(seed=5), resume=True, explicit={"seed"})
    events: list = []
    result = run(root, Fake(demos_fix), config(iterations=2), events, resume=True,
                 explicit={"iterations", "seed"})  # seed given, but the same: fine
    assert result.config.iterations == 2
    resumed = next(e for e in events if isinstance(e, ev.Resumed))
    assert resumed.changed == (("iterations", 1, 2),)
    assert "changed: iterations 1 -> 2" in describe(resumed)


def test_calls_tokens_and_duration_are_exact_across_a_resume(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(journal_module, "clock", clock)
    reference_fake = Fake(demos_fix, clock=clock)
    reference = run(project(tmp_path / "reference"), reference_fake, config())
    assert reference.calls == reference_fake.calls_made
    assert reference.duration_s == pytest.approx(reference.calls)  # the fake ticks 1 s a call

    clock.now = 0.0
    root = project(tmp_path / "killed")
    first = Fake(demos_fix, stop_after=reference.calls // 2, clock=clock)
    with pytest.raises(KeyboardInterrupt):
        run(root, first, config())
    second = Fake(demos_fix, clock=clock)
    result = run(root, second, config(), resume=True)
    assert first.calls_made + second.calls_made == reference.calls  # none asked twice
    assert (result.calls, result.tokens) == (reference.calls, reference.tokens)
    assert result.duration_s == pytest.approx(reference.calls)  # time before the resume counts


# -- the start template ---------------------------------------------------------------------------
def test_a_start_template_without_the_edited_blocks_is_a_clear_error(tmp_path):
    plain = TEMPLATE.replace("{% block demonstrations %}{% endblock %}\n", "")
    root = project(tmp_path, plain)
    with pytest.raises(TemplateError, match=r"v1.jinja: the optimizer edits blocks that v1 and "
                                            r"the versions it extends do not have: \{% block "
                                            r"demonstrations %\} \(edited by knn, exemplars\)"):
        run(root, Fake(), config())
    assert not (root / "reports").exists()  # refused before a run folder or a model call
    # The teacher only edits `instructions`, which this template has.
    assert run(root, Fake(collapsed, ["MAGIC it is a fact when it can be checked."]),
               config(proposers=("teacher",), iterations=1)).winner == 0


def test_cli_words_every_step_and_summarizes_with_ci_and_p(tmp_path, monkeypatch, capsys):
    from harness import Session
    from harness.cli import main
    monkeypatch.chdir(project(tmp_path))
    fake = Fake(demos_fix, ["Objective Subjective Objective Subjective."])
    monkeypatch.setattr(Session, "backend", lambda self, model=None: fake)
    assert main(["optimize", "demo", "--from", "v1", "--iterations", "1", "--no-progress"]) == 0
    captured = capsys.readouterr()
    err, out = captured.err.splitlines(), captured.out
    assert err[0].startswith("optimizing demo/v1 for macro_f1 on validation (40 examples)")
    assert any(line.startswith("estimated time: about ") for line in err)
    assert "  teacher proposal rejected: mostly label names (100% of its words)" in err
    assert any(line.startswith("  candidate 1 (exemplars): screening") for line in err)
    assert any("accepted: the new incumbent" in line for line in err)
    assert "validation " in out and "95% CI of delta" in out and "the gain holds on test" in out
    assert "written to prompts/demo/v2.jinja" in out
    assert (tmp_path / "prompts" / "demo" / "v2.jinja").is_file()


def test_every_event_type_has_its_own_wording():
    import inspect
    import typing

    source = inspect.getsource(describe)
    for kind in typing.get_args(ev.Event):
        assert f'case "{kind.__name__}":' in source, kind
