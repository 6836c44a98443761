"""Every bad input fails while loading (before any model call) with one HarnessError that names
the place: file:line, the variable, the label, the known choices."""

from __future__ import annotations

import re
import textwrap

import pytest

from harness.config import load_settings
from harness.datasets import load_fixture
from harness.errors import (DatasetError, HarnessError, HarnessWarning, TemplateError, UsageError,
                            strict_warnings)
from harness.prompts import Renderer, load_version
from harness.tasks import load_task
from tests.helpers import DEFAULT_TASK_YAML, default_rows, make_project


def _fixture_error(tmp_path, rows) -> DatasetError:
    root = make_project(tmp_path, rows=rows)
    task = load_task(root, "demo")
    with pytest.raises(DatasetError) as info:
        load_fixture(task)
    return info.value


def _task_error(tmp_path, task_yaml: str) -> UsageError:
    root = make_project(tmp_path, task_yaml=textwrap.dedent(task_yaml))
    with pytest.raises(UsageError) as info:
        load_task(root, "demo")
    return info.value


def _ok(i: int, label: str = "Objective", **extra) -> dict:
    return {"id": f"r{i}", "text": f"sentence number {i}", "label": label, **extra}


# --- fixtures (datasets/demo.jsonl) -------------------------------------------------------------

def test_valid_project_loads(tmp_path):
    # The baseline every other test here perturbs: if this fails, the others prove nothing.
    root = make_project(tmp_path)
    task = load_task(root, "demo")
    fixture = load_fixture(task)
    assert len(fixture.examples) == len(default_rows())
    assert Renderer(task, load_version(task, "v1")).render(fixture.examples[0]).messages


def test_invalid_json_line(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1), _ok(2, "Subjective"), '{"id": "r3", "text": "x",'])
    assert "demo.jsonl:3" in str(err)
    assert "invalid JSON" in str(err)
    assert err.line == 3


def test_line_numbers_count_blank_lines(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1), "", "   ", "not json"])
    assert "demo.jsonl:4: invalid JSON" in str(err)


def test_missing_input_field(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1), {"id": "r2", "body": "hello", "label": "Objective"}])
    message = str(err)
    assert "demo.jsonl:2" in message
    assert "missing input field 'text'" in message
    assert err.case_id == "r2"


def test_missing_label(tmp_path):
    err = _fixture_error(tmp_path, [{"id": "r1", "text": "hello"}, _ok(2)])
    assert "demo.jsonl:1" in str(err)
    assert "missing 'label'" in str(err)


def test_label_not_in_task_yaml_lists_allowed_labels(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1), _ok(2, "Neutral")])
    message = str(err)
    assert "demo.jsonl:2" in message
    assert "'Neutral'" in message
    assert "Objective, Subjective" in message
    assert "task.yaml" in message
    assert "did you mean" not in message  # nothing close to suggest


def test_label_case_mismatch_suggests_the_right_label(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1), _ok(2, "objective")])
    message = str(err)
    assert "demo.jsonl:2" in message
    assert "did you mean 'Objective'?" in message


def test_duplicate_id_names_first_line(tmp_path):
    rows = [_ok(1), _ok(2), {"id": "r1", "text": "again", "label": "Subjective"}]
    err = _fixture_error(tmp_path, rows)
    message = str(err)
    assert "demo.jsonl:3" in message
    assert "duplicate id 'r1'" in message
    assert "first seen on line 1" in message


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_input(tmp_path, text):
    err = _fixture_error(tmp_path, [_ok(1), {"id": "r2", "text": text, "label": "Objective"}])
    assert "demo.jsonl:2" in str(err)
    assert "empty input" in str(err)
    assert "'text'" in str(err)


def test_bad_split_value(tmp_path):
    err = _fixture_error(tmp_path, [_ok(1, split="testing"), _ok(2)])
    message = str(err)
    assert "demo.jsonl:1" in message
    assert "'testing'" in message
    assert "train, validation, test" in message


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_non_boolean_critical(tmp_path, value):
    err = _fixture_error(tmp_path, [_ok(1), _ok(2, critical=value)])
    message = str(err)
    assert "demo.jsonl:2" in message
    assert "'critical' must be true or false" in message
    assert repr(value) in message


