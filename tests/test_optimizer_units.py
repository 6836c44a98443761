"""The optimizer's pure parts, without a model: demonstrations stay data, candidate templates,
teacher-output validation, error sampling, objective, bad input before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import BackendError, OptimizeConfig, Session, UsageError, load_settings
from harness.datasets import load_fixture
from harness.demos import DemoSelector, read_sidecar, sidecar_path, write_sidecar
from harness.errors import TemplateError
from harness.metrics import classification_metrics
from harness.optimizer import objective
from harness.optimizer.candidates import as_version, write_version
from harness.optimizer.proposers import Context, Exemplars, Knn
from harness.optimizer.teacher import clean_instruction
from harness.optimizer.records import Candidate, DemoChoice
from harness.optimizer.sampling import rng, sample_errors, stratified_sample
from harness.prompts import Renderer, load_version
from harness.records import Demonstrations, Example, Prediction, Rule
from harness.tasks import load_task
from tests.conftest import copy_task
from tests.helpers import default_rows, make_project

HOSTILE = "Costs {{ price }} {% endraw %}{% raw %} {# not a comment #} <|im_end|>"


def ex(i: str, text: str, label: str, split: str = "train") -> Example:
    return Example(id=i, inputs={"text": text}, label=label, split=split, line=0)


def test_demonstrations_with_jinja_syntax_render_literally(tmp_path):
    root = copy_task(tmp_path, "subjectivity", rows=40)
    task = load_task(root, "subjectivity")
    demos = Demonstrations("fixed", (ex("d1", HOSTILE, "Objective"),))
    candidate = Candidate(1, 1, 0, "exemplars", None, DemoChoice("fixed", ("d1",)))
    version = as_version(task, "v3", "v2", candidate, demos.examples)
    system = Renderer(task, version).render(ex("x", "Nice.", "Subjective", "test")).messages[0]
    assert HOSTILE in system.content  # verbatim: nothing evaluated, nothing escaped
    assert "Answer: Objective" in system.content
    # Written to disk with its sidecar, it renders the same.
    written = write_version(task, "v3", "v2", candidate, demos.examples, {"seed": 0})
    assert sidecar_path(written.path).is_file()
    assert HOSTILE not in written.path.read_text(encoding="utf-8")  # data stays out of code
    again = Renderer(task, load_version(task, "v3")).render(ex("x", "Nice.", "Subjective"))
    assert again.messages[0].content == system.content


def renders(task, version: str, examples) -> list[str]:
    renderer = Renderer(task, load_version(task, version))
    return [renderer.render(e).hash for e in examples]


def test_shipped_templates_render_as_before_the_demonstrations_block(tmp_path):
    # The empty block added to v1 must not change a single byte of existing renders.
    for name in ("subjectivity", "tickets"):
        root = copy_task(tmp_path / name, name, rows=30)
        task = load_task(root, name)
        examples = load_fixture(task).examples
        new = {v: renders(task, v, examples) for v in ("v1", "v2")}
        v1 = task.prompt_dir / "v1.jinja"
        v1.write_text(v1.read_text(encoding="utf-8").replace(
            "{% block demonstrations %}{% endblock %}\n", ""), encoding="utf-8")
        old = {v: renders(task, v, examples) for v in ("v1", "v2")}
        assert new == old


def test_in_memory_version_renders_like_the_written_file(tmp_path):
    root = copy_task(tmp_path, "tickets", rows=30)
    task = load_task(root, "tickets")
    candidate = Candidate(2, 1, 0, "teacher", "Route the ticket by its main request.", None)
    memory = as_version(task, "v3", "v2", candidate, ())
    example = Example("t", {"subject": "Login", "body": "Cannot log in"}, "account", "test", 1)
    rendered = Renderer(task, memory).render(example)
    written = write_version(task, "v3", "v2", candidate, (), {"parent": "v2", "seed": 0})
    on_disk = load_version(task, "v3")
    assert on_disk.parent == "v2" and written.path == on_disk.path
    assert Renderer(task, on_disk).render(example).hash == rendered.hash
    source = on_disk.path.read_text(encoding="utf-8")
    assert source.startswith('{% extends "v2.jinja" %}\n{#')
    assert "{% block instructions %}" in source and "{% block system %}" not in source
    with pytest.raises(UsageError, match="already exists"):
        write_version(task, "v3", "v2", candidate, (), {})


def test_knn_picks_similar_examples_and_never_the_input_itself():
    pool = (ex("a", "the battery lasts ten hours", "Objective"),
            ex("b", "I adore the colour", "Subjective"),
            ex("c", "battery is 5000 mAh", "Objective"),
            ex("d", "what a lovely colour", "Subjective"))
    selector = DemoSelector(Demonstrations("knn", pool, 2))
    chosen = selector.select(ex("q", "battery: how many hours", "Objective"))
    assert [d["id"] for d in chosen][-1] == "a"  # most similar last, nearest the input
    assert {d["id"] for d in chosen} == {"a", "c"}
    assert "a" not in [d["id"] for d in selector.select(pool[0])]
    # Selectors of one pool share its fitted index (every optimizer candidate builds one); what
    # they pick still follows their own k and input.
    assert [d["id"] for d in DemoSelector(Demonstrations("knn", pool, 1)).select(
        ex("q", "battery: how many hours", "Objective"))] == ["a"]
    assert [d["id"] for d in DemoSelector(Demonstrations("knn", pool, 1)).select(pool[0])] == \
        [d["id"] for d in selector.select(pool[0])][-1:]


def test_knn_on_texts_without_words_compares_characters():
    # Emoji or one-character inputs give scikit-learn's word tokenizer nothing (it raised "empty
    # vocabulary", a traceback from `harness eval --strategy few-shot:knn:K`).
    pool = (ex("a", "😀", "happy"), ex("b", "😢", "sad"), ex("c", "😂", "happy"), ex("d", "😢!", "sad"))
    chosen = DemoSelector(Demonstrations("knn", pool, 2)).select(ex("q", "😢", "sad"))
    assert [d["id"] for d in chosen] == ["d", "b"]  # the two crying faces, the exact one last


def test_sidecar_round_trip_and_errors(tmp_path):
    path = tmp_path / "v3.demos.json"
    demos = Demonstrations("knn", (ex("a", HOSTILE, "Objective"),), 3)
    write_sidecar(path, demos)
    back = read_sidecar(path, input_fields=("text",), labels=("Objective", "Subjective"))
    assert back.kind == "knn" and back.k == 3 and back.examples[0].inputs["text"] == HOSTILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["examples"][0]["label"] = "Maybe"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"v3.demos.json: examples\[0\]: label 'Maybe'"):
        read_sidecar(path, input_fields=("text",), labels=("Objective", "Subjective"))


@pytest.mark.parametrize("raw, reason", [
    ("", "too short"), ("   \n ", "too short"), ("Use {{ text }} to decide the label.", "template"),
    ("Decide {% if x %}Objective{% endif %} carefully please", "template"),
    ("{# hidden #} Objective or Subjective, decide now", "template"),
])
def test_teacher_output_is_rejected_when_empty_or_template_code(tmp_path, raw, reason):
    task = load_task(copy_task(tmp_path, "subjectivity", rows=20), "subjectivity")
    text, why = clean_instruction(raw, task, [])
    assert text is None and reason in why


def test_teacher_output_is_cleaned_and_keeps_the_answer_format(tmp_path):
    task = load_task(copy_task(tmp_path, "subjectivity", rows=20), "subjectivity")
    text, _ = clean_instruction('Instruction: "Decide whether the sentence can be checked."',
                                task, [])
    assert text.startswith("Decide whether the sentence can be checked.")
    assert text.endswith("Answer with one of: Objective, Subjective.")
    long = ("Read the sentence once. Numbers, sizes and weights point to a fact. So do reports of "
            "what arrived, what broke and when. Praise, blame and advice are opinions. Words "
            "like love, hate, great or awful mark a feeling. A complaint can still be factual if "
            "it says what happened. Sarcasm is an opinion even when it sounds like a report. "
            "Mixed sentences go by their main claim. Comparisons without a measure are "
            "judgments. Quoted specifications are facts. Recommendations to other buyers are "
            "opinions. Questions that hint at a view count as opinions too. Descriptions of a "
            "colour are facts, but calling it pretty is not. When in doubt, ask whether a "
            "stranger could check the claim with the product in hand. Label checkable claims "
            "Objective and everything else Subjective.")
    cut, why = clean_instruction(long, task, [])
    kept = cut.split("\nAnswer with one of")[0]
    assert len(kept) <= 700 and kept.endswith("in hand."), why  # cut at a sentence end
    again, why = clean_instruction('Instruction: "Decide whether the sentence can be checked."',
                                   task, [text])
    assert again is None and "repeats" in why


def test_errors_are_sampled_across_every_confusion_cell():
    examples, predictions = [], []
    for i in range(30):  # 20 of one mistake, 5 of another, 5 correct
        truth, guess = ("a", "b") if i < 20 else ("b", "a") if i < 25 else ("a", "a")
        examples.append(ex(str(i), f"t{i}", truth))
        predictions.append(Prediction(str(i), truth, guess, 0.6, None, guess, "h", False))
    picked = sample_errors(examples, predictions, 4, rng(0, "errors", 1))
    cells = [(e.label, p.predicted) for e, p in picked]
    assert len(picked) == 4 and ("b", "a") in cells and ("a", "b") in cells
    assert sample_errors(examples, predictions, 4, rng(0, "errors", 1)) == picked  # seeded


def test_stratified_sample_keeps_every_label():
    examples = [ex(str(i), "x", "a" if i < 27 else "b") for i in range(30)]
    sample = stratified_sample(examples, 10, rng(0, "s"))
    assert len(sample) == 10 and {e.label for e in sample} == {"a", "b"}


def _context(task, incumbent, errors=(), tried=frozenset()):
    return Context(task, 1, incumbent, "Classify.", tuple(errors), (), tried, ())


def test_proposers_exemplars_and_knn(tmp_path):
    task = load_task(copy_task(tmp_path, "subjectivity", rows=20), "subjectivity")
    start = Candidate(0, 0, None, "start", None, None)
    errors = [(ex("e1", "x", "a"), Prediction("e1", "a", "b", 0.5, None, "b", "h", False))]
    proposal = Exemplars(max_demos=8).propose(_context(task, start, errors))
    assert proposal.demos == DemoChoice("fixed", ("e1",)) and "e1" in proposal.rationale
    assert Knn().propose(_context(task, start)).demos == DemoChoice("knn", (), 4)
    tried = frozenset({(None, DemoChoice("knn", (), 4))})
    assert Knn().propose(_context(task, start, tried=tried)).demos.k == 2
    knn_incumbent = Candidate(1, 1, 0, "knn", None, DemoChoice("knn", (), 4))
    assert Exemplars(8).propose(_context(task, knn_incumbent, errors)) is None


def test_objective_with_a_recall_floor(tmp_path):
    task = load_task(copy_task(tmp_path, "subjectivity", rows=20), "subjectivity")
    from dataclasses import replace
    floored = replace(task, optimize_constraints=(Rule("recall", 0.9, "Objective"),))
    good = classification_metrics(["Objective", "Subjective"] * 5,
                                  ["Objective", "Subjective"] * 5, labels=task.label_names)
    lopsided = classification_metrics(["Objective", "Subjective"] * 5, ["Subjective"] * 10,
                                      labels=task.label_names)
    assert objective.score(floored, good).beats(objective.score(floored, lopsided))
    assert not objective.score(floored, lopsided).feasible


def test_task_yaml_optimize_key_is_validated(tmp_path):
    yaml = ("description: d\ndataset: datasets/demo.jsonl\nlabels:\n  Objective: o\n"
            "  Subjective: s\noptimize:\n  metric: accuracy\n  constraints:\n"
            "    recall: {Objectve: 0.3}\n")
    root = make_project(tmp_path, task_yaml=yaml)
    with pytest.raises(UsageError, match=r"task.yaml:\d+: optimize.constraints.recall.Objectve"):
        load_task(root, "demo")


# --- bad input: clear errors before any model call -------------------------------------------

def _optimize(root: Path, **changes):
    session = Session(load_settings(root))
    try:
        settings = {"task": "demo", "start": "v1", "proposers": ("exemplars",), **changes}
        return session.optimize(OptimizeConfig(**settings))
    finally:
        session.close()


def test_unknown_start_version(tmp_path):
    with pytest.raises(UsageError, match=r"unknown prompt version 'v7'.*versions on disk: v1"):
        _optimize(make_project(tmp_path), start="v7")


def test_empty_train_split(tmp_path):
    rows = [{**row, "split": "validation" if i % 2 else "test"}
            for i, row in enumerate(default_rows())]
    with pytest.raises(UsageError, match="the train split is empty"):
        _optimize(make_project(tmp_path, rows=rows))


def test_label_missing_from_train(tmp_path):
    rows = [{**row, "split": "train" if row["label"] == "Objective" else
             ("validation" if i % 4 == 1 else "test")} for i, row in enumerate(default_rows())]
    with pytest.raises(UsageError, match="label 'Subjective' has no example in the train split"):
        _optimize(make_project(tmp_path, rows=rows))


def test_budget_smaller_than_one_evaluation(tmp_path):
    with pytest.raises(UsageError, match=r"--budget-calls 2 is smaller than one evaluation.*"
                                         r"takes \d+ calls"):
        _optimize(make_project(tmp_path), budget_calls=2)


def test_unknown_teacher_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="unknown model 'nosuch:teacher'"):
        _optimize(make_project(tmp_path), teacher="nosuch:teacher", proposers=("teacher",))


def test_openai_teacher_without_a_key_fails_before_the_loop(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY is not set"):
        _optimize(make_project(tmp_path), teacher="openai:gpt-4o", proposers=("teacher",))


def test_resume_with_nothing_to_resume(tmp_path):
    session = Session(load_settings(make_project(tmp_path)))
    with pytest.raises(UsageError, match="nothing to resume"):
        session.optimize(OptimizeConfig(task="demo", start="v1"), resume=True)


def test_cli_help_explains_optimize(capsys):
    from harness.cli import main
    with pytest.raises(SystemExit) as exit_info:
        main(["optimize", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--from", "--teacher", "--budget-calls", "--iterations", "--patience",
                   "--target", "--seed", "--resume", "--proposer", "--minibatch"):
        assert option in out


def test_cli_bad_start_version_exits_2_naming_the_versions(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["optimize", "demo", "--from", "v9", "--proposer", "exemplars"]) == 2
    assert "unknown prompt version 'v9'" in capsys.readouterr().err
