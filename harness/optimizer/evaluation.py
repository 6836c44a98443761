"""Scoring candidates for the loop: each prompt is rendered once (its request key is what the
budget charges and what the cache answers), scored through the same runner and metrics the
evals use, and every model call is counted in the journal. A failed call stops the run
(CallsFailed): no candidate is ever judged on part of its examples."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.cache import Cache
from harness.metrics import Metrics, metrics_for
from harness.models.base import Backend
from harness.optimizer import objective
from harness.optimizer.budget import Budget
from harness.optimizer.candidates import as_version
from harness.optimizer.events import CallsFailed
from harness.optimizer.records import Candidate, Score
from harness.prompts import Renderer
from harness.records import (Example, Fixture, LabelRequest, ModelOutput, Prediction,
                             PromptVersion, RunSpec, TaskSpec)
from harness.runner import complete_cached, run


class Counted:
    """A backend that reports every call it answers (and how long it took) to `on_call`."""

    def __init__(self, inner: Backend, on_call: Callable[[ModelOutput, float], None]) -> None:
        self.inner, self.on_call, self.name = inner, on_call, inner.name

    def identity(self) -> Mapping[str, str]:
        return self.inner.identity()

    def modes(self) -> tuple[str, ...]:
        return self.inner.modes()

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        clock = time.perf_counter()
        for index, output in self.inner.complete(requests):
            now = time.perf_counter()
            self.on_call(output, now - clock)
            clock = now
            yield index, output

    def close(self) -> None:
        pass  # the caller owns the backend


@dataclass(frozen=True, slots=True)
class Scored:
    metrics: Metrics
    score: Score
    predictions: tuple[Prediction, ...]
    calls: int  # model calls made (cache misses)
    charged: int
    tokens: int  # prompt + completion tokens of every evaluated request


class Evaluator:
    def __init__(self, task: TaskSpec, fixture: Fixture, *, target: str, start: str,
                 model: str, mode: str, train: Sequence[Example], root: Path, backend: Backend,
                 cache: Cache, budget: Budget, on_call: Callable[[ModelOutput], None],
                 progress: bool = False) -> None:
        self.task, self.fixture, self.target, self.start = task, fixture, target, start
        self.model, self.mode, self.train, self.root = model, mode, train, root
        self.cache, self.budget, self.progress = cache, budget, progress
        self._on_call = on_call
        self.backend = Counted(backend, self._call)
        self._versions: dict[int, PromptVersion] = {}
        self._renderers: dict[int, Renderer] = {}
        self._instructions: dict[int, str] = {}
        self._requests: dict[tuple[int, str], tuple[LabelRequest, str]] = {}
        self._scored: dict[tuple[int, tuple[str, ...]], Scored] = {}
        self.timed_calls, self.timed_seconds = 0, 0.0

    def _call(self, output: ModelOutput, seconds: float) -> None:
        self.timed_calls += 1
        self.timed_seconds += seconds
        self._on_call(output)

    def version(self, candidate: Candidate) -> PromptVersion:
        if candidate.id not in self._versions:
            self._versions[candidate.id] = as_version(self.task, self.target, self.start,
                                                      candidate, self.train)
        return self._versions[candidate.id]

    def renderer(self, candidate: Candidate) -> Renderer:
        if candidate.id not in self._renderers:
            self._renderers[candidate.id] = Renderer(self.task, self.version(candidate))
        return self._renderers[candidate.id]

    def instruction(self, candidate: Candidate) -> str:
        """The candidate's rendered instructions block (rendered once, asked every iteration)."""
        if candidate.id not in self._instructions:
            renderer = self.renderer(candidate)
            self._instructions[candidate.id] = (
                renderer.render_block("instructions", self.train[0])
                if "instructions" in renderer.blocks() else "")
        return self._instructions[candidate.id]

    def requests(self, candidate: Candidate,
                 examples: Sequence[Example]) -> list[tuple[LabelRequest, str]]:
        """(request, cache key) per example, each rendered once per run."""
        identity, found = None, []
        for example in examples:
            memo = (candidate.id, example.id)
            if memo not in self._requests:
                identity = identity or self.backend.identity()
                request = LabelRequest(self.renderer(candidate).render(example),
                                       self.task.label_names, self.mode)
                self._requests[memo] = (request, Cache.key(identity, request))
            found.append(self._requests[memo])
        return found

    def cost(self, candidate: Candidate, examples: Sequence[Example]) -> int:
        return self.budget.cost(key for _, key in self.requests(candidate, examples))

    def evaluate(self, candidate: Candidate, examples: Sequence[Example], stage: str, *,
                 charge: bool = True) -> Scored:
        """Raises OverBudget (nothing charged, nothing called) or CallsFailed. Scoring the
        same examples again answers from memory (calls and charged 0), even without a cache."""
        pairs = self.requests(candidate, examples)
        charged = self.budget.charge(key for _, key in pairs) if charge else 0
        memo = (candidate.id, tuple(e.id for e in examples))
        if memo in self._scored:
            return replace(self._scored[memo], calls=0, charged=charged)
        spec = RunSpec(task=self.task.name, version=self.target, model=self.model,
                       mode=self.mode, split=stage)
        result = run(spec, root=self.root, backend=self.backend, cache=self.cache,
                     progress=self.progress, task=self.task, fixture=self.fixture,
                     prompt=self.version(candidate), examples=examples,
                     requests=[request for request, _ in pairs],
                     git={})  # not a stored run: no need to ask git each time
        if result.errors:
            first = result.errors[0]
            raise CallsFailed(
                f"{len(result.errors)} of {len(examples)} model calls failed while scoring "
                f"candidate {candidate.id} ({candidate.proposer}) on {stage} "
                f"(example {first.example_id!r}: {first.error})",
                failed=len(result.errors), total=len(examples), first=str(first.error))
        metrics = metrics_for(result)
        tokens = sum(p.usage.prompt_tokens + p.usage.completion_tokens
                     for p in result.predictions)
        scored = Scored(metrics, objective.score(self.task, metrics), result.predictions,
                        result.model_calls, charged, tokens)
        self._scored[memo] = scored
        return scored


class TeacherLine:
    """The teacher's one request at a time: charged, answered from the cache when it can be,
    counted, and a failure is an error, not an empty proposal."""

    def __init__(self, teacher: Backend, cache: Cache, budget: Budget,
                 on_call: Callable[[ModelOutput], None]) -> None:
        self.teacher = Counted(teacher, lambda output, _: on_call(output))
        self.cache, self.budget = cache, budget

    def ask(self, request: LabelRequest) -> ModelOutput:
        self.budget.charge([Cache.key(self.teacher.identity(), request)])
        [(output, _)] = complete_cached(self.teacher, self.cache, [request],
                                       describe=lambda i: "teacher rewrite",
                                       meta=lambda i: {"model": self.teacher.name,
                                                       "task": "optimizer teacher"})
        if output.error is not None:
            raise CallsFailed(f"the teacher call failed: {output.error}", failed=1, total=1,
                              first=output.error)
        return output
