"""Fast unit tests of the pure pieces: parsing, splits, metrics, gates, cache, prompts, settings."""

from __future__ import annotations

import doctest
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

import harness.metrics
from harness.cache import Cache
from harness.config import Settings, load_settings
from harness.datasets import assign_splits, load_fixture
from harness.errors import CacheMiss, UsageError
from harness.gate import check_rules, describe_failure
from harness.metrics import classification_metrics, top_confusions
from harness.parsing import parse_label
from harness.prompts import Renderer, list_versions, load_version
from harness.records import (INVALID, DecodingParams, Example, LabelRequest, Message, ModelOutput,
                             RenderedPrompt, Rule, SplitSpec, Usage)
from harness.tasks import load_task
from tests.helpers import make_project

LABELS = ("Objective", "Subjective")


# --- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Objective", "Objective"),
    ("Subjective", "Subjective"),
    ("objective", "Objective"),
    ("  SUBJECTIVE \n", "Subjective"),
    ('"Objective"', "Objective"),
    ("'Subjective'", "Subjective"),
    ("**Objective**.", "Objective"),
    ("`Subjective`!", "Subjective"),
    ("Label: Subjective", "Subjective"),
    ("The answer is: objective", "Objective"),
    ("Answer - Objective", "Objective"),
    ("Objective. The sentence states a measurable fact.", "Objective"),
    ("Subjective, because it is a feeling.", "Subjective"),
    ("I think this sentence is subjective because it expresses a feeling.", "Subjective"),
    ("This one is clearly OBJECTIVE in nature", "Objective"),
])
def test_parse_label_finds_the_label(raw, expected):
    assert parse_label(raw, LABELS) == expected


@pytest.mark.parametrize("raw", [
    "It is either Objective or Subjective.",       # two different labels
    "I can't tell whether it's subjective; maybe objective.",
    "",
    "   \n",
    "banana",
    "I don't know.",
    "Objectively speaking, no",                    # a label only as part of a longer word
    "Subjective-ish",
    "non-objective",
])
def test_parse_label_invalid(raw):
    assert parse_label(raw, LABELS) == INVALID


@pytest.mark.parametrize("raw, expected", [
    ("other", "Other"),
    ("Other.", "Other"),
    ("it's something other", "Other"),
    ("mother", INVALID),
    ("My mother paid the bill.", INVALID),
    ("Others", INVALID),
    ("billing for my mother", "Billing"),
    ("billing, not other", "Billing"),
])
def test_parse_label_whole_words_only(raw, expected):
    assert parse_label(raw, ("Other", "Billing")) == expected


def test_parse_label_overlapping_label_names():
    labels = ("Other", "Mother")
    assert parse_label("mother", labels) == "Mother"
    assert parse_label("I'd say Mother", labels) == "Mother"
    assert parse_label("I'd say other", labels) == "Other"


def test_parse_label_restated_choices_is_invalid():
    assert parse_label("Objective or Subjective", LABELS) == INVALID


@pytest.mark.parametrize("labels, raw", [
    (("Question", "Answer"), "Answer"),
    (("Input", "Output"), "Output"),
])
def test_parse_label_label_equal_to_prefix_word(labels, raw):
    assert parse_label(raw, labels) == raw


# --- splits --------------------------------------------------------------------------------------

def _examples(counts: dict[str, int], split: str = "") -> tuple[Example, ...]:
    return tuple(Example(id=f"{label}-{i}", inputs={"text": f"{label} {i}"}, label=label,
                         split=split, line=n)
                 for n, (label, i) in enumerate(
                     ((label, i) for label, c in counts.items() for i in range(c)), start=1))


def _splits(examples) -> dict[str, str]:
    return {e.id: e.split for e in examples}


def test_assign_splits_is_deterministic_and_order_independent():
    examples = _examples({"Objective": 17, "Subjective": 23})
    spec = SplitSpec(seed=3)
    first = assign_splits(examples, spec)
    assert _splits(first) == _splits(assign_splits(examples, spec))
    shuffled = list(examples)
    random.Random(1).shuffle(shuffled)
    assert _splits(assign_splits(tuple(shuffled), spec)) == _splits(first)
    assert _splits(assign_splits(tuple(reversed(examples)), spec)) == _splits(first)
    # the input order is kept in the output
    assert [e.id for e in assign_splits(tuple(shuffled), spec)] == [e.id for e in shuffled]
    assert all(e.split in ("train", "validation", "test") for e in first)


