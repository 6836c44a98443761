"""Fuzzing every file the harness reads (issue 13): fixtures, task.yaml, templates, `.demos.json`
sidecars and Label Studio exports, built from valid files with hostile pieces mixed in.

Invariant: each input loads, or raises a HarnessError whose message names the file and the
line/row/key; no other exception escapes; nothing hangs (a 10 s guard per example, far above a
normal load, catches a hang without timing anything). Seeded (derandomize) and small, so it adds
seconds to CI, not minutes; tests/test_hostile_inputs.py holds the measured cases by name."""

from __future__ import annotations

import json
import re
import signal
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.datasets import load_fixture
from harness.demos import read_sidecar
from harness.errors import HarnessError, HarnessWarning
from harness.labelstudio.annotations import read_export
from harness.prompts import Renderer, load_version
from harness.tasks import load_task
from tests.helpers import DEFAULT_TASK_YAML, make_project

FUZZ = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck), print_blob=False)
LABELS = ("Objective", "Subjective")
HANG_S = 10


@contextmanager
def hang_guard():
    if not hasattr(signal, "setitimer") or \
            threading.current_thread() is not threading.main_thread():
        yield
        return

    def hung(signum, frame):
        raise AssertionError(f"a load took more than {HANG_S} s (hang)")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def loads_or_names_the_place(load, path: Path, place: str):
    """Run `load`; a HarnessError must name `path` and match `place` (a regex for the line,
    row or key); a HarnessWarning must name `path`. Anything else fails the test. Returns what
    `load` returned, or None when it refused the input."""
    result = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with hang_guard():
            try:
                result = load()
            except HarnessError as exc:
                message = str(exc)
                assert str(path) in message, message
                assert re.search(place, message), message
    for warning in caught:
        if issubclass(warning.category, HarnessWarning):
            assert str(path) in str(warning.message)
    return result


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(set(keys)) == len(keys), f"accepted duplicate keys {keys}"
    return dict(pairs)


def _no_constant(name):
    raise AssertionError(f"accepted {name}")


def assert_strictly_valid(raw: bytes) -> None:
    """The oracle for silent acceptance, from the standard library alone: what was accepted is
    strict UTF-8 and JSON without duplicate keys or NaN/Infinity."""
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


# --- pieces of hostile input ---------------------------------------------------------------------

WEIRD_TEXT = st.text(alphabet=st.sampled_from(list("ab {}%\"\\'\n\t") + [
    "\u0085", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1e", "\ufeff", "\x00", "é", "😀"]),
    max_size=12)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                         st.floats(allow_nan=False, allow_infinity=False), WEIRD_TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(WEIRD_TEXT, inner, max_size=3), max_leaves=8)
BYTE_SNIPPETS = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b"NaN", b"Infinity", b"1e999",
                 b"9" * 5000, b"[" * 300, b"{" * 300, b'"label": "x", "label": "y", ', b"\n",
                 b"\r\n", b"\xef\xbb\xbf", b"\x00", b"\xc2\x85", b"\xe2\x80\xa8", b'"',
                 b"}", b"null", b"x" * 2_000_000]


@st.composite
def mutated(draw, base: st.SearchStrategy[bytes]) -> bytes:
    """A valid serialisation with up to three hostile byte snippets spliced in."""
    data = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, max(len(data), 1))) % (len(data) + 1)
        data = data[:at] + draw(st.sampled_from(BYTE_SNIPPETS)) + data[at:]
    return data