def test_several_problems_are_listed_in_one_error(tmp_path):
    rows = [
        _ok(1),
        "{oops",                                    # 2: invalid JSON
        {"id": "r3", "label": "Objective"},         # 3: missing input
        _ok(4, "Neutral"),                          # 4: unknown label
        _ok(1, "Subjective"),                       # 5: duplicate of line 1
        _ok(6, split="dev"),                        # 6: bad split
    ]
    err = _fixture_error(tmp_path, rows)
    message = str(err)
    assert "5 problem(s)" in message
    for line, fragment in [(2, "invalid JSON"), (3, "missing input field"),
                           (4, "'Neutral'"), (5, "duplicate id 'r1'"), (6, "'dev'")]:
        assert re.search(rf"demo\.jsonl:{line}: [^\n]*{re.escape(fragment)}", message), \
            (line, fragment, message)


def test_many_problems_are_capped(tmp_path):
    rows = [_ok(i, "Nope") for i in range(1, 26)]
    message = str(_fixture_error(tmp_path, rows))
    assert "25 problem(s)" in message
    assert "... and 5 more" in message
    assert "demo.jsonl:20:" in message
    assert "demo.jsonl:21:" not in message


def test_missing_dataset_file(tmp_path):
    root = make_project(tmp_path)
    (root / "datasets" / "demo.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"demo\.jsonl: dataset file not found.*task\.yaml"):
        load_fixture(load_task(root, "demo"))


# --- unknown task / version ----------------------------------------------------------------------

def test_unknown_task_lists_known_tasks(tmp_path):
    root = make_project(tmp_path)
    other = root / "prompts" / "tickets"
    other.mkdir()
    (other / "task.yaml").write_text(DEFAULT_TASK_YAML, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_task(root, "demoo")
    assert "unknown task 'demoo'" in str(info.value)
    assert "known tasks: demo, tickets" in str(info.value)


def test_unknown_version_lists_versions_on_disk(tmp_path):
    root = make_project(tmp_path, templates={"v2": '{% extends "v1.jinja" %}',
                                             "v10": '{% extends "v1.jinja" %}'})
    task = load_task(root, "demo")
    with pytest.raises(UsageError) as info:
        load_version(task, "v3")
    message = str(info.value)
    assert "unknown prompt version 'v3'" in message
    assert "'demo'" in message
    assert "versions on disk: v1, v2, v10" in message


# --- templates -----------------------------------------------------------------------------------

def test_jinja_syntax_error_names_file_and_line(tmp_path):
    source = "{% block user %}\n{{ text }}\n{% if %}\n{% endblock %}\n"
    root = make_project(tmp_path, templates={"v1": source})
    task = load_task(root, "demo")
    with pytest.raises(TemplateError) as info:
        load_version(task, "v1")
    message = str(info.value)
    assert f"{task.prompt_dir / 'v1.jinja'}:3" in message
    assert "syntax error" in message


def test_syntax_error_in_parent_names_the_parent(tmp_path):
    parent = "{% block user %}\n{{ text }\n{% endblock %}\n"
    child = '{% extends "v1.jinja" %}\n'
    root = make_project(tmp_path, templates={"v1": parent, "v2": child})
    task = load_task(root, "demo")
    with pytest.raises(TemplateError) as info:
        load_version(task, "v2")
    assert f"{task.prompt_dir / 'v1.jinja'}:2" in str(info.value)


def test_undefined_variable_caught_by_renderer_constructor(tmp_path):
    source = "{% block system %}\nClassify.\n{% endblock %}\n{% block user %}\n{{ txt }}\n{% endblock %}\n"
    root = make_project(tmp_path, templates={"v1": source})
    task = load_task(root, "demo")
    version = load_version(task, "v1")  # loading alone is fine: the source is valid Jinja
    with pytest.raises(TemplateError) as info:
        Renderer(task, version)  # no example, no render: the constructor catches it
    message = str(info.value)
    assert "undefined variable 'txt'" in message
    assert f"{task.prompt_dir / 'v1.jinja'}:5" in message
    assert "text" in message  # says which input fields exist


def test_undefined_variable_in_child_names_child_line(tmp_path):
    child = '{% extends "v1.jinja" %}\n{% block instructions %}\nUse {{ style }}.\n{% endblock %}\n'
    root = make_project(tmp_path, templates={"v2": child})
    task = load_task(root, "demo")
    with pytest.raises(TemplateError) as info:
        Renderer(task, load_version(task, "v2"))
    assert "undefined variable 'style'" in str(info.value)
    assert f"{task.prompt_dir / 'v2.jinja'}:3" in str(info.value)


def test_extends_missing_parent(tmp_path):
    child = '{% extends "v9.jinja" %}\n{% block instructions %}x{% endblock %}\n'
    root = make_project(tmp_path, templates={"v2": child})
    task = load_task(root, "demo")
    with pytest.raises(TemplateError) as info:
        load_version(task, "v2")
    message = str(info.value)
    assert "v2.jinja" in message
    assert "'v9.jinja'" in message
    assert "does not exist" in message


def test_template_without_user_block(tmp_path):
    root = make_project(tmp_path, templates={"v1": "{% block system %}hi {{ text }}{% endblock %}\n"})
    task = load_task(root, "demo")
    with pytest.raises(TemplateError, match=r"v1\.jinja: no \{% block user %\}"):
        Renderer(task, load_version(task, "v1"))


def test_dataset_text_with_jinja_syntax_renders_literally(tmp_path):
    texts = ["Price is {{ 7*7 }} dollars.", "{% if %} broken {% endif %}",
             "{{ labels }} and {# comment #}"]
    rows = [{"id": f"t{i}", "text": text, "label": "Objective"} for i, text in enumerate(texts)]
    rows.append({"id": "s1", "text": "Lovely.", "label": "Subjective"})
    root = make_project(tmp_path, rows=rows)
    task = load_task(root, "demo")
    fixture = load_fixture(task)
    renderer = Renderer(task, load_version(task, "v1"))
    by_id = {e.id: e for e in fixture.examples}
    for i, text in enumerate(texts):
        messages = renderer.render(by_id[f"t{i}"]).messages
        user = [m.content for m in messages if m.role == "user"]
        assert user == [text]
    assert "49" not in renderer.render(by_id["t0"]).messages[-1].content


# --- task.yaml -----------------------------------------------------------------------------------

def test_task_yaml_invalid_yaml_names_line(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: [unclosed
        thresholds:
          macro_f1: 0.5
        """)
    message = str(err)
    assert re.search(r"task\.yaml:\d+: invalid YAML", message), message
    line = int(re.search(r"task\.yaml:(\d+)", message).group(1))
    assert 4 <= line <= 6, message  # at or just after the unclosed flow sequence


def test_threshold_for_unknown_label_names_key_line(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        thresholds:
          macro_f1: 0.5
          recall:
            Objective: 0.3
            Objectve: 0.3
        """)
    message = str(err)
    assert "task.yaml:9: thresholds.recall.Objectve" in message
    assert "'Objectve' is not a label" in message
    assert "Objective, Subjective" in message


def test_threshold_unknown_metric(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        thresholds:
          macro_f2: 0.5
        """)
    message = str(err)
    assert "task.yaml:6: thresholds.macro_f2" in message
    assert "unknown metric 'macro_f2'" in message
    assert "macro_f1" in message and "recall" in message  # lists the choices


def test_main_metric_unknown(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        metric: f1_macro
        """)
    assert "task.yaml:5: metric: unknown metric 'f1_macro'" in str(err)
    assert "macro_f1" in str(err)


@pytest.mark.parametrize("value", [1.5, -0.1, "high"])
def test_threshold_out_of_range(tmp_path, value):
    err = _task_error(tmp_path, f"""\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        thresholds:
          macro_f1: {value}
        """)
    assert "task.yaml:6: thresholds.macro_f1: expected a number between 0 and 1" in str(err)


def test_split_fractions_must_sum_to_one(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        split: {train: 0.6, validation: 0.3, test: 0.3}
        """)
    message = str(err)
    assert "task.yaml:5: split" in message
    assert "sum to 1" in message
    assert "1.2" in message


@pytest.mark.parametrize("name", ["INVALID", "invalid"])
def test_label_named_invalid_is_reserved(tmp_path, name):
    err = _task_error(tmp_path, f"""\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          {name}: unparseable
        """)
    message = str(err)
    assert f"task.yaml:4: labels.{name}" in message
    assert "reserved" in message


def test_unknown_top_level_key_warns_with_the_closest_key(tmp_path):
    # A typo is most likely: a warning naming file:line and the key meant; an error when strict.
    task_yaml = textwrap.dedent("""\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          Subjective: opinions
        treshold: 0.5
        """)
    root = make_project(tmp_path, task_yaml=task_yaml)
    with pytest.warns(HarnessWarning) as caught:
        load_task(root, "demo")
    assert "task.yaml:5: unknown key 'treshold' — did you mean 'thresholds'?" in \
        str(caught[0].message)
    with pytest.raises(UsageError) as info, strict_warnings():
        load_task(root, "demo")
    assert "task.yaml:5: unknown key 'treshold'" in str(info.value)


def test_labels_differing_only_in_case(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        labels:
          Objective: facts
          objective: also facts
        """)
    assert "task.yaml:2: labels" in str(err)
    assert "ignoring case" in str(err)


def test_input_name_reserved_for_templates(tmp_path):
    err = _task_error(tmp_path, """\
        dataset: datasets/demo.jsonl
        inputs: [text, labels]
        labels:
          Objective: facts
          Subjective: opinions
        """)
    assert "task.yaml:2: inputs: 'labels' is reserved" in str(err)


@pytest.mark.parametrize("snippet", [
    "inputs: 5",
    "split: {train: '0.5', validation: 0.25, test: 0.25}",
])
def test_malformed_values_give_usage_error_not_crash(tmp_path, snippet):
    # A wrongly typed value must still give one clear UsageError naming task.yaml, not a
    # TypeError from deep inside the loader.
    task_yaml = ("dataset: datasets/demo.jsonl\nlabels:\n  Objective: facts\n"
                 f"  Subjective: opinions\n{snippet}\n")
    root = make_project(tmp_path, task_yaml=task_yaml)
    with pytest.raises(HarnessError) as info:
        load_task(root, "demo")
    assert "task.yaml:5" in str(info.value)


def test_yes_no_labels_must_be_quoted(tmp_path):
    # YAML 1.1 reads Yes/No as booleans; other YAML readers of the same file would too, so the
    # harness asks for quotes instead of guessing.
    task_yaml = ("dataset: datasets/demo.jsonl\nlabels:\n  Yes: it is\n  No: it is not\n")
    err = _task_error(tmp_path, task_yaml)
    assert "task.yaml:3: labels.Yes" in str(err)
    assert 'quote it: "Yes":' in str(err)
    quoted = ('dataset: datasets/demo.jsonl\nlabels:\n  "Yes": it is\n  "No": it is not\n')
    root = make_project(tmp_path, task_yaml=quoted,
                        rows=[{"id": "r1", "text": "x", "label": "Yes"},
                              {"id": "r2", "text": "y", "label": "No"}])
    task = load_task(root, "demo")
    assert task.label_names == ("Yes", "No")


# --- pyproject [tool.harness] --------------------------------------------------------------------

def test_pyproject_unknown_key(tmp_path):
    root = make_project(tmp_path)
    (root / "pyproject.toml").write_text(
        '[tool.harness]\nmodel = "local"\nmodle = "local"\n', encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_settings(root, environ={})
    message = str(info.value)
    assert "pyproject.toml" in message
    assert "unknown key(s) modle" in message
    assert "model" in message.split("known keys:")[1]


def test_pyproject_invalid_toml(tmp_path):
    root = make_project(tmp_path)
    (root / "pyproject.toml").write_text('[tool.harness]\nmodel = "local\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"pyproject\.toml"):
        load_settings(root, environ={})