def test_assign_splits_depends_on_seed():
    examples = _examples({"Objective": 20, "Subjective": 20})
    assert _splits(assign_splits(examples, SplitSpec(seed=0))) != \
        _splits(assign_splits(examples, SplitSpec(seed=1)))


@pytest.mark.parametrize("spec", [SplitSpec(), SplitSpec(train=0.6, validation=0.2, test=0.2,
                                                          seed=5)])
def test_assign_splits_is_stratified(spec):
    counts = {"Objective": 40, "Subjective": 20, "Mixed": 9}
    result = assign_splits(_examples(counts), spec)
    per = Counter((e.label, e.split) for e in result)
    for label, n in counts.items():
        assert sum(per[(label, s)] for s in ("train", "validation", "test")) == n
        for split in ("train", "validation", "test"):
            expected = n * getattr(spec, split)
            assert abs(per[(label, split)] - expected) <= 1, (label, split, per)


def test_assign_splits_keeps_explicit_split():
    explicit = _examples({"Objective": 6}, split="test")
    derived = _examples({"Subjective": 8})
    result = assign_splits(explicit + derived, SplitSpec(train=1.0, validation=0.0, test=0.0))
    assert all(e.split == "test" for e in result if e.label == "Objective")
    assert all(e.split == "train" for e in result if e.label == "Subjective")


def test_load_fixture_keeps_explicit_split(tmp_path):
    rows = [{"id": f"o{i}", "text": f"fact {i}", "label": "Objective", "split": "validation"}
            for i in range(6)]
    rows += [{"id": f"s{i}", "text": f"opinion {i}", "label": "Subjective"} for i in range(8)]
    rows.append({"id": "c1", "text": "must pass", "label": "Subjective", "split": "train",
                 "critical": True})
    task = load_task(make_project(tmp_path, rows=rows), "demo")
    fixture = load_fixture(task)
    by_id = {e.id: e for e in fixture.examples}
    assert {by_id[f"o{i}"].split for i in range(6)} == {"validation"}
    assert by_id["c1"].split == "train"
    assert [e.id for e in fixture.select("critical")] == ["c1"]
    assert Counter(by_id[f"s{i}"].split for i in range(8)) == {"train": 4, "validation": 2,
                                                               "test": 2}


# --- metrics -------------------------------------------------------------------------------------

Y_TRUE = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"]
Y_PRED = ["a", "a", "b", INVALID, "b", "a", "b", "c", INVALID, "b"]
ABC = ["a", "b", "c"]


def test_metrics_match_sklearn():
    m = classification_metrics(Y_TRUE, Y_PRED, labels=ABC)
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, zero_division=0)
    for i, label in enumerate(ABC):
        assert m.per_label[label].precision == pytest.approx(p[i])
        assert m.per_label[label].recall == pytest.approx(r[i])
        assert m.per_label[label].f1 == pytest.approx(f[i])
        assert m.per_label[label].support == s[i]
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average=avg,
                                                        zero_division=0)
        assert getattr(m, f"{avg}_f1") == pytest.approx(af)
    assert m.macro_precision == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="macro",
                                        zero_division=0)[0])
    assert m.macro_recall == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="macro",
                                        zero_division=0)[1])
    assert m.micro_f1 == pytest.approx(
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=ABC, average="micro",
                                        zero_division=0)[2])
    assert m.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    expected = confusion_matrix(Y_TRUE, Y_PRED, labels=[*ABC, INVALID])[:3]
    assert [list(row) for row in m.confusion] == expected.tolist()
    # hand-checked values, so a shared mistake with sklearn's call would still show
    assert m.accuracy == pytest.approx(5 / 10)
    assert m.per_label["a"].recall == pytest.approx(2 / 4)
    assert m.per_label["a"].precision == pytest.approx(2 / 3)
    assert m.per_label["c"].recall == pytest.approx(1 / 3)
    assert m.n == 10 and m.n_invalid == 2 and m.n_errors == 0


