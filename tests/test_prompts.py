"""harness.prompts: versions, inheritance, rendering, content hashes."""

from __future__ import annotations

from pathlib import Path

from harness.prompts import Renderer, list_versions, load_version
from harness.records import Example, Message
from harness.tasks import load_task
from tests.helpers import make_project


CHILD = '{% extends "v1.jinja" %}\n{% block instructions %}\nDecide: fact or opinion?\n{% endblock %}\n'
SUPER = ('{% extends "v2.jinja" %}\n{% block instructions %}\n{{ super() }}\nBe brief.\n'
         '{% endblock %}\n')


def _render(root: Path, version: str, text: str = "The box weighs 2 kg."):
    task = load_task(root, "demo")
    example = Example(id="e1", inputs={"text": text}, label="Objective", split="test", line=1)
    return Renderer(task, load_version(task, version)).render(example).messages


def test_list_versions_sorts_numerically(tmp_path):
    stub = '{% extends "v1.jinja" %}\n'
    root = make_project(tmp_path, templates={"v10": stub, "v2": stub, "v9": stub,
                                             "v1-draft": stub, "notes.jinja": stub})
    task = load_task(root, "demo")
    assert list_versions(task) == ["v1", "v2", "v9", "v10"]


def test_base_template_renders_messages(tmp_path):
    messages = _render(make_project(tmp_path), "v1")
    assert messages == (
        Message("system", "Classify the sentence as Objective or Subjective.\nAnswer with one word."),
        Message("user", "The box weighs 2 kg."),
    )


def test_child_overrides_only_instructions(tmp_path):
    root = make_project(tmp_path, templates={"v2": CHILD})
    task = load_task(root, "demo")
    version = load_version(task, "v2")
    assert version.parent == "v1"
    assert load_version(task, "v1").parent is None
    messages = _render(root, "v2", "Lovely colour.")
    assert messages == (
        Message("system", "Decide: fact or opinion?\nAnswer with one word."),
        Message("user", "Lovely colour."),  # the parent's user block
    )


def test_super_keeps_parent_block(tmp_path):
    root = make_project(tmp_path, templates={"v2": CHILD, "v3": SUPER})
    system = _render(root, "v3")[0]
    assert system.role == "system"
    assert system.content.startswith("Decide: fact or opinion?")
    assert "Be brief." in system.content
    assert system.content.endswith("Answer with one word.")
    assert "Classify the sentence" not in system.content
    assert load_version(load_task(root, "demo"), "v3").parent == "v2"


def test_content_hash_covers_parents(tmp_path):
    root = make_project(tmp_path, templates={"v2": CHILD, "v3": SUPER})
    task = load_task(root, "demo")
    before = {v: load_version(task, v).content_hash for v in ("v1", "v2", "v3")}
    assert len(set(before.values())) == 3
    assert load_version(task, "v2").content_hash == before["v2"]  # stable
    v1 = task.prompt_dir / "v1.jinja"
    v1.write_text(v1.read_text(encoding="utf-8").replace("one word", "a single word"),
                  encoding="utf-8")
    after = {v: load_version(task, v).content_hash for v in ("v1", "v2", "v3")}
    assert all(after[v] != before[v] for v in before)
    assert load_version(task, "v2").source == CHILD  # source is the child's own text
    assert "a single word" in _render(root, "v3")[0].content


def test_template_variables_labels_task_and_example_id(tmp_path):
    source = ("{% block system %}\n{% for label in labels %}{{ label.name }}={{ label.description }}"
              "\n{% endfor %}{{ task.name }}\n{% endblock %}\n{% block user %}\n[{{ example_id }}] "
              "{{ text }}\n{% endblock %}\n")
    root = make_project(tmp_path, templates={"v1": source})
    system, user = _render(root, "v1")
    assert system.content == ("Objective=States something verifiable.\n"
                              "Subjective=Expresses an opinion or feeling.\ndemo")
    assert user.content == "[e1] The box weighs 2 kg."


def test_compiled_templates_are_shared_but_an_edit_is_compiled_again(tmp_path):
    # Renderers share compiled template code (harness.prompts._COMPILED), keyed by the source:
    # editing the parent a child extends, under the same name and path, renders the edit.
    root = make_project(tmp_path, templates={"v2": CHILD})
    before = _render(root, "v2")
    assert _render(root, "v2") == before
    parent = root / "prompts" / "demo" / "v1.jinja"
    parent.write_text(parent.read_text().replace("Answer with one word.", "Reply in one word."))
    after = _render(root, "v2")
    assert after[0].content == before[0].content.replace("Answer with one word.", "Reply in one word.")
    assert after[0] != before[0]
