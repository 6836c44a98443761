"""Prompting strategies (harness.strategy, harness.strategies): names, demonstrations, a version
declaring one, the --strategy override, and the CLI; through the fake model (fast)."""

from __future__ import annotations

import json

import pytest

import harness
from harness.cli import main
from harness.errors import TemplateError, UsageError
from harness.prompts import Renderer, load_version
from harness.records import Example
from harness.strategies import (apply_strategy, random_demonstrations, stratified_sample,
                                with_demonstrations)
from harness.strategy import ZERO_SHOT, Strategy, parse_strategy
from harness.tasks import load_task
from tests.conftest import copy_task
from tests.fake_backend import FakeBackend, keyword_rule


def ex(i, label, text="t"):
    return Example(str(i), {"text": f"{text} {i}"}, label, "train", 0)


@pytest.mark.parametrize("name", ["zero-shot", "few-shot:random:4", "few-shot:errors:1",
                                  "few-shot:knn:8", "cot", "self-consistency:5"])
def test_names_round_trip(name):
    assert str(parse_strategy(name)) == name
    assert parse_strategy(f"  {name} ") == parse_strategy(name)


@pytest.mark.parametrize("bad", ["few-shot", "few-shot:random", "few-shot:best:4",
                                 "few-shot:random:0", "few-shot:random:-1", "few-shot:knn:4.5",
                                 "self-consistency", "self-consistency:1", "cot:3", "zeroshot",
                                 "few-shot:random:65", "", "few-shot:random:４"])
def test_unknown_names_list_what_is_allowed(bad):
    with pytest.raises(UsageError) as info:
        parse_strategy(bad)
    message = str(info.value)
    assert "allowed: zero-shot, few-shot:random:K" in message and "self-consistency:N" in message
    assert repr(bad) in message or repr(bad.strip()) in message


def test_strategy_properties():
    assert parse_strategy("few-shot:knn:3") == Strategy("few-shot", "knn", 3)
    assert parse_strategy("cot").reasoning and not parse_strategy("cot").few_shot
    assert parse_strategy("zero-shot") is ZERO_SHOT


def test_random_demonstrations_are_stratified_and_seeded():
    train = [ex(i, "a") for i in range(30)] + [ex(i, "b") for i in range(30, 34)]
    picked = stratified_sample(train, 4, seed=1)
    assert len(picked) == 4 and {e.label for e in picked} == {"a", "b"}
    assert stratified_sample(train, 4, seed=1) == picked  # seeded
    assert any(stratified_sample(train, 4, seed=s) != picked for s in range(2, 6))
    # Adding rows leaves the order of the others alone: the pick moves only if a new row wins.
    assert random_demonstrations(train, 40, 0).examples.__len__() == 34


def project(tmp_path, rows=40):
    return copy_task(tmp_path / "project", rows=rows)


def test_few_shot_renders_demonstrations_after_the_instruction(tmp_path):
    root = project(tmp_path)
    task = load_task(root, "subjectivity")
    version = load_version(task, "v2")
    train = [e for e in harness.Session(harness.load_settings(root)).fixture("subjectivity")
             .select("train")]
    applied = apply_strategy(task, version, parse_strategy("few-shot:random:2"), train=train,
                             seed=0)
    example = train[0]
    system = Renderer(task, applied.version).render(example).messages[0].content
    plain = Renderer(task, version).render(example).messages[0].content
    instruction = plain.split("\n")[0]
    # The instruction prefix is shared with zero-shot; the demonstrations follow it.
    assert system.startswith(instruction) and "Examples:" in system
    assert system.index("Examples:") > system.index(instruction)
    assert applied.version.content_hash != version.content_hash  # the demos are hashed


def test_a_template_without_a_place_for_demonstrations_names_it(tmp_path):
    root = project(tmp_path)
    v1 = root / "prompts" / "subjectivity" / "v1.jinja"
    v1.write_text(v1.read_text().replace("{% block demonstrations %}{% endblock %}\n", ""))
    task = load_task(root, "subjectivity")
    with pytest.raises(TemplateError, match=r"v2.jinja: strategy few-shot:knn:2 needs a place "
                                            r"for demonstrations.*\{% block demonstrations %\}"):
        apply_strategy(task, load_version(task, "v2"), parse_strategy("few-shot:knn:2"),
                       train=[ex(1, "Objective")], seed=0)


def test_hostile_demonstrations_stay_literal(tmp_path):
    root = project(tmp_path)
    task = load_task(root, "subjectivity")
    hostile = Example("h1", {"text": "{{ 7*7 }} </script><b>x</b> {% endraw %}"}, "Objective",
                      "train", 0)
    from harness.strategies import knn_demonstrations
    version = with_demonstrations(task, load_version(task, "v2"),
                                  knn_demonstrations([hostile], 1), "test")
    text = Renderer(task, version).render(ex(9, "Subjective")).messages[0].content
    assert "{{ 7*7 }} </script><b>x</b> {% endraw %}" in text and "49" not in text