def test_invalid_is_last_confusion_column_and_counts_against_accuracy_and_recall():
    m = classification_metrics(["a", "a", "b", "b"], ["a", INVALID, "b", INVALID],
                               labels=["a", "b"], n_errors=3)
    assert m.confusion == ((1, 0, 1), (0, 1, 1))
    assert m.as_dict()["confusion"]["columns"] == ["a", "b", INVALID]
    assert m.accuracy == pytest.approx(0.5)
    assert m.per_label["a"].recall == pytest.approx(0.5)
    assert m.per_label["b"].recall == pytest.approx(0.5)
    assert m.per_label["a"].precision == pytest.approx(1.0)  # INVALID is nobody's false positive
    assert m.n_invalid == 2
    assert m.n_errors == 3
    assert m.value("recall", "a") == pytest.approx(0.5)
    assert m.value("accuracy") == pytest.approx(0.5)


def test_metrics_validation_errors():
    with pytest.raises(ValueError, match="differ in length: 2 != 1"):
        classification_metrics(["a", "b"], ["a"], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"y_true holds values outside labels: \['z'\]"):
        classification_metrics(["a", "z"], ["a", "a"], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"y_pred holds values outside labels.*\['q'\]"):
        classification_metrics(["a", "b"], ["a", "q"], labels=["a", "b"])
    with pytest.raises(ValueError, match="y_true"):
        classification_metrics(["a", INVALID], ["a", "a"], labels=["a", "b"])


def test_metrics_empty():
    m = classification_metrics([], [], labels=["a", "b"], n_errors=2)
    assert m.n == 0 and m.accuracy == 0.0 and m.n_errors == 2
    assert m.confusion == ((0, 0, 0), (0, 0, 0))


def test_top_confusions_order():
    y_true = ["a"] * 6 + ["b"] * 3 + ["c"] * 2
    y_pred = ["b", "b", "b", INVALID, INVALID, "a"] + ["a", "b", "b"] + ["c", "c"]
    m = classification_metrics(y_true, y_pred, labels=["a", "b", "c"])
    assert top_confusions(m) == [("a", "b", 3), ("a", INVALID, 2), ("b", "a", 1)]
    assert top_confusions(m, k=1) == [("a", "b", 3)]
    perfect = classification_metrics(["a", "b"], ["a", "b"], labels=["a", "b"])
    assert top_confusions(perfect) == []


def test_metrics_doctest():
    result = doctest.testmod(harness.metrics)
    assert result.attempted > 0
    assert result.failed == 0


# --- gate ----------------------------------------------------------------------------------------

def _gate_metrics():
    # a: recall 2/4, b: recall 3/3; a -> b twice
    return classification_metrics(["a", "a", "a", "a", "b", "b", "b"],
                                  ["a", "a", "b", "b", "b", "b", "b"], labels=["a", "b"])


def test_check_rules_pass_and_fail():
    m = _gate_metrics()
    rules = (Rule("accuracy", 0.7), Rule("recall", 0.6, "a"), Rule("recall", 1.0, "b"))
    result = check_rules(m, rules)
    assert not result.passed
    by_name = {c.name: c for c in result.checks}
    assert set(by_name) == {"accuracy >= 0.7", "recall[a] >= 0.6", "recall[b] >= 1"}
    assert by_name["accuracy >= 0.7"].passed
    assert by_name["accuracy >= 0.7"].value == pytest.approx(5 / 7)
    assert by_name["accuracy >= 0.7"].threshold == 0.7
    assert not by_name["recall[a] >= 0.6"].passed
    assert by_name["recall[a] >= 0.6"].value == pytest.approx(0.5)
    assert by_name["recall[b] >= 1"].passed  # equal to the minimum passes
    assert [c.name for c in result.failures] == ["recall[a] >= 0.6"]
    assert check_rules(m, (Rule("accuracy", 0.7),)).passed
    assert check_rules(m, ()).passed


def test_describe_failure_names_metric_value_threshold_and_confusion():
    m = _gate_metrics()
    result = check_rules(m, (Rule("recall", 0.9, "a"), Rule("accuracy", 0.1)))
    text = describe_failure(result, m, title="demo/v1 failed its gate")
    lines = text.splitlines()
    assert lines[0] == "demo/v1 failed its gate"
    assert "FAILED recall[a] >= 0.9: 0.500 < 0.900" in text
    assert "accuracy" not in text  # passing checks are not listed
    assert "a -> b: 2" in text


