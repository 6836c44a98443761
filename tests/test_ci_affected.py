"""harness.ci.affected on a real git repository: which versions a change affects, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ci.affected import affected_versions, references
from harness.ci.records import AFFECTED, DELETED, NEW, UNAFFECTED
from harness.errors import TemplateError
from harness.prompts import parse_template
from tests.git_helpers import commit, edit, git, make_repo

V2_BLOCK = "Is this product review sentence a fact or an opinion?"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def statuses(changes) -> dict[str, str]:
    return {v.id: v.status for v in changes.versions}


def reason(changes, version_id: str) -> str:
    return next(v.reason for v in changes.versions if v.id == version_id)


def test_v2_block_change_affects_only_v2(repo: Path) -> None:
    edit(repo / "prompts/subjectivity/v2.jinja", V2_BLOCK, "Fact or opinion?")
    commit(repo, "head")
    changes = affected_versions(repo, "main~1")
    assert statuses(changes) == {"subjectivity/v1": UNAFFECTED, "subjectivity/v2": AFFECTED}
    assert reason(changes, "subjectivity/v2") == "v2.jinja changed"
    assert [c.path for c in changes.changes] == ["prompts/subjectivity/v2.jinja"]


def test_parent_change_affects_the_child_too(repo: Path) -> None:
    edit(repo / "prompts/subjectivity/v1.jinja", "Answer with one word.", "Answer in one word.")
    commit(repo, "head")
    changes = affected_versions(repo, "main~1")
    assert statuses(changes) == {"subjectivity/v1": AFFECTED, "subjectivity/v2": AFFECTED}
    assert reason(changes, "subjectivity/v2") == "v1.jinja changed; v2 extends v1"


def test_uncommitted_changes_count(repo: Path) -> None:
    # The working tree is the head: an edit not yet committed is a change.
    edit(repo / "prompts/subjectivity/v2.jinja", V2_BLOCK, "Fact or opinion?")
    assert statuses(affected_versions(repo, "HEAD"))["subjectivity/v2"] == AFFECTED


def test_dataset_change_affects_every_version(repo: Path) -> None:
    path = repo / "datasets/subjectivity.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    commit(repo, "head")
    changes = affected_versions(repo, "main~1")
    assert set(statuses(changes).values()) == {AFFECTED}
    assert "datasets/subjectivity.jsonl changed" in reason(changes, "subjectivity/v1")


def test_task_yaml_change_affects_every_version(repo: Path) -> None:
    edit(repo / "prompts/subjectivity/task.yaml", "macro_f1: 0.40", "macro_f1: 0.45")
    assert set(statuses(affected_versions(repo, "HEAD")).values()) == {AFFECTED}


def test_readme_change_affects_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("# demo, reworded\n", encoding="utf-8")
    (repo / "prompts/subjectivity/NOTES.md").write_text("not a template\n", encoding="utf-8")
    commit(repo, "head")
    changes = affected_versions(repo, "main~1")
    assert set(statuses(changes).values()) == {UNAFFECTED}
    assert {c.path for c in changes.changes} == {"README.md", "prompts/subjectivity/NOTES.md"}
    assert changes.affected == () and len(changes.unaffected) == 2


def test_new_version_is_thresholds_only(repo: Path) -> None:
    (repo / "prompts/subjectivity/v3.jinja").write_text(
        '{% extends "v2.jinja" %}\n{% block instructions %}Fact or opinion?{% endblock %}\n',
        encoding="utf-8")  # untracked: still found
    changes = affected_versions(repo, "HEAD")
    assert statuses(changes) == {"subjectivity/v1": UNAFFECTED, "subjectivity/v2": UNAFFECTED,
                                 "subjectivity/v3": NEW}
    assert "thresholds only" in reason(changes, "subjectivity/v3")


def test_deleted_version_is_listed(repo: Path) -> None:
    (repo / "prompts/subjectivity/v3.jinja").write_text('{% extends "v2.jinja" %}\n',
                                                        encoding="utf-8")
    commit(repo, "add v3")
    (repo / "prompts/subjectivity/v3.jinja").unlink()
    commit(repo, "drop v3")
    changes = affected_versions(repo, "HEAD~1")
    assert [v.id for v in changes.deleted] == ["subjectivity/v3"]
    # Described from the base graph: the file no longer exists at head.
    assert reason(changes, "subjectivity/v3") == "v3.jinja deleted (it extended v2)"
    assert statuses(changes)["subjectivity/v2"] == UNAFFECTED


def test_renamed_version_is_deleted_plus_new(repo: Path) -> None:
    (repo / "prompts/subjectivity/v3.jinja").write_text('{% extends "v2.jinja" %}\n',
                                                        encoding="utf-8")
    commit(repo, "add v3")
    git(repo, "mv", "prompts/subjectivity/v3.jinja", "prompts/subjectivity/v4.jinja")
    changes = affected_versions(repo, "HEAD")
    assert statuses(changes)["subjectivity/v3"] == DELETED
    assert statuses(changes)["subjectivity/v4"] == NEW
    assert [(c.status, c.old_path) for c in changes.changes] == [
        ("R", "prompts/subjectivity/v3.jinja")]


def test_included_template_change_affects_its_users(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    (prompts / "partials").mkdir()
    (prompts / "partials/rules.jinja").write_text("Answer with one word.\n", encoding="utf-8")
    (prompts / "macros.jinja").write_text("{% macro say(x) %}{{ x }}{% endmacro %}\n",
                                          encoding="utf-8")
    edit(prompts / "v1.jinja", "Answer with one word.", '{% include "partials/rules.jinja" %}')
    (prompts / "v3.jinja").write_text(
        '{% extends "v2.jinja" %}\n{% import "macros.jinja" as m %}\n'
        '{% block instructions %}{{ m.say("Fact?") }}{% endblock %}\n', encoding="utf-8")
    commit(repo, "partials")
    edit(prompts / "partials/rules.jinja", "one word", "a single word")
    changes = affected_versions(repo, "HEAD")
    assert statuses(changes) == {"subjectivity/v1": AFFECTED, "subjectivity/v2": AFFECTED,
                                 "subjectivity/v3": AFFECTED}
    assert reason(changes, "subjectivity/v1") == \
        "partials/rules.jinja changed; v1 includes partials/rules.jinja"
    assert reason(changes, "subjectivity/v3") == \
        "partials/rules.jinja changed; v3 extends v2, v2 extends v1, v1 includes partials/rules.jinja"
    commit(repo, "reword")
    edit(prompts / "macros.jinja", "{{ x }}", "{{ x | upper }}")
    assert statuses(affected_versions(repo, "HEAD")) == {
        "subjectivity/v1": UNAFFECTED, "subjectivity/v2": UNAFFECTED,
        "subjectivity/v3": AFFECTED}


def test_sidecar_change_affects_the_versions_that_inherit_it(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    demos = {"kind": "fixed", "k": 0, "examples": [
        {"id": "d1", "inputs": {"text": "It is great."}, "label": "Subjective"}]}
    (prompts / "v2.demos.json").write_text(json.dumps(demos), encoding="utf-8")
    (prompts / "v3.jinja").write_text('{% extends "v2.jinja" %}\n', encoding="utf-8")
    (prompts / "v4.jinja").write_text('{% extends "v3.jinja" %}\n', encoding="utf-8")
    (prompts / "v4.demos.json").write_text(json.dumps(demos), encoding="utf-8")
    commit(repo, "demos")
    demos["examples"][0]["inputs"]["text"] = "It is awful."
    (prompts / "v2.demos.json").write_text(json.dumps(demos), encoding="utf-8")
    changes = affected_versions(repo, "HEAD")
    # v3 has no sidecar and inherits v2's; v4's own sidecar shadows it; v1 has none.
    assert statuses(changes) == {"subjectivity/v1": UNAFFECTED, "subjectivity/v2": AFFECTED,
                                 "subjectivity/v3": AFFECTED, "subjectivity/v4": UNAFFECTED}
    assert reason(changes, "subjectivity/v3") == \
        "v2.demos.json changed; v3 uses the demonstrations of v2, which it extends"
    commit(repo, "reword demos")
    (prompts / "v4.demos.json").unlink()  # v4 now falls back to v2's: affected
    assert statuses(affected_versions(repo, "HEAD"))["subjectivity/v4"] == AFFECTED


def test_dynamic_reference_is_affected_and_says_why(repo: Path) -> None:
    prompts = repo / "prompts/subjectivity"
    (prompts / "v3.jinja").write_text(
        '{% extends "v2.jinja" %}\n{% block instructions %}\n'
        '{% include task.name ~ ".jinja" %}\n{% endblock %}\n', encoding="utf-8")
    (prompts / "subjectivity.jinja").write_text("Fact or opinion?\n", encoding="utf-8")
    commit(repo, "dynamic")
    (repo / "README.md").write_text("# reworded\n", encoding="utf-8")
    assert statuses(affected_versions(repo, "HEAD"))["subjectivity/v3"] == UNAFFECTED
    edit(prompts / "subjectivity.jinja", "Fact", "Is it a fact")
    changes = affected_versions(repo, "HEAD")
    assert statuses(changes)["subjectivity/v3"] == AFFECTED
    assert statuses(changes)["subjectivity/v2"] == UNAFFECTED
    assert reason(changes, "subjectivity/v3").startswith(
        "v3.jinja:3: {% include %} names its template at render time")


def test_new_task_and_removed_task(repo: Path) -> None:
    import shutil

    shutil.copytree(repo / "prompts/subjectivity", repo / "prompts/opinions")
    edit(repo / "prompts/opinions/task.yaml", "retired: [v1]", "retired: []")
    commit(repo, "second task")
    changes = affected_versions(repo, "HEAD~1")
    assert statuses(changes)["opinions/v1"] == NEW
    assert "new task" in reason(changes, "opinions/v2")
    shutil.rmtree(repo / "prompts/opinions")
    changes = affected_versions(repo, "HEAD")
    assert statuses(changes)["opinions/v2"] == DELETED
    assert reason(changes, "opinions/v2").startswith("task opinions removed")


def test_project_in_a_subfolder_of_the_repo(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "mono", subdir="ml/prompts-project")
    (tmp_path / "mono/other.txt").write_text("outside the project\n", encoding="utf-8")
    edit(project / "prompts/subjectivity/v2.jinja", V2_BLOCK, "Fact or opinion?")
    changes = affected_versions(project, "HEAD")
    assert statuses(changes) == {"subjectivity/v1": UNAFFECTED, "subjectivity/v2": AFFECTED}
    assert [c.path for c in changes.changes] == ["prompts/subjectivity/v2.jinja"]


def test_syntax_error_at_head_names_file_and_line(repo: Path) -> None:
    (repo / "prompts/subjectivity/v2.jinja").write_text('{% extends "v1.jinja" %}\n{% block x %}\n',
                                                        encoding="utf-8")
    with pytest.raises(TemplateError, match=r"v2\.jinja:\d+: syntax error"):
        affected_versions(repo, "HEAD")


def test_references_reads_every_kind_with_lines(tmp_path: Path) -> None:
    source = ('{% extends "base.jinja" %}\n{% include ["a.jinja", "./b.jinja"] %}\n'
              '{% from "m.jinja" import f %}\n{% include name %}\n')
    found = references(parse_template(tmp_path, "x.jinja", source))
    assert [(r.kind, r.names, r.line, r.dynamic) for r in found] == [
        ("extends", ("base.jinja",), 1, False),
        ("includes", ("a.jinja", "b.jinja"), 2, False),
        ("imports", ("m.jinja",), 3, False),
        ("includes", (), 4, True)]
