"""A candidate as a prompt version: a child template of the start version that overrides only
the `instructions` block (literal text) and the `demonstrations` block (a loop over data, the
same block the few-shot strategies fill: harness.strategies.fewshot).

Candidates are rendered in memory under the name of the version they would become, so the
version written at the end renders byte-identically to what was scored (and hits the cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.demos import sidecar_path, write_sidecar
from harness.errors import UsageError
from harness.fsutil import atomic_write_text
from harness.optimizer.records import Candidate, DemoChoice
from harness.prompts import load_version, version_from_source
from harness.records import Demonstrations, Example, PromptVersion, TaskSpec
from harness.strategies import demonstrations_block, knn_demonstrations

TEMPLATE_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")


def template_source(task: TaskSpec, start: str, candidate: Candidate, header: str = "") -> str:
    parts = [f'{{% extends "{start}.jinja" %}}\n']
    if header:
        parts.append(header)
    if candidate.instruction is not None:
        if any(token in candidate.instruction for token in TEMPLATE_SYNTAX):
            raise UsageError(f"candidate {candidate.id}: instruction holds template syntax; "
                             f"it must be plain text")
        parts.append("{% block instructions %}\n" + candidate.instruction.strip() +
                     "\n{% endblock %}\n")
    if candidate.demos is not None:
        parts.append(demonstrations_block(task))
    return "".join(parts)


def materialize(choice: DemoChoice | None, train: Sequence[Example]) -> Demonstrations | None:
    if choice is None:
        return None
    if choice.kind == "knn":
        return knn_demonstrations(train, choice.k)
    by_id = {e.id: e for e in train}
    return Demonstrations("fixed", tuple(by_id[i] for i in choice.ids))


def as_version(task: TaskSpec, name: str, start: str, candidate: Candidate,
               train: Sequence[Example]) -> PromptVersion:
    return version_from_source(task, name, template_source(task, start, candidate),
                               materialize(candidate.demos, train))


def header_comment(facts: Mapping[str, object]) -> str:
    lines = [f"  {key}: {value}" for key, value in facts.items()]
    text = "\n".join(["Written by `harness optimize`; review it like any prompt change.", *lines])
    return "{#\n" + text.replace("#}", "# }") + "\n#}\n"


def write_version(task: TaskSpec, name: str, start: str, candidate: Candidate,
                  train: Sequence[Example], facts: Mapping[str, object]) -> PromptVersion:
    """Write prompts/<task>/<name>.jinja (+ <name>.demos.json when it has demonstrations)."""
    path = task.prompt_dir / f"{name}.jinja"
    if path.exists():
        raise UsageError(f"{path} already exists; the optimizer never overwrites a version")
    demos = materialize(candidate.demos, train)
    if demos is not None:
        write_sidecar(sidecar_path(path), demos)
    atomic_write_text(path, template_source(task, start, candidate, header_comment(facts)))
    return load_version(task, name)
