"""Splits, seeded stratified samples, and errors sampled stratified by confusion cell."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from harness.errors import UsageError
from harness.records import Example, Fixture, Prediction, TaskSpec


def rng(seed: int, *salt: object) -> random.Random:
    """A generator per (seed, purpose, iteration): resuming mid-run draws the same samples."""
    return random.Random(":".join(str(s) for s in (seed, *salt)))


def splits(task: TaskSpec, fixture: Fixture) -> dict[str, tuple[Example, ...]]:
    """train / validation / test, checked before any model call."""
    parts = {name: fixture.select(name) for name in ("train", "validation", "test")}
    for name, examples in parts.items():
        if not examples:
            raise UsageError(f"{fixture.path}: the {name} split is empty; the optimizer samples "
                             f"errors from train, selects on validation and reports test. Give "
                             f"rows a `split` or set `split:` fractions in {task.path}")
    missing = [label for label in task.label_names
               if not any(e.label == label for e in parts["train"])]
    if missing:
        raise UsageError(f"{fixture.path}: label {missing[0]!r} has no example in the train "
                         f"split, so its errors and demonstrations cannot be sampled; add "
                         f"train rows for {', '.join(repr(m) for m in missing)}")
    return parts


def stratified_sample(examples: Sequence[Example], size: int, generator: random.Random
                      ) -> tuple[Example, ...]:
    """`size` examples with each label's share kept (round-robin over shuffled labels)."""
    if size >= len(examples):
        return tuple(examples)
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.label].append(example)
    for label in sorted(groups):
        generator.shuffle(groups[label])
    quota = {label: round(size * len(group) / len(examples)) for label, group in groups.items()}
    chosen = [e for label in sorted(groups) for e in groups[label][: max(1, quota[label])]]
    order = {e.id: i for i, e in enumerate(examples)}
    return tuple(sorted(chosen[:size], key=lambda e: order[e.id]))


def sample_errors(examples: Sequence[Example], predictions: Sequence[Prediction], size: int,
                  generator: random.Random) -> list[tuple[Example, Prediction]]:
    """Wrong answers, round-robin over confusion cells (expected, predicted), biggest cell first,
    so every kind of mistake is represented before any is repeated."""
    cells: dict[tuple[str, str], list[tuple[Example, Prediction]]] = defaultdict(list)
    for example, prediction in zip(examples, predictions):
        if prediction.error is None and not prediction.correct:
            cells[(prediction.expected, str(prediction.predicted))].append((example, prediction))
    ordered = sorted(cells, key=lambda cell: (-len(cells[cell]), cell))
    for cell in ordered:
        generator.shuffle(cells[cell])
    picked: list[tuple[Example, Prediction]] = []
    depth = 0
    while len(picked) < size and any(depth < len(cells[c]) for c in ordered):
        picked += [cells[c][depth] for c in ordered if depth < len(cells[c])]
        depth += 1
    return picked[:size]
