"""The base version of a prompt, rendered in memory from git: base text, head examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ci.baseversion import load_base_version
from harness.datasets import load_fixture
from harness.errors import TemplateError, UsageError
from harness.prompts import Renderer, load_version
from harness.tasks import load_task
from tests.git_helpers import commit, edit, git, make_repo

OLD = "Is this product review sentence a fact or an opinion?"
NEW = "Fact or opinion? Decide."


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def render_all(task, version) -> list[str]:
    renderer = Renderer(task, version)
    examples = load_fixture(task).examples[:3]
    return ["\n".join(m.content for m in renderer.render(e).messages) for e in examples]


def test_base_version_renders_the_base_text_on_head_examples(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    base = git(repo, "rev-parse", "HEAD")
    task = load_task(repo, "subjectivity")
    before = render_all(task, load_version(task, "v2"))
    before_hash = load_version(task, "v2").content_hash
    edit(prompts / "v2.jinja", OLD, NEW)
    edit(prompts / "v1.jinja", "Answer with one word.", "Reply with one word.")
    commit(repo, "head")

    version = load_base_version(repo, task, "v2", base)
    assert version.content_hash == before_hash  # same bytes as the file was: cache hits
    assert version.parent == "v1"
    texts = render_all(task, version)
    assert texts == before
    assert all(OLD in t and "Answer with one word." in t and NEW not in t for t in texts)
    # The head version on disk is untouched by it.
    assert all(NEW in t and "Reply with one word." in t
               for t in render_all(task, load_version(task, "v2")))


def test_base_includes_and_sidecar_come_from_the_base_commit(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    (prompts / "rules.jinja").write_text("Rule: one word.\n", encoding="utf-8")
    edit(prompts / "v1.jinja", "Answer with one word.", '{% include "rules.jinja" %}')
    edit(prompts / "v1.jinja", "{% block demonstrations %}{% endblock %}",
         "{% block demonstrations %}{% for d in demonstrations %}"
         "Example: {{ d.inputs.text }} -> {{ d.label }}\n{% endfor %}{% endblock %}")
    demos = {"kind": "fixed", "k": 0,
             "examples": [{"id": "d1", "inputs": {"text": "Base {{ demo }}"},
                           "label": "Subjective"}]}
    (prompts / "v1.demos.json").write_text(json.dumps(demos), encoding="utf-8")
    base = commit(repo, "base with include and demos")
    (prompts / "rules.jinja").write_text("Rule: head.\n", encoding="utf-8")
    demos["examples"][0]["inputs"]["text"] = "Head demo"
    (prompts / "v1.demos.json").write_text(json.dumps(demos), encoding="utf-8")
    commit(repo, "head")

    task = load_task(repo, "subjectivity")
    version = load_base_version(repo, task, "v2", base)  # inherits v1's sidecar
    assert version.demonstrations is not None
    text = render_all(task, version)[0]
    assert "Rule: one word." in text and "Rule: head." not in text
    assert "Example: Base {{ demo }} -> Subjective" in text and "Head demo" not in text


def test_base_version_never_reads_the_working_tree(repo: Path) -> None:
    # At base, v2 includes a file that only exists at head: rendering must not find it on disk.
    prompts = repo / "prompts/subjectivity"
    edit(prompts / "v2.jinja", OLD, '{% include "later.jinja" %}')
    base = commit(repo, "base includes a file it lacks")
    (prompts / "later.jinja").write_text("only at head\n", encoding="utf-8")
    commit(repo, "head adds it")
    task = load_task(repo, "subjectivity")
    version = load_base_version(repo, task, "v2", base)
    with pytest.raises(TemplateError, match="later.jinja"):
        render_all(task, version)


def test_base_errors_say_they_are_about_the_base(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    base = git(repo, "rev-parse", "HEAD")
    task = load_task(repo, "subjectivity")
    with pytest.raises(UsageError, match=rf"at base commit {base[:12]}: unknown prompt version "
                                         r"'v7'.*versions given: v1, v2"):
        load_base_version(repo, task, "v7", base)
    edit(prompts / "v2.jinja", '{% extends "v1.jinja" %}', '{% extends "v0.jinja" %}')
    broken = commit(repo, "broken parent")
    with pytest.raises(TemplateError, match=r"at base commit .*extends 'v0.jinja', which does "
                                            r"not exist"):
        load_base_version(repo, task, "v2", broken)


def test_crlf_template_hashes_as_on_disk(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    text = (prompts / "v2.jinja").read_text(encoding="utf-8")
    (prompts / "v2.jinja").write_bytes(text.replace("\n", "\r\n").encode())
    base = commit(repo, "crlf")
    task = load_task(repo, "subjectivity")
    assert load_base_version(repo, task, "v2", base).content_hash == \
        load_version(task, "v2").content_hash
