"""A strategy applied to a version: the version that renders (with its demonstrations) and the
LabelRequests for a run's examples (with `reasoning` set for cot / self-consistency). The runner
is handed `Applied.requests` as its request builder and never knows which strategy ran."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import UsageError
from harness.prompts import Renderer
from harness.records import (DecodingParams, Example, LabelRequest, PromptVersion, Reasoning,
                             TaskSpec)
from harness.strategies.fewshot import (errors_demonstrations, knn_demonstrations,
                                        random_demonstrations, with_demonstrations)
from harness.strategy import Strategy

# Self-consistency samples at this temperature unless --temperature says otherwise: diverse
# enough for votes to differ, low enough for a small model to stay on topic.
DEFAULT_SC_TEMPERATURE = 0.7


@dataclass(frozen=True, slots=True)
class Applied:
    strategy: Strategy
    task: TaskSpec
    version: PromptVersion  # what renders: the version, or a child showing demonstrations
    reasoning: Reasoning | None = None
    note: str = ""  # e.g. where few-shot:errors found its errors

    def requests(self, examples: Sequence[Example], mode: str,
                 params: DecodingParams) -> list[LabelRequest]:
        """Every prompt rendered before the first model call (template errors surface at once)."""
        renderer = Renderer(self.task, self.version)
        return [LabelRequest(renderer.render(e), self.task.label_names, mode, params,
                             reasoning=self.reasoning) for e in examples]


def apply_strategy(task: TaskSpec, version: PromptVersion, strategy: Strategy, *,
                   train: Sequence[Example], seed: int,
                   wrong: Sequence[Example] | None = None, wrong_note: str = "",
                   temperature: float | None = None) -> Applied:
    """`train`: the demonstration pool; `wrong`: for few-shot:errors, the train examples the
    version got wrong (the caller finds them: a stored run or a fresh one) and `wrong_note`
    says where they came from. `seed` seeds random picks and reasoning samples."""
    who = f"strategy {strategy}"
    if strategy.kind == "zero-shot":
        return Applied(strategy, task, version)
    if strategy.reasoning:
        if strategy.kind == "cot":
            reasoning = Reasoning(samples=1, temperature=0.0, seed=seed)
            note = "one greedy reasoning (temperature 0)"
        else:
            t = DEFAULT_SC_TEMPERATURE if temperature is None else temperature
            if not 0 < t <= 2:
                raise UsageError(f"{who}: --temperature must be in (0, 2] (votes of identical "
                                 f"greedy samples are one sample), got {t:g}")
            reasoning = Reasoning(samples=strategy.samples, temperature=t, seed=seed)
            # The provenance's temperature is the version's (for the answer); the samples are
            # drawn at this one, so the report must say it.
            note = (f"{strategy.samples} reasoned samples at temperature {t:g}, seed {seed}, "
                    f"voted")
        return Applied(strategy, task, version, reasoning=reasoning, note=note)
    if strategy.selection == "random":
        demos = random_demonstrations(train, strategy.k, seed)
        note = f"{len(demos.examples)} train examples, stratified by label, seed {seed}"
    elif strategy.selection == "knn":
        demos = knn_demonstrations(train, strategy.k)
        note = f"the {strategy.k} most similar of {len(train)} train examples per input (TF-IDF)"
    else:
        if wrong is None:
            raise ValueError("few-shot:errors needs the wrong train examples")
        if not wrong:
            raise UsageError(f"{who}: {version.name} got no train example wrong "
                             f"({wrong_note}); nothing to show, use few-shot:random:K")
        demos = errors_demonstrations(wrong, strategy.k, seed)
        note = (f"{len(demos.examples)} of {len(wrong)} train examples {version.name} got "
                f"wrong, {wrong_note}")
    if len(demos.examples) < strategy.k and demos.kind == "fixed":
        note += f" (only {len(demos.examples)} available of the {strategy.k} asked)"
    return Applied(strategy, task, with_demonstrations(task, version, demos, who), note=note)