def dumped(values: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.tuples(values, st.booleans()).map(
        lambda v: json.dumps(v[0], ensure_ascii=v[1]).encode("utf-8", "surrogatepass"))


# --- fixtures ------------------------------------------------------------------------------------

ROW_KEYS = ["id", "text", "label", "split", "critical", "critcal", "splt", "lable", "meta",
            "_note", "provenance"]
ROWS = st.dictionaries(st.sampled_from(ROW_KEYS), st.one_of(
    JSON_VALUES, st.sampled_from(LABELS + ("train", "test", "Maybe"))), max_size=4)


@st.composite
def fixture_files(draw) -> bytes:
    """Mostly valid rows (unique ids, both labels) with hostile rows, keys and bytes mixed in."""
    lines = []
    for i in range(draw(st.integers(0, 8))):
        row = {"id": f"r{i}", "text": f"text {i}", "label": LABELS[i % 2]}
        if draw(st.integers(0, 2)) == 0:
            row.update(draw(ROWS))
        line = json.dumps(row, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        choice = draw(st.integers(0, 5))
        if choice == 0:
            line = draw(mutated(st.just(line)))
        elif choice == 1:
            line = draw(st.binary(max_size=20))
        lines.append(line)
    separator = draw(st.sampled_from([b"\n", b"\r\n"]))
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + separator.join(lines)


@FUZZ
@given(content=fixture_files())
def test_fuzz_fixtures(content):
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp))
        path = root / "datasets" / "demo.jsonl"
        path.write_bytes(content)
        task = load_task(root, "demo")
        # Each problem line says `file:line:`; file-level problems say what the file lacks.
        fixture = loads_or_names_the_place(lambda: load_fixture(task), path,
                                           rf"{re.escape(str(path))}:\d+: |has no examples|"
                                           rf"the limit")
        if fixture is not None:  # accepted: every line valid and none lost, split or merged
            kept = [line for line in content.split(b"\n") if line.strip()]
            for i, line in enumerate(kept):
                assert_strictly_valid(line if i else line.removeprefix(b"\xef\xbb\xbf"))
            assert len(fixture.examples) == len(kept)


# --- task.yaml -----------------------------------------------------------------------------------

YAML_SNIPPETS = [
    "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d]\n",
    "description: " + "[" * 200, "optimize: &o {x: *o}\n", "split: {train: .nan}\n",
    "split: {seed: " + "9" * 5000 + "}\n", "labels:\n  yes: a\n  no: b\n", "dataset: x\n",
    "thresholds: {recall: {Objective: .inf, Objective: 0.1}}\n", "retired: [v9]\n",
    "1: x\n", "critcal: true\n", "? [a, b]\n: 1\n", "x: !!python/object:os.system ls\n",
    "<<: {metric: accuracy}\n", "\t- x\n", "labels: [a, b]\n", "metric: macro_f2\n",
    "inputs: [text, labels]\n", "  Objective: again\n", "split: {train: 0.5, tst: 0.5}\n",
    "description: \"\\ud800\"\n", "baseline_tolerance: 1e400\n", "thresholds: {recall: 5}\n",
]
YAML_LINES = st.one_of(st.sampled_from(YAML_SNIPPETS), WEIRD_TEXT.map(lambda t: t + "\n"))


@FUZZ
@given(inserts=st.lists(st.tuples(st.integers(0, 12), YAML_LINES), max_size=4),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_fuzz_task_yaml(inserts, raw):
    lines = DEFAULT_TASK_YAML.splitlines(keepends=True)
    for at, snippet in inserts:
        lines.insert(at % (len(lines) + 1), snippet)
    content = "".join(lines).encode("utf-8", "surrogatepass") + (raw or b"")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp))
        path = root / "prompts" / "demo" / "task.yaml"
        path.write_bytes(content)
        loads_or_names_the_place(lambda: load_task(root, "demo"), path,
                                 rf"{re.escape(str(path))}:\d+: |missing key|expected a mapping")


# --- templates -----------------------------------------------------------------------------------

TEMPLATE_PIECES = [
    "{{ text }}", "{{ labels|map(attribute='name')|join(', ') }}", "{% for i in range(N) %}",
    "{% endfor %}", "{{ 'x' * N }}", "{{ N ** N }}", "{{ text|center(N) }}", "{{ text * N }}",
    "{{ '%Nd'|format(1) }}", "{{ '{:>N}'.format(1) }}", "{{ text.ljust(N) }}", "{{ 1 / 0 }}",
    "{% include 'v2.jinja' %}", "{% include 'v1.jinja' %}", "{% macro f(n) %}{{ f(n) }}"
    "{% endmacro %}{{ f(1) }}", "{% set ns = namespace(s='ab') %}", "{{ nope }}",
    "{% set ns.s = ns.s ~ ns.s %}", "{{ text|replace('', text * N) }}", "{{ range(N)|list }}",
    "{% if text %}", "{% endif %}", "{{ text.__class__ }}", "{{ '\\ud800' }}", "{{ (((1))) }}",
    "{% extends 'v2.jinja' %}", "{{ text|indent(N) }}", "{{ example_id|int * N }}",
    "{{ labels[N] }}", "{% for c in text %}{% for d in text %}{% endfor %}{% endfor %}",
]
NUMBERS = ["0", "3", "99999", "10**9", "10**10**10", "-1", "999999999"]


