"""Few-shot demonstrations: which train examples (random stratified, past errors, kNN) and how a
version gets them. One mechanism for the strategies and the optimizer's proposers: the choice is
a records.Demonstrations, rendered by harness.demos.DemoSelector as the `demonstrations`
variable (data, never template source), shown by the `demonstrations` block below.

Prompt order: the block sits where the template puts `{% block demonstrations %}` (after the
instruction in the shipped templates), so the instruction prefix stays the same for every input
and the local backend's prefix reuse keeps working; kNN demonstrations differ per input, so
everything after the instruction is recomputed per input (bench/bench_strategies.py measures it).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from harness.errors import TemplateError, UsageError
from harness.prompts import Renderer, child_version
from harness.records import Demonstrations, Example, PromptVersion, TaskSpec

BLOCK = "demonstrations"


def demonstrations_block(task: TaskSpec) -> str:
    """The loop that shows demonstrations; field names come from task.yaml (identifiers), the
    values only ever arrive as the `demonstrations` variable."""
    fields = "".join(f"{name.capitalize()}: {{{{ demo.inputs.{name} }}}}\n"
                     for name in task.input_fields)
    return ("{% block demonstrations %}\n"
            "{% if demonstrations %}\n\n"
            "Examples:\n"
            "{% for demo in demonstrations %}\n"
            f"{fields}"
            "Answer: {{ demo.label }}\n"
            "{% if not loop.last %}\n\n{% endif %}\n"
            "{% endfor %}\n\n"
            "{% endif %}\n"
            "{% endblock %}\n")


def _rank(seed: int, salt: str, case_id: str) -> str:
    return hashlib.sha256(f"{salt}:{seed}:{case_id}".encode()).hexdigest()


def stratified_sample(examples: Sequence[Example], k: int, seed: int) -> tuple[Example, ...]:
    """`k` examples, every label before any label twice, then labels in proportion to their
    share; within a label by a seeded hash of the id (adding rows leaves the others' order
    alone). Returned in a seeded shuffled order, so the last demonstration (the one nearest
    the input, which small models copy most) is not always the same label."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.label].append(example)
    keyed = []
    for label, items in groups.items():
        items.sort(key=lambda e: _rank(seed, "demos", e.id))
        keyed.extend((position / len(items), _rank(seed, "label", label), e.id, e)
                     for position, e in enumerate(items))
    chosen = [e for *_, e in sorted(keyed, key=lambda row: row[:3])[:max(k, 0)]]
    return tuple(sorted(chosen, key=lambda e: _rank(seed, "order", e.id)))


def random_demonstrations(train: Sequence[Example], k: int, seed: int) -> Demonstrations:
    return Demonstrations("fixed", stratified_sample(_require(train, "few-shot:random"), k, seed))


def errors_demonstrations(wrong: Sequence[Example], k: int, seed: int) -> Demonstrations:
    """`wrong`: train examples a version answered wrongly; shown with their correct labels."""
    return Demonstrations("fixed", stratified_sample(wrong, k, seed))


def knn_demonstrations(train: Sequence[Example], k: int) -> Demonstrations:
    """Per input, the `k` most similar of `train` (TF-IDF cosine; harness.demos.DemoSelector)."""
    return Demonstrations("knn", tuple(_require(train, "few-shot:knn")), k)


def _require(train: Sequence[Example], who: str) -> Sequence[Example]:
    if not train:
        raise UsageError(f"{who} draws demonstrations from the train split, which has no "
                         f"examples; give fixture rows `\"split\": \"train\"` or let the task's "
                         f"split fractions assign some")
    return train


def check_demonstration_place(task: TaskSpec, version: PromptVersion, who: str) -> None:
    """A version can show demonstrations when its templates read the `demonstrations`
    variable or have a `{% block demonstrations %}` to fill; otherwise a TemplateError naming
    the template and the fix (the optimizer's preflight raises the same one)."""
    renderer = Renderer(task, version)
    if BLOCK in renderer.variables() or BLOCK in renderer.blocks():
        return
    raise TemplateError(
        f"{version.path}: {who} needs a place for demonstrations, and {version.name} and the "
        f"versions it extends have none: put an empty {{% block demonstrations %}}"
        f"{{% endblock %}} where examples should go (after the instruction keeps the prompt "
        f"prefix shared; README: Prompting strategies), or loop over the `demonstrations` "
        f"variable yourself")


def with_demonstrations(task: TaskSpec, version: PromptVersion, demos: Demonstrations,
                        who: str) -> PromptVersion:
    """The version showing `demos`. A template that reads `demonstrations` itself gets them
    as they are (replacing any sidecar's); one with only an empty block gets a child template
    that fills the block with demonstrations_block (as the optimizer's candidates do)."""
    check_demonstration_place(task, version, who)
    if BLOCK in Renderer(task, version).variables():
        source = f'{{% extends "{version.path.name}" %}}\n'
    else:
        source = f'{{% extends "{version.path.name}" %}}\n' + demonstrations_block(task)
    # The child's name says what it is; it is never written to disk.
    return child_version(task, version, f"{version.name}+demonstrations", source, demos)