# -- versions declaring a strategy -----------------------------------------------------------------
def declare(root, version, name, line_at_top=True):
    path = root / "prompts" / "subjectivity" / f"{version}.jinja"
    source = path.read_text()
    header = f"{{# strategy: {name} #}}\n"
    path.write_text(header + source if line_at_top else source + header)


def test_a_declared_strategy_is_read_hashed_and_inherited(tmp_path):
    root = project(tmp_path)
    task = load_task(root, "subjectivity")
    before = load_version(task, "v2").content_hash
    declare(root, "v2", "few-shot:random:4")
    version = load_version(task, "v2")
    assert (version.strategy, version.strategy_from) == ("few-shot:random:4", "v2.jinja")
    assert version.content_hash != before
    (root / "prompts" / "subjectivity" / "v3.jinja").write_text('{% extends "v2.jinja" %}\n')
    assert load_version(task, "v3").strategy == "few-shot:random:4"  # the nearest declaration
    assert load_version(task, "v1").strategy == "zero-shot"


def test_a_bad_declaration_names_the_template_and_line(tmp_path):
    root = project(tmp_path)
    task = load_task(root, "subjectivity")
    declare(root, "v2", "few-shot:random:many", line_at_top=False)
    with pytest.raises(TemplateError, match=r"v2.jinja:\d+: unknown strategy "
                                            r"'few-shot:random:many'; allowed: zero-shot"):
        load_version(task, "v2")


def session_for(root, model, **overrides):
    return harness.Session(harness.load_settings(root, overrides={
        "model": model, "progress": False, **overrides}))


def test_a_declared_strategy_is_what_evaluate_runs_and_override_says_so(tmp_path, fake_model):
    root = project(tmp_path)
    declare(root, "v2", "few-shot:random:2")
    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    session = session_for(root, fake_model(backend))
    declared = session.evaluate("subjectivity", "v2")
    spec = declared.result.spec
    assert (spec.strategy, spec.strategy_source) == ("few-shot:random:2", "declared")
    assert all("Examples:" in c.prompt for c in backend.calls)
    stored = json.loads((declared.report_dir / "metrics.json").read_text())["spec"]
    assert stored["strategy"] == "few-shot:random:2" and stored["strategy_source"] == "declared"
    n = backend.calls_made
    explored = session.evaluate("subjectivity", "v2", strategy="zero-shot")
    assert explored.result.spec.strategy_source == "override"
    assert "instead of the declared few-shot:random:2" in explored.result.spec.strategy_note
    assert not any("Examples:" in c.prompt for c in backend.calls[n:])
    page = (explored.report_dir / "index.html").read_text()
    assert "override" in page.lower()
    # Replaying the declared run from the cache makes no call.
    again = session_for(root, fake_model(backend), cache="replay").evaluate("subjectivity", "v2")
    assert again.result.model_calls == 0 and again.result.cache_hits == len(again.result.examples)


def test_knn_demonstrations_vary_per_input_and_never_show_the_input(tmp_path, fake_model):
    root = project(tmp_path)
    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    session = session_for(root, fake_model(backend))
    evaluation = session.evaluate("subjectivity", "v2", strategy="few-shot:knn:2", split="train")
    systems = {c.prompt.split("Examples:")[1].split("Answer with one word")[0]
               for c in backend.calls}
    assert len(systems) > 1  # per input
    for call in backend.calls:  # an input never is its own demonstration
        assert call.text.strip() not in call.prompt.split("Examples:")[1].split("\n\n\n")[0] \
            or call.prompt.count(call.text.strip()) == 1
    assert evaluation.result.spec.strategy == "few-shot:knn:2"


def test_few_shot_errors_says_where_its_errors_came_from(tmp_path, fake_model):
    root = project(tmp_path)
    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    session = session_for(root, fake_model(backend))
    fresh = session.evaluate("subjectivity", "v2", strategy="few-shot:errors:2")
    assert "from a fresh zero-shot train-split run" in fresh.result.spec.strategy_note
    # Now a stored zero-shot run covering train examples exists: it is used.
    stored = session.evaluate("subjectivity", "v2", split="train")
    again = session_for(root, fake_model(backend)).evaluate("subjectivity", "v2",
                                                            strategy="few-shot:errors:2")
    assert f"from its last stored run {stored.result.run_id}" in again.result.spec.strategy_note
    train = {e.id: e for e in session.fixture("subjectivity").select("train")}
    wrong = {p.example_id for p in stored.result.predictions if not p.correct}
    shown = again.result.prompt.demonstrations.examples
    assert shown and all(e.id in wrong and e.label == train[e.id].label for e in shown)


def test_reasoning_strategies_are_refused_where_the_backend_cannot(tmp_path, fake_model):
    root = project(tmp_path)
    backend = FakeBackend(keyword_rule({}, default="Objective"))
    backend.supports_reasoning = False  # a backend without LabelRequest.reasoning support
    session = session_for(root, fake_model(backend))
    with pytest.raises(UsageError, match="strategy cot: model 'fake:default' cannot answer "
                                         "with a reasoning first"):
        session.evaluate("subjectivity", "v2", strategy="cot")
    assert backend.calls == []