@st.composite
def template_sources(draw) -> bytes:
    pieces = [draw(st.one_of(st.sampled_from(TEMPLATE_PIECES), WEIRD_TEXT))
              for _ in range(draw(st.integers(0, 6)))]
    body = "".join(p.replace("N", draw(st.sampled_from(NUMBERS))) for p in pieces)
    source = f"{{% block user %}}{body}{{% endblock %}}" if draw(st.booleans()) else body
    return source.encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\xff"]))


@FUZZ
@given(source=template_sources())
def test_fuzz_templates(source):
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp))
        prompt_dir = root / "prompts" / "demo"
        (prompt_dir / "v2.jinja").write_bytes(source)
        task = load_task(root, "demo")
        example = load_fixture(task).examples[0]

        def render():
            Renderer(task, load_version(task, "v2")).render(example)

        # The template named: its file (with the line where one is known).
        loads_or_names_the_place(render, prompt_dir, r"\.jinja(:\d+)?: ")


# --- .demos.json sidecars ------------------------------------------------------------------------

DEMO = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=4), st.integers(), JSON_VALUES),
     "inputs": st.one_of(st.fixed_dictionaries({"text": WEIRD_TEXT}), JSON_VALUES),
     "label": st.one_of(st.sampled_from(LABELS), JSON_VALUES)},
    optional={"lable": JSON_VALUES})
SIDECAR = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["fixed", "knn"]), JSON_VALUES),
     "examples": st.one_of(st.lists(DEMO, max_size=4), JSON_VALUES)},
    optional={"k": st.one_of(st.integers(-5, 10**6), JSON_VALUES), "kk": JSON_VALUES})


@FUZZ
@given(content=st.one_of(dumped(SIDECAR), mutated(dumped(SIDECAR)), st.binary(max_size=40)))
def test_fuzz_demos_sidecar(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v3.demos.json"
        path.write_bytes(content)
        if loads_or_names_the_place(
                lambda: read_sidecar(path, input_fields=("text",), labels=LABELS), path,
                rf"{re.escape(str(path))}(:\d+)?: (cannot read|examples\[\d+\]|k must|"
                rf"'examples'|expected an object with kind)") is not None:
            assert_strictly_valid(content)


# --- Label Studio exports ------------------------------------------------------------------------

RESULT = st.fixed_dictionaries(
    {"type": st.one_of(st.just("choices"), JSON_VALUES),
     "value": st.one_of(st.fixed_dictionaries({"choices": st.lists(
         st.one_of(st.sampled_from(LABELS), WEIRD_TEXT), max_size=2)}), JSON_VALUES)})
ANNOTATION = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 99), JSON_VALUES),
     "result": st.one_of(st.lists(RESULT, max_size=2), JSON_VALUES)},
    optional={"was_cancelled": st.booleans(), "completed_by": JSON_VALUES})
LS_TASK = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(0, 5), JSON_VALUES),
     "data": st.one_of(st.fixed_dictionaries({"text": WEIRD_TEXT}), JSON_VALUES)},
    optional={"annotations": st.one_of(st.lists(ANNOTATION, max_size=3), JSON_VALUES)})
EXPORT = st.one_of(st.lists(LS_TASK, max_size=4), LS_TASK, JSON_VALUES)


@FUZZ
@given(content=st.one_of(dumped(EXPORT), mutated(dumped(EXPORT)), st.binary(max_size=40)))
def test_fuzz_label_studio_export(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.json"
        path.write_bytes(content)
        if loads_or_names_the_place(lambda: read_export(path, labels=LABELS), path,
                                    rf"{re.escape(str(path))}(:\d+)?: (task #\d+|.*expected)"
                                    ) is not None:
            assert_strictly_valid(content)


def test_fuzz_settings_are_bounded():
    # The suite must stay seeded and small: CI time, and the same examples on every run.
    assert FUZZ.derandomize and FUZZ.max_examples <= 50 and FUZZ.database is None


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
