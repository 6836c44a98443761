"""Proposers: each turns the incumbent and what went wrong (a Context) into a new candidate,
behind one signature, `propose(context) -> Proposal | Rejection | None` (None: nothing new to
offer).

- teacher: a teacher model rewrites the instruction (harness.optimizer.teacher).
- exemplars: sampled training errors, with their correct labels, as fixed demonstrations
  (chosen as the few-shot:errors strategy chooses: harness.strategies).
- knn: for each input, the k most similar training examples as demonstrations (few-shot:knn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.optimizer.records import Candidate, DemoChoice, Rejection, Score
from harness.optimizer.teacher import clean_instruction, meta_prompt
from harness.records import Example, LabelRequest, ModelOutput, Prediction, TaskSpec
from harness.strategies import errors_demonstrations

KNN_KS = (4, 2, 6, 8)


@dataclass(frozen=True, slots=True)
class Context:
    task: TaskSpec
    iteration: int
    incumbent: Candidate
    instruction: str  # the incumbent's rendered instruction
    errors: tuple[tuple[Example, Prediction], ...]  # sampled from the incumbent on train
    history: tuple[tuple[str, Score], ...]  # instructions scored on validation, with scores
    tried: frozenset[tuple]  # signature() of every candidate so far
    tried_instructions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Proposal:
    proposer: str
    instruction: str | None
    demos: DemoChoice | None
    rationale: str


class Proposer(Protocol):
    name: str

    def propose(self, context: Context) -> Proposal | Rejection | None: ...


class Teacher:
    """`ask` answers one generate-mode request (charged, cached and counted by the caller)."""

    name = "teacher"

    def __init__(self, model: str, ask: Callable[[LabelRequest], ModelOutput]) -> None:
        self.model, self.ask = model, ask

    def propose(self, context: Context) -> Proposal | Rejection | None:
        task = context.task
        meta = meta_prompt(task, context.instruction, context.errors, context.history,
                           task.optimize_metric)
        output = self.ask(meta.request)
        text, why = clean_instruction(output.raw, task, context.tried_instructions,
                                      meta.own_text)
        if text is None:
            return Rejection(context.iteration, self.name, why, output.raw[:2000])
        return Proposal(self.name, text, context.incumbent.demos,
                        f"teacher {self.model} rewrote the instruction from "
                        f"{len(context.errors)} sampled errors")


class Exemplars:
    name = "exemplars"

    def __init__(self, max_demos: int) -> None:
        self.max_demos = max_demos

    def propose(self, context: Context) -> Proposal | None:
        incumbent = context.incumbent
        if incumbent.demos is not None and incumbent.demos.kind == "knn":
            return None  # per-input demonstrations already; fixed ones would compete for context
        have = list(incumbent.demos.ids) if incumbent.demos else []
        predicted = {e.id: p for e, p in context.errors}
        # The same choice as the few-shot:errors strategy: stratified by true label, seeded.
        wrong = [e for e, _ in context.errors if e.id not in have]
        chosen = errors_demonstrations(wrong, max(2, min(4, len(context.task.labels))),
                                       context.iteration).examples
        fresh = [(e, predicted[e.id]) for e in chosen]
        if not fresh:
            return None
        ids = tuple((have + [e.id for e, _ in fresh])[-self.max_demos:])
        why = "; ".join(f"{e.id} ({e.label}, was predicted {p.predicted})" for e, p in fresh)
        return Proposal(self.name, incumbent.instruction, DemoChoice("fixed", ids),
                        f"adds training errors as demonstrations: {why}")


class Knn:
    name = "knn"

    def propose(self, context: Context) -> Proposal | None:
        instruction = context.incumbent.instruction
        for k in KNN_KS:
            demos = DemoChoice("knn", (), k)
            if (instruction, demos) not in context.tried:
                return Proposal(self.name, instruction, demos,
                                f"the {k} most similar training examples (TF-IDF) per input")
        return None


def make_proposers(names: Sequence[str], *, teacher: str, max_demos: int,
                   ask: Callable[[LabelRequest], ModelOutput]) -> list[Proposer]:
    made = {"teacher": lambda: Teacher(teacher, ask), "exemplars": lambda: Exemplars(max_demos),
            "knn": Knn}
    return [made[name]() for name in names]