def test_self_consistency_runs_end_to_end_on_a_reasoning_backend(tmp_path, fake_model):
    """The strategy (harness.strategies) sets Reasoning on each request; the backend answers
    each sample; the stored run and its report carry the votes."""
    root = project(tmp_path)
    backend = FakeBackend(keyword_rule({}, default="Objective"))
    session = session_for(root, fake_model(backend))
    evaluation = session.evaluate("subjectivity", "v2", strategy="self-consistency:3")
    result = evaluation.result
    assert result.spec.strategy == "self-consistency:3"
    assert len(backend.calls) == len(result.predictions)  # one request per example
    assert all([s.reasoning for s in p.samples] == [f"fake reasoning {i}" for i in range(3)]
               for p in result.predictions)
    # The provenance's temperature is the version's; the samples' own is in the note.
    assert "3 reasoned samples at temperature 0.7, seed 0" in result.spec.strategy_note
    page = (evaluation.report_dir / "index.html").read_text(encoding="utf-8")
    assert "3 reasoned samples at temperature 0.7" in page


def test_reasoning_strategies_set_the_request(tmp_path):
    root = project(tmp_path)
    task = load_task(root, "subjectivity")
    version = load_version(task, "v2")
    sc = apply_strategy(task, version, parse_strategy("self-consistency:5"), train=[], seed=3,
                        temperature=0.9)
    request = sc.requests([ex(1, "Objective")], "score", harness_params())[0]
    assert request.reasoning.samples == 5 and request.reasoning.temperature == 0.9
    assert request.reasoning.seed == 3
    assert sc.note == "5 reasoned samples at temperature 0.9, seed 3, voted"
    cot = apply_strategy(task, version, parse_strategy("cot"), train=[], seed=0)
    assert cot.requests([ex(1, "Objective")], "score", harness_params())[0].reasoning.samples == 1
    with pytest.raises(UsageError, match="--temperature must be in"):
        apply_strategy(task, version, parse_strategy("self-consistency:3"), train=[], seed=0,
                       temperature=0)


def harness_params():
    from harness.records import DecodingParams
    return DecodingParams()


def test_cli_eval_strategy_override_is_reported(tmp_path, fake_model, capsys, monkeypatch):
    root = project(tmp_path)
    monkeypatch.chdir(root)
    model = fake_model(FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective")))
    code = main(["eval", "subjectivity", "--version", "v2", "--model", model,
                 "--strategy", "few-shot:random:2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0
    assert "subjectivity/v2: strategy few-shot:random:2, OVERRIDE" in err
    assert main(["eval", "subjectivity", "--model", model, "--strategy", "few-shot:many"]) == 2
    err = capsys.readouterr().err
    assert "unknown strategy 'few-shot:many'" in err and "allowed: zero-shot" in err


def test_hostile_demonstrations_are_escaped_in_the_report(tmp_path, fake_model):
    root = project(tmp_path, rows=12)
    hostile = "{{ 7*7 }} </script><script>alert(1)</script> {% raw %}"
    with (root / "datasets" / "subjectivity.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "evil", "text": hostile, "label": "Objective",
                                 "split": "train"}) + "\n")
    session = session_for(root, fake_model(FakeBackend(keyword_rule({}, default="Objective"))))
    evaluation = session.evaluate("subjectivity", "v2", strategy="few-shot:random:64")
    assert any(hostile in m.content for m in evaluation.result.rendered_example.messages)
    page = (evaluation.report_dir / "index.html").read_text(encoding="utf-8")
    assert "alert(1)" in page and "<script>alert(1)" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_gate_runs_what_the_version_declares(pytester, fake_model):
    from tests.conftest import REPO
    copy_task(pytester.path, rows=40)
    pytester.makepyfile(test_demo_gate=(REPO / "evals" / "test_subjectivity.py").read_text())
    declare(pytester.path, "v2", "few-shot:random:2")
    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    model = fake_model(backend)
    result = pytester.runpytest("--harness-model", model, "--prompt-version", "v2",
                                "-p", "no:cacheprovider", "-k", "thresholds")
    result.stdout.fnmatch_lines(["*subjectivity/v2: strategy few-shot:random:2, declared by "
                                 "the version: declared in v2.jinja; 2 train examples*"])
    assert backend.calls and all("Examples:" in c.prompt for c in backend.calls)
    n = backend.calls_made
    result = pytester.runpytest("--harness-model", model, "--prompt-version", "v2",
                                "--harness-strategy", "zero-shot", "-p", "no:cacheprovider",
                                "-k", "thresholds")
    result.stdout.fnmatch_lines(["*subjectivity/v2: strategy zero-shot, OVERRIDE (exploration,"
                                 " not what the version declares): --strategy zero-shot instead"
                                 " of the declared few-shot:random:2*"])
    assert backend.calls_made > n and not any("Examples:" in c.prompt for c in backend.calls[n:])
