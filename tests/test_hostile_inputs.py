"""Every hostile or messy input measured in issue 13, as a named regression test: each one loads,
or fails with one HarnessError naming the file and line/row/key. No traceback, no hang, no silent
acceptance. (The property-based version of the same invariant is tests/test_fuzz_inputs.py.)"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest

from harness import datasets
from harness.datasets import load_fixture, read_jsonl_rows, representative
from harness.demos import read_sidecar
from harness.errors import (DatasetError, HarnessWarning, TemplateError, UsageError,
                            strict_warnings)
from harness.inputs import safeyaml
from harness.labelstudio.annotations import read_export
from harness.prompts import Renderer, load_version
from harness.records import Example, RunSpec
from harness.tasks import load_task
from tests.helpers import DEFAULT_TASK_YAML, default_rows, make_project

LABELS = ("Objective", "Subjective")
HEAD = "dataset: datasets/demo.jsonl\nlabels:\n  Objective: facts\n  Subjective: opinions\n"


def task_error(tmp_path: Path, text: str | bytes) -> str:
    root = make_project(tmp_path)
    path = root / "prompts" / "demo" / "task.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UsageError) as info:
        load_task(root, "demo")
    assert str(path) in str(info.value)
    return str(info.value).replace(str(path), "task.yaml")


def write_lines(path: Path, lines: list[bytes | str | dict]) -> None:
    out = [line if isinstance(line, bytes) else
           (line if isinstance(line, str) else json.dumps(line)).encode() for line in lines]
    path.write_bytes(b"\n".join(out) + b"\n")


def fixture_error(tmp_path: Path, lines: list[bytes | str | dict]) -> str:
    root = make_project(tmp_path)
    path = root / "datasets" / "demo.jsonl"
    write_lines(path, lines)
    with pytest.raises(DatasetError) as info:
        load_fixture(load_task(root, "demo"))
    assert str(path) in str(info.value)
    return str(info.value).replace(str(path), "demo.jsonl")


def row(i: int, label: str = "Objective", **extra) -> dict:
    return {"id": f"r{i}", "text": f"sentence {i}", "label": label, **extra}


# --- task.yaml -----------------------------------------------------------------------------------

def test_task_yaml_not_utf8_names_byte_offset(tmp_path):
    message = task_error(tmp_path, HEAD.encode() + b"description: caf\xe9\n")
    assert "task.yaml:5: invalid UTF-8 at byte offset" in message
    assert "0xe9" in message


LAUGHS = ("&a [x,x,x,x,x,x,x,x,x]", "&b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
          "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b]", "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
          "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d]", "&f [*e,*e,*e,*e,*e,*e,*e,*e,*e]")


@pytest.mark.parametrize("key", ["description", "dataset", "optimize", "notakey"])
def test_task_yaml_billion_laughs_is_refused(tmp_path, key):
    # Six levels of nine: 9**6 values once expanded. Every key the issue found hanging.
    bomb = "".join(f"x{i}: {value}\n" for i, value in enumerate(LAUGHS))
    text = HEAD.replace("dataset: datasets/demo.jsonl\n", "") + bomb + \
        f"{key}: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n" + \
        ("dataset: datasets/demo.jsonl\n" if key != "dataset" else "")
    message = task_error(tmp_path, text)
    assert "billion laughs" in message
    assert "task.yaml:" in message


def test_task_yaml_mapping_bomb_is_refused(tmp_path):
    levels = "".join(f"m{i}: &m{i} {{p: *m{i - 1}, q: *m{i - 1}, r: *m{i - 1}}}\n"
                     for i in range(1, 30))
    message = task_error(tmp_path, HEAD + "m0: &m0 {a: 1}\n" + levels)
    assert "expands to more than" in message


@pytest.mark.parametrize("nested", ["[" * 50_000, "{a: " * 5_000,
                                    "\n" + "".join("  " * i + f"k{i}:\n" for i in range(200))])
def test_task_yaml_deep_nesting_is_refused(tmp_path, nested):
    message = task_error(tmp_path, HEAD + "description: " + nested)
    assert "nested deeper than" in message
    assert "task.yaml:" in message


def test_task_yaml_recursive_alias(tmp_path):
    assert "recursive alias" in task_error(tmp_path, HEAD + "optimize: &o {x: *o}\n")


def test_task_yaml_too_big(tmp_path):
    message = task_error(tmp_path, HEAD + "description: " + "x" * 300_000 + "\n")
    assert "the limit is 262,144 bytes" in message


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "'0.5'", "yes"])
def test_split_fraction_must_be_a_finite_number(tmp_path, value):
    message = task_error(tmp_path, HEAD + f"split: {{train: {value}, validation: 0.5, test: 0.5}}\n")
    assert "task.yaml:5: split.train: expected a number between 0 and 1" in message


@pytest.mark.parametrize("snippet", ["baseline_tolerance: .nan", "thresholds: {macro_f1: .nan}",
                                     "thresholds: {recall: {Objective: .inf}}"])
def test_nan_and_inf_in_numeric_fields(tmp_path, snippet):
    assert "task.yaml:5:" in task_error(tmp_path, HEAD + snippet + "\n")


def test_5000_digit_integer_as_seed(tmp_path):
    message = task_error(tmp_path, HEAD + "split: {seed: " + "7" * 5000 + "}\n")
    assert "task.yaml:5: integer with 5,000 digits; the limit is 100" in message


def test_seed_out_of_range(tmp_path):
    message = task_error(tmp_path, HEAD + f"split: {{seed: {2**70}}}\n")
    assert "split.seed: expected an integer within" in message


def test_unknown_keys_mixing_int_and_str_warn_each(tmp_path):
    # Was `TypeError: '<' not supported` (sorting an int with a str).
    root = make_project(tmp_path, task_yaml=HEAD + "1: x\ncritcal: y\n")
    with pytest.warns(HarnessWarning) as caught:
        load_task(root, "demo")
    messages = [str(w.message) for w in caught]
    assert any("task.yaml:5: unknown key '1'" in m for m in messages)
    assert any("task.yaml:6: unknown key 'critcal'" in m for m in messages)


def test_a_task_yaml_read_again_warns_again_and_an_edit_is_seen(tmp_path):
    """safeyaml parses each text once per process; what a load returns is the caller's own, every
    load still checks and warns, and an edited file is parsed anew."""
    root = make_project(tmp_path, task_yaml=HEAD + "critcal: y\n")
    for _ in range(2):
        with pytest.warns(HarnessWarning, match="unknown key 'critcal'"):
            task = load_task(root, "demo")
    document = safeyaml.load(root / "prompts" / "demo" / "task.yaml")
    document.data["labels"]["Objective"] = "changed by a caller"
    assert safeyaml.load(root / "prompts" / "demo" / "task.yaml").data["labels"]["Objective"] \
        == "facts"
    (root / "prompts" / "demo" / "task.yaml").write_text(
        HEAD.replace("facts", "measurable facts"), encoding="utf-8")
    assert load_task(root, "demo").labels != task.labels


@pytest.mark.parametrize("text,line", [
    (HEAD + "dataset: other.jsonl\n", 5),
    (HEAD + "thresholds:\n  macro_f1: 0.5\n  macro_f1: 0.1\n", 7),
    (HEAD + "thresholds:\n  recall: {Objective: 0.5, Objective: 0.1}\n", 6),
    (HEAD + "  Objective: twice\n", 5),
])
def test_duplicate_yaml_keys_name_the_line(tmp_path, text, line):
    message = task_error(tmp_path, text)
    assert f"task.yaml:{line}: duplicate key" in message


@pytest.mark.parametrize("snippet,name", [
    ("labels:\n  yes: a\n  no: b\n", "yes"),
    ("labels:\n  Objective: a\n  null: b\n", "null"),
    ("labels:\n  Objective: a\n  1.5: b\n", "1.5"),
])
def test_yaml_booleans_and_null_as_label_names_must_be_quoted(tmp_path, snippet, name):
    message = task_error(tmp_path, "dataset: datasets/demo.jsonl\n" + snippet)
    assert f"labels.{name}: YAML reads the name {name!r}" in message
    assert f'quote it: "{name}":' in message


def test_yaml_boolean_under_thresholds_must_be_quoted(tmp_path):
    message = task_error(tmp_path, HEAD + "thresholds: {recall: {on: 0.5}}\n")
    assert "thresholds.recall.on: YAML reads the name 'on' as a bool" in message


def test_retired_naming_no_version(tmp_path):
    message = task_error(tmp_path, HEAD + "retired: [v9]\n")
    assert "task.yaml:5: retired: 'v9' is not a prompt version of this task (versions: v1)" \
        in message


def test_retired_listed_twice(tmp_path):
    assert "'v1' is listed twice" in task_error(tmp_path, HEAD + "retired: [v1, v1]\n")


def test_threshold_on_unknown_label_suggests_the_label(tmp_path):
    message = task_error(tmp_path, HEAD + "thresholds: {recall: {Objectve: 0.5}}\n")
    assert "'Objectve' is not a label" in message and "did you mean 'Objective'?" in message


@pytest.mark.parametrize("snippet", ["description: [a, b]", "dataset: 5",
                                     "inputs: [text, text]"])
def test_wrong_types_are_named(tmp_path, snippet):
    assert "task.yaml:" in task_error(tmp_path, HEAD + snippet + "\n")


def test_task_yaml_crlf_bom_and_merge_keys_are_accepted(tmp_path):
    text = "\ufeffbase: &base {macro_f1: 0.5}\r\n" + HEAD.replace("\n", "\r\n") + \
        "thresholds:\r\n  <<: *base\r\n  accuracy: 0.4\r\n"
    root = make_project(tmp_path, task_yaml=text)
    with pytest.warns(HarnessWarning, match="unknown key 'base'"):
        task = load_task(root, "demo")
    assert {(r.metric, r.minimum) for r in task.rules} == {("macro_f1", 0.5), ("accuracy", 0.4)}


def test_strict_mode_turns_a_task_warning_into_an_error(tmp_path):
    root = make_project(tmp_path, task_yaml=DEFAULT_TASK_YAML + "critcal: true\n")
    with pytest.warns(HarnessWarning):
        load_task(root, "demo")  # shown once here: strict mode must still see it
    with pytest.raises(UsageError, match="unknown key 'critcal'.*strict mode"), strict_warnings():
        load_task(root, "demo")


def test_strict_mode_leaves_other_warnings_alone():
    with strict_warnings(), pytest.warns(DeprecationWarning):
        warnings.warn("not ours", DeprecationWarning)


# --- fixtures ------------------------------------------------------------------------------------

def test_fixture_invalid_utf8_names_line_and_byte_offset(tmp_path):
    good = json.dumps(row(1)).encode()
    bad = json.dumps(row(2)).encode().replace(b"sentence", b"sent\xffence")
    message = fixture_error(tmp_path, [good, bad])
    offset = len(good) + 1 + bad.index(b"\xff")
    assert f"demo.jsonl:2: invalid UTF-8 at byte offset {offset} (byte 0xff" in message


@pytest.mark.parametrize("char", ["\u0085", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_fixture_text_with_unicode_line_breaks_loads_and_lines_stay_exact(tmp_path, char):
    # str.splitlines() broke these lines apart ("Unterminated string") and shifted every
    # later line number.
    root = make_project(tmp_path)
    rows = [json.dumps(row(1, text=f"before{char}after"), ensure_ascii=False),
            json.dumps(row(2, "Subjective")), '{"id": "r3", "text": "x", "label": "Nope"}']
    (root / "datasets" / "demo.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_fixture(load_task(root, "demo"))
    assert info.value.line == 3
    rows[2] = json.dumps(row(3))
    (root / "datasets" / "demo.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    fixture = load_fixture(load_task(root, "demo"))
    assert fixture.examples[0].inputs["text"] == f"before{char}after"
    assert [e.line for e in fixture.examples] == [1, 2, 3]


def test_fixture_10mb_line_is_refused_with_the_limit(tmp_path):
    message = fixture_error(tmp_path, [row(1), row(2, text="x" * 10_000_000)])
    assert "demo.jsonl:2: the line is 10,000,0" in message
    assert f"the limit is {datasets.MAX_LINE_BYTES:,} bytes per line" in message


def test_fixture_file_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_FILE_BYTES", 1000)
    message = fixture_error(tmp_path, [row(i) for i in range(40)])
    assert "the limit is 1,000 bytes" in message


def test_fixture_deeply_nested_json(tmp_path):
    # Was RecursionError.
    message = fixture_error(tmp_path, [row(1), '{"id": "r2", "x": ' + "[" * 100_000])
    assert "demo.jsonl:2: nested deeper than 64 levels" in message


def test_fixture_5000_digit_integer_id(tmp_path):
    # Was `ValueError: Exceeds the limit (4300 digits)`.
    message = fixture_error(tmp_path, [row(1), '{"id": ' + "9" * 5000 + ', "text": "x", '
                                               '"label": "Objective"}'])
    assert "demo.jsonl:2: integer with 5,000 digits; the limit is 100" in message


def test_fixture_lone_surrogate_in_text(tmp_path):
    # Was UnicodeEncodeError in hash_messages, mid-run.
    message = fixture_error(tmp_path, [row(1), '{"id": "r2", "text": "a \\ud800 b", '
                                               '"label": "Objective"}'])
    assert "demo.jsonl:2: lone surrogate '\\ud800'" in message


def test_fixture_paired_surrogate_escape_is_fine(tmp_path):
    root = make_project(tmp_path, rows=[row(1), '{"id": "r2", "text": "\\ud83d\\ude00", '
                                                '"label": "Subjective"}'])
    assert load_fixture(load_task(root, "demo")).examples[1].inputs["text"] == "\U0001F600"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_fixture_nan_and_infinity_are_not_json(tmp_path, value):
    message = fixture_error(tmp_path, [row(1), '{"id": "r2", "text": "x", "label": '
                                               f'"Objective", "score": {value}}}'])
    assert "demo.jsonl:2:" in message


def test_fixture_duplicate_json_keys(tmp_path):
    # Was: the last "label" silently won.
    message = fixture_error(tmp_path, [row(1), '{"id": "r2", "text": "x", "label": "Objective", '
                                               '"label": "Subjective"}'])
    assert "demo.jsonl:2: duplicate key 'label'" in message


def test_fixture_split_null_means_no_split(tmp_path):
    rows = default_rows()
    rows[0]["split"] = None
    root = make_project(tmp_path, rows=rows)
    fixture = load_fixture(load_task(root, "demo"))
    assert fixture.examples[0].split in ("train", "validation", "test")


@pytest.mark.parametrize("typo,meant", [("critcal", "critical"), ("splt", "split"),
                                        ("lable", "label"), ("txt", "text")])
def test_fixture_unknown_key_warns_with_the_closest_key(tmp_path, typo, meant):
    rows = default_rows()
    rows[2][typo] = "x"
    rows[5][typo] = "y"
    root = make_project(tmp_path, rows=rows)
    with pytest.warns(HarnessWarning) as caught:
        load_fixture(load_task(root, "demo"))
    message = str(caught[0].message)
    assert f"demo.jsonl:3: unknown key '{typo}' — did you mean '{meant}'?" in message
    assert "in 2 row(s)" in message


def test_fixture_free_form_keys_do_not_warn(tmp_path):
    rows = default_rows()
    rows[0]["_note"] = "x"
    rows[1]["meta"] = {"source": "web"}
    root = make_project(tmp_path, rows=rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HarnessWarning)
        load_fixture(load_task(root, "demo"))


def test_fixture_unknown_key_is_shown_next_to_the_error_it_explains(tmp_path):
    message = fixture_error(tmp_path, [row(1), {"id": "r2", "text": "x", "labl": "Objective"}])
    assert "demo.jsonl:2: missing 'label'" in message
    assert "demo.jsonl:2: unknown key 'labl' — did you mean 'label'?" in message


def test_fixture_strict_mode(tmp_path):
    rows = default_rows()
    rows[0]["critcal"] = True
    root = make_project(tmp_path, rows=rows)
    with pytest.raises(UsageError, match="demo.jsonl:1: unknown key 'critcal'"), \
            strict_warnings():
        load_fixture(load_task(root, "demo"))


def test_fixture_crlf_and_bom_are_accepted(tmp_path):
    root = make_project(tmp_path)
    lines = [json.dumps(r) for r in default_rows()]
    (root / "datasets" / "demo.jsonl").write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    assert len(load_fixture(load_task(root, "demo")).examples) == len(lines)


def test_many_bad_lines_are_all_reported_past_the_located_ones(tmp_path):
    # Past the first 20 problems the slow locating pass is skipped; each line is still named.
    bad = ['{"id": "x", "a": 1, "a": 2}'] * 30
    message = fixture_error(tmp_path, [row(1), *bad])
    assert "31 problem(s)" not in message and "30 problem(s)" in message
    assert "demo.jsonl:2: duplicate key 'a'" in message
    assert "... and 10 more" in message
    from harness.inputs import strictjson
    from harness.inputs.text import BadInput
    with pytest.raises(BadInput, match="not strict JSON"):
        strictjson.loads('{"a": 1, "a": 2}', locate=False)


def test_read_jsonl_rows_follows_the_same_rules(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": "x\xc2\x85y"}\n{"a": 1, "a": 2}\n')
    with pytest.raises(DatasetError, match="rows.jsonl:2: duplicate key 'a'"):
        read_jsonl_rows(path)


# --- --limit: a stratified, seeded sample --------------------------------------------------------

def examples(counts: dict[str, int], prefix: str = "") -> list[Example]:
    return [Example(id=f"{prefix}{label}-{i}", inputs={"text": "x"}, label=label, split="test",
                    line=0) for label, n in counts.items() for i in range(n)]


def test_limit_on_a_label_sorted_split_takes_every_label():
    # Was: the first 60 rows of a label-sorted file, one class only.
    pool = examples({"Objective": 170, "Subjective": 170})
    chosen = representative(pool, 60, seed=13)
    assert Counter(e.label for e in chosen) == {"Objective": 30, "Subjective": 30}


def test_limit_follows_the_label_shares_and_keeps_rare_labels():
    pool = examples({"a": 900, "b": 90, "c": 10})
    counts = Counter(e.label for e in representative(pool, 100, seed=0))
    assert sum(counts.values()) == 100
    assert counts["c"] >= 1 and abs(counts["a"] - 90) <= 2 and abs(counts["b"] - 9) <= 2


def test_limit_keeps_file_order_and_is_seeded():
    pool = examples({"a": 50, "b": 50})
    chosen = representative(pool, 20, seed=1)
    assert [pool.index(e) for e in chosen] == sorted(pool.index(e) for e in chosen)
    assert chosen == representative(pool, 20, seed=1)
    assert chosen != representative(pool, 20, seed=2)
    assert representative(pool, None, seed=1) == tuple(pool)
    assert representative(pool, 500, seed=1) == tuple(pool)


def test_limit_is_stable_as_rows_are_added():
    pool = examples({"a": 60, "b": 40})
    grown = pool + examples({"a": 5, "b": 3}, prefix="new-")
    before = {e.id for e in representative(pool, 30, seed=3)}
    after = {e.id for e in representative(grown, 30, seed=3)}
    for label in ("a", "b"):
        old = {i for i in before if i.startswith(label)}
        new = {i for i in after if i.startswith(label)}
        assert old <= new or new <= old  # each label's sample only grows or shrinks at its end
    assert len(before & after) >= 30 - 8 - 2


def test_runner_limit_uses_the_stratified_sample(tmp_path):
    from harness.cache import Cache
    from harness.records import ModelOutput
    from harness.runner import run

    class FirstLabel:  # a test double: answers the first label, no model
        name = "first-label"

        def identity(self):
            return {"backend": "test-double"}

        def modes(self):
            return ("score",)

        def complete(self, requests):
            for i, request in enumerate(requests):
                yield i, ModelOutput(raw="", distribution={request.labels[0]: 1.0})

        def close(self):
            pass

    rows = [row(i, "Objective", split="test") for i in range(20)] + \
        [row(i + 20, "Subjective", split="test") for i in range(20)]
    root = make_project(tmp_path, rows=rows)
    result = run(RunSpec(task="demo", version="v1", split="test", limit=6), root=root,
                 backend=FirstLabel(), cache=Cache(tmp_path / "cache", "off"), progress=False)
    assert Counter(e.label for e in result.examples) == {"Objective": 3, "Subjective": 3}


# --- templates -----------------------------------------------------------------------------------

def render_error(tmp_path: Path, source: str | bytes, *, extra: dict | None = None) -> str:
    root = make_project(tmp_path, templates={"v2": "{% block user %}x{% endblock %}"})
    path = root / "prompts" / "demo" / "v2.jinja"
    path.write_bytes(source if isinstance(source, bytes) else source.encode())
    for name, text in (extra or {}).items():
        (root / "prompts" / "demo" / name).write_text(text, encoding="utf-8")
    task = load_task(root, "demo")
    with pytest.raises(TemplateError) as info:
        Renderer(task, load_version(task, "v2")).render(load_fixture(task).examples[0])
    return str(info.value).replace(str(root / "prompts" / "demo") + "/", "")


BLOCK = "{% block user %}\n{{ text }}\n"


@pytest.mark.parametrize("body,expected", [
    ("{% for i in range(10**9) %}x{% endfor %}", "range() of 1,000,000,000 items is over the limit"),
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
     "more than 200,000 loop iterations"),
    ("{{ 'x' * 10**10 }}", "a repeated value of 10,000,000,000 is over the limit"),
    ("{{ 10**10000 }}", "10 ** 10000 is over the limit of 4,096 bits"),
    ("{{ 'x'|center(10**10) }}", "center() width"),
    ("{{ 'x'.ljust(10**9) }}", "ljust() width"),
    ("{{ '%999999999d'|format(1) }}", "a % format width"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width"),
    ("{{ ('x' * 100000)|replace('x', 'y' * 100000) }}", "replace() result"),
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}", "a ~ concatenation"),
    ("{% set big %}{% for i in range(9999) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}",
     "the template produced more than 2,000,000 characters"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep"),
    ("{% include 'v2.jinja' %}", "recursion too deep"),
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
])
def test_template_limits_name_the_template_and_its_line(tmp_path, body, expected):
    # Each was an OverflowError / MemoryError / RecursionError / ValueError traceback or a hang.
    message = render_error(tmp_path, BLOCK + "\n" + body + "\n{% endblock %}\n")
    assert message.startswith("v2.jinja:4: ")
    assert expected in message
    assert "(rendering example 'o1')" in message


def test_runtime_template_error_reports_the_template_line(tmp_path):
    # Was `v9.jinja:36` (the generated Python's line) for an 8-line file.
    source = "{% block system %}\nsystem\n{% endblock %}\n{% block user %}\n{{ text }}\n\n" \
             "{{ text.nope.deeper }}\n{% endblock %}\n"
    assert render_error(tmp_path, source).startswith("v2.jinja:7: ")


def test_template_error_in_a_parent_names_the_parent(tmp_path):
    parent = "{% block user %}\n\n{{ 1 // 0 }}\n{% endblock %}\n"
    message = render_error(tmp_path, '{% extends "base.jinja" %}\n',
                           extra={"base.jinja": parent})
    assert message.startswith("base.jinja:3: ZeroDivisionError")


def test_template_not_utf8_names_byte_offset(tmp_path):
    message = render_error(tmp_path, b"{% block user %}\ncaf\xe9\n{% endblock %}")
    assert message.startswith("v2.jinja:2: invalid UTF-8 at byte offset 20 (byte 0xe9")


def test_template_file_size_limit(tmp_path):
    message = render_error(tmp_path, "{% block user %}" + "x" * 300_000 + "{% endblock %}")
    assert message.startswith("v2.jinja: the template is")
    assert "the limit is 262,144 bytes" in message


def test_template_nesting_too_deep_to_parse(tmp_path):
    message = render_error(tmp_path, "{% block user %}{{ " + "(" * 5000 + "1" + ")" * 5000 +
                           " }}{% endblock %}")
    assert message.startswith("v2.jinja: expressions nested too deeply")


def test_template_lone_surrogate_output(tmp_path):
    assert "lone surrogate" in render_error(tmp_path,
                                            "{% block user %}{{ '\\ud800' }}{% endblock %}")


def test_bounded_rendering_renders_like_plain_jinja(tmp_path):
    # The limits must not change what a normal template renders.
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    from harness.template_limits import BoundedEnvironment, rendering
    source = ("{% set ns = namespace(n=0) %}{% for label in labels if label != 'b' %}"
              "{{ loop.index }}/{{ loop.length }} {{ label|upper|center(9) }}"
              "{% set ns.n = ns.n + 1 %}{% else %}none{% endfor %}|{{ ns.n }}|"
              "{{ '%5.2f'|format(3.14159) }}|{{ '{:>6}'.format('ab') }}|{{ 'a' ~ 'b' * 3 }}|"
              "{{ text|wordwrap(10)|indent(2) }}|{{ [1, 2, 3]|join(', ') }}|{{ 2 ** 10 }}|"
              "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m('y') }}{{ range(3)|list }}"
              "{{ text|replace('quick', 'slow') }}{{ {'k': [1, 2]}|tojson }}")
    variables = {"labels": ["a", "b", "c"], "text": "the quick brown fox jumps over the dog"}
    plain = SandboxedEnvironment(undefined=jinja2.StrictUndefined).from_string(source)
    bounded = BoundedEnvironment(undefined=jinja2.StrictUndefined).from_string(source)
    with rendering():
        assert bounded.render(variables) == plain.render(variables)


# --- demonstrations sidecars ---------------------------------------------------------------------

def sidecar_error(tmp_path: Path, content: bytes | str) -> str:
    path = tmp_path / "v3.demos.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TemplateError) as info:
        read_sidecar(path, input_fields=("text",), labels=LABELS)
    assert str(path) in str(info.value)
    return str(info.value).replace(str(path), "v3.demos.json")


GOOD_DEMO = '{"id": "d1", "inputs": {"text": "x"}, "label": "Objective"}'


@pytest.mark.parametrize("content,expected", [
    (b'{"kind": "fixed", "examples": [\n{"inputs": {"text": "caf\xe9"}}]}',
     "v3.demos.json:2: cannot read demonstrations: invalid UTF-8 at byte offset"),
    ('{"kind": "fixed",\n "kind": "knn", "examples": []}', "v3.demos.json:1: cannot read "
                                                          "demonstrations: duplicate key 'kind'"),
    ('{"kind": "knn", "k": NaN, "examples": []}', "NaN is not valid JSON"),
    ('{"kind": "knn", "k": ' + "9" * 5000 + ', "examples": []}', "integer with 5,000 digits"),
    ('{"kind": "knn", "k": 100000, "examples": []}', "k must be an integer in 0..1000"),
    ('{"kind": "fixed", "examples": ' + "[" * 10_000, "nested deeper than 64 levels"),
    ('{"kind": "fixed", "examples": [' + GOOD_DEMO + ", " + GOOD_DEMO + "]}",
     "examples[1]: duplicate id 'd1'"),
    ('{"kind": "fixed", "examples": [{"id": "d", "inputs": {"text": "\\udc00"}, '
     '"label": "Objective"}]}', "lone surrogate"),
    ('{"kind": "fixed", "examples": [{"id": [1], "inputs": {"text": "x"}, '
     '"label": "Objective"}]}', "id must be text or an integer"),
])
def test_sidecar_hostile_content(tmp_path, content, expected):
    assert expected in sidecar_error(tmp_path, content)


def test_sidecar_unknown_key_warns(tmp_path):
    path = tmp_path / "v3.demos.json"
    path.write_text('{"kind": "fixed", "kk": 3, "examples": [{"id": "d", "inputs": '
                    '{"text": "x"}, "lable": "Objective", "label": "Objective"}]}')
    with pytest.warns(HarnessWarning) as caught:
        read_sidecar(path, input_fields=("text",), labels=LABELS)
    messages = [str(w.message) for w in caught]
    assert any("top level: unknown key 'kk' — did you mean 'k'?" in m for m in messages)
    assert any("examples[0]: unknown key 'lable' — did you mean 'label'?" in m for m in messages)


# --- Label Studio exports ------------------------------------------------------------------------

def export_error(tmp_path: Path, content: bytes | str) -> str:
    path = tmp_path / "export.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises((DatasetError, UsageError)) as info:
        read_export(path, labels=LABELS)
    assert str(path) in str(info.value)
    return str(info.value).replace(str(path), "export.json")


@pytest.mark.parametrize("content,expected", [
    (b'[\n{"id": 1, "data": {"text": "caf\xe9"}}]', "export.json:2: invalid UTF-8 at byte offset"),
    ('[\n{"id": 1,\n "id": 2, "data": {}}]', "export.json:2: duplicate key 'id'"),
    ('[{"id": ' + "1" * 5000 + ', "data": {}}]', "export.json:1: integer with 5,000 digits"),
    ('[{"id": 1, "data": ' + "[" * 100_000, "export.json:1: nested deeper than 64 levels"),
    ('[{"id": 1, "data": {"text": "\\ud800"}}]', "export.json:1: lone surrogate"),
    ('[{"id": 1, "data": {"text": "x"}, "annotations": [{"result": [{"type": "choices", '
     '"value": {"choices": ["Objective"]}}]}], "total": Infinity}]', "Infinity is not valid"),
])
def test_label_studio_export_hostile_content(tmp_path, content, expected):
    assert expected in export_error(tmp_path, content)


def test_label_studio_export_size_limit(tmp_path, monkeypatch):
    from harness.labelstudio import annotations
    monkeypatch.setattr(annotations, "MAX_EXPORT_BYTES", 100)
    assert "the limit is 100 bytes" in export_error(tmp_path, json.dumps(
        [{"id": i, "data": {"text": "x"}} for i in range(20)]))


def test_format_warning_prints_harness_warnings_as_the_place_only():
    from harness.errors import format_warning
    text = format_warning(HarnessWarning("a.jsonl:3: unknown key 'x'"), HarnessWarning,
                          "/site-packages/harness/datasets.py", 99)
    assert text == "harness: warning: a.jsonl:3: unknown key 'x'\n"
    other = format_warning(UserWarning("u"), UserWarning, "f.py", 1)
    assert "f.py:1: UserWarning: u" in other


def test_template_read_from_disk_hashes_like_the_same_bytes_from_git(tmp_path):
    # The bounded loader reads bytes; it must still give what a text-mode read gives (universal
    # newlines, BOM kept), or a CRLF template's hash would differ between disk and a git commit.
    root = make_project(tmp_path)
    blob = b"\xef\xbb\xbf{% block user %}\r\n{{ text }}\r\n{% endblock %}\r\n"
    (root / "prompts" / "demo" / "v2.jinja").write_bytes(blob)
    task = load_task(root, "demo")
    assert load_version(task, "v2").content_hash == \
        load_version(task, "v2", files={"v2.jinja": blob}).content_hash