# --- cache ---------------------------------------------------------------------------------------

IDENTITY = {"backend": "local", "sha256": "abc123"}


def _request(user: str = "The box weighs 2 kg.", *, labels=LABELS, mode: str = "score",
             params: DecodingParams = DecodingParams(), system: str = "Classify.") -> LabelRequest:
    messages = (Message("system", system), Message("user", user))
    return LabelRequest(RenderedPrompt("e1", messages, "h"), tuple(labels), mode, params)


OUTPUT = ModelOutput(raw="Objective", distribution={"Objective": 0.9, "Subjective": 0.1},
                     usage=Usage(12, 1))


def test_cache_key_changes_with_every_input():
    base = Cache.key(IDENTITY, _request())
    assert base == Cache.key(dict(reversed(list(IDENTITY.items()))), _request())  # stable
    variants = [
        Cache.key(IDENTITY, _request("The box weighs 3 kg.")),
        Cache.key(IDENTITY, _request(system="Classify carefully.")),
        Cache.key(IDENTITY, _request(labels=("Subjective", "Objective"))),
        Cache.key(IDENTITY, _request(labels=("Objective", "Subjective", "Mixed"))),
        Cache.key(IDENTITY, _request(mode="generate")),
        Cache.key(IDENTITY, _request(params=DecodingParams(temperature=0.7))),
        Cache.key(IDENTITY, _request(params=DecodingParams(max_tokens=8))),
        Cache.key(IDENTITY, _request(params=DecodingParams(seed=1))),
        Cache.key({**IDENTITY, "sha256": "def456"}, _request()),
        Cache.key({**IDENTITY, "n_ctx": "2048"}, _request()),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_cache_key_ignores_prompt_hash_and_example_id():
    request = _request()
    other = LabelRequest(RenderedPrompt("e2", request.prompt.messages, "other"), request.labels,
                         request.mode, request.params)
    assert Cache.key(IDENTITY, request) == Cache.key(IDENTITY, other)


def test_cache_round_trip(tmp_path):
    cache = Cache(tmp_path / "cache")
    key = Cache.key(IDENTITY, _request())
    assert cache.get(key) is None
    cache.put(key, OUTPUT)
    assert cache.get(key) == OUTPUT
    assert Cache(tmp_path / "cache", "replay").get(key) == OUTPUT  # a fresh reader sees it
    assert cache.stats()["entries"] == 1
    assert cache.corrupt == 0


def test_cache_creates_cachedir_tag_and_gitignore(tmp_path):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    assert not directory.exists()  # nothing until the first write
    cache.put(Cache.key(IDENTITY, _request()), OUTPUT)
    tag = (directory / "CACHEDIR.TAG").read_text(encoding="utf-8")
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (directory / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_cache_off_neither_reads_nor_writes(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    off = Cache(directory, "off")
    assert off.get(key) is None
    other = Cache.key(IDENTITY, _request("another sentence"))
    off.put(other, OUTPUT)
    assert Cache(directory).get(other) is None
    assert Cache(directory).stats()["entries"] == 1


def test_cache_refresh_writes_but_does_not_read(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    refresh = Cache(directory, "refresh")
    assert refresh.get(key) is None
    newer = ModelOutput(raw="Subjective", distribution=None, usage=Usage(3, 1))
    refresh.put(key, newer)
    assert Cache(directory).get(key) == newer


def test_cache_replay_miss_raises(tmp_path):
    cache = Cache(tmp_path / "cache", "replay")
    key = Cache.key(IDENTITY, _request())
    with pytest.raises(CacheMiss) as info:
        cache.get(key, describe="demo/v1 example e1")
    message = str(info.value)
    assert "demo/v1 example e1" in message
    assert str(tmp_path / "cache") in message
    assert "replay" in message
    with pytest.raises(CacheMiss, match=key):  # without a description the key is named
        cache.get(key)
    cache.put(key, OUTPUT)  # replay never writes
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("content", [
    '{"raw": "Objective", "distrib',   # truncated write
    "not json at all",
    "[]",
    "null",
    '{"raw": "Objective"}',            # missing keys
    '{"raw": "x", "distribution": null, "usage": {"bogus": 1}}',
    b"\xff\xfe\x00garbage",
])
def test_cache_corrupt_entry_is_a_counted_miss(tmp_path, content):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    key = Cache.key(IDENTITY, _request())
    cache.put(key, OUTPUT)
    path = directory / key[:2] / f"{key}.json"
    assert path.is_file()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert cache.get(key) is None
    assert cache.corrupt == 1
    cache.put(key, OUTPUT)  # a re-recorded entry replaces the corrupt one
    assert cache.get(key) == OUTPUT
    replay = Cache(directory, "replay")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(CacheMiss):
        replay.get(key)
    assert replay.corrupt == 1


def test_cache_does_not_store_errors(tmp_path):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    key = Cache.key(IDENTITY, _request())
    cache.put(key, ModelOutput(error="server unreachable"))
    assert cache.get(key) is None
    assert cache.stats()["entries"] == 0
    assert cache.corrupt == 0


def test_cache_entries_are_plain_json(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    data = json.loads((directory / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
    assert data == {"raw": "Objective", "distribution": {"Objective": 0.9, "Subjective": 0.1},
                    "usage": {"prompt_tokens": 12, "completion_tokens": 1}, "meta": {}}
    assert not list(directory.rglob(".tmp-*"))  # no temp files left behind
    assert Cache(directory).clear() == 1
    assert Cache(directory).get(key) is None


# --- prompts -------------------------------------------------------------------------------------

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


# --- settings ------------------------------------------------------------------------------------

def _pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text("[tool.harness]\n" + body, encoding="utf-8")


def test_settings_defaults(tmp_path):
    root = make_project(tmp_path)
    settings = load_settings(root, environ={})
    assert settings == Settings(root=root.resolve())
    assert settings.model == "local" and settings.mode == "score" and settings.cache == "record"


def test_settings_precedence(tmp_path):
    root = make_project(tmp_path)
    _pyproject(root, 'model = "from-pyproject"\nmode = "generate"\nsplit = "validation"\n'
                     'limit = 5\ncache_dir = "pp-cache"\n')
    environ = {"HARNESS_MODEL": "from-env", "HARNESS_MODE": "constrained",
               "HARNESS_CACHE_DIR": "env-cache"}

    pyproject_only = load_settings(root, environ={})
    assert (pyproject_only.model, pyproject_only.mode, pyproject_only.split) == \
        ("from-pyproject", "generate", "validation")
    assert pyproject_only.limit == 5
    assert pyproject_only.cache_dir == Path("pp-cache")
    assert pyproject_only.report_dir == Path("reports")  # default where nothing sets it

    with_env = load_settings(root, environ=environ)
    assert (with_env.model, with_env.mode, with_env.split) == \
        ("from-env", "constrained", "validation")
    assert with_env.cache_dir == Path("env-cache")

    explicit = load_settings(root, overrides={"model": "from-cli", "mode": None, "limit": 2,
                                              "cache": "off"}, environ=environ)
    assert explicit.model == "from-cli"
    assert explicit.mode == "constrained"  # a None override does not hide the environment
    assert explicit.limit == 2
    assert explicit.cache == "off"
    assert explicit.split == "validation"
    assert explicit.resolve(explicit.cache_dir) == root.resolve() / "env-cache"


def test_settings_empty_environment_value_is_ignored(tmp_path):
    root = make_project(tmp_path)
    _pyproject(root, 'model = "from-pyproject"\n')
    assert load_settings(root, environ={"HARNESS_MODEL": ""}).model == "from-pyproject"


def test_settings_find_root_from_subdirectory(tmp_path):
    root = make_project(tmp_path)
    assert load_settings(root / "prompts" / "demo", environ={}).root == root.resolve()


@pytest.mark.parametrize("environ, fragment", [
    ({"HARNESS_MODE": "sample"}, "unknown mode 'sample'"),
    ({"HARNESS_SPLIT": "dev"}, "unknown split 'dev'"),
    ({"HARNESS_CACHE": "always"}, "unknown cache mode 'always'"),
])
def test_settings_bad_values(tmp_path, environ, fragment):
    root = make_project(tmp_path)
    with pytest.raises(UsageError, match=fragment):
        load_settings(root, environ=environ)
