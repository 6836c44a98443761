"""harness.datasets: deterministic stratified splits, explicit splits kept."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.datasets import assign_splits, load_fixture
from harness.records import Example, SplitSpec
from harness.tasks import load_task
from tests.helpers import make_project


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
