"""run(RunSpec) -> RunResult: load, validate and render everything first, then ask the model
through the cache. No scoring here: metrics are computed from the RunResult."""

from __future__ import annotations

import hashlib
import subprocess
import time
from contextlib import nullcontext
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from harness.cache import Cache
from harness.datasets import load_fixture, representative
from harness.environment import run_environment
from harness.errors import UsageError
from harness.models.base import Backend
from harness.parsing import parse_label
from harness.prompts import Renderer, load_version
from harness.records import (Example, Fixture, LabelRequest, ModelOutput, Prediction, Price,
                             PromptVersion, RunResult, RunSpec, TaskSpec)
from harness.tasks import load_task

RequestBuilder = Callable[[tuple[Example, ...]], Sequence[LabelRequest]]


def run(spec: RunSpec, *, root: Path, backend: Backend, cache: Cache, progress: bool = True,
        price: Price | None = None, task: TaskSpec | None = None,
        fixture: Fixture | None = None, prompt: PromptVersion | None = None,
        examples: Sequence[Example] | None = None,
        git: Mapping[str, str] | None = None,
        requests: Sequence[LabelRequest] | RequestBuilder | None = None) -> RunResult:
    """Loaded objects flow down: `task`, `fixture` (e.g. unlabeled items to pre-label for
    review), `prompt` (an in-memory version such as an optimizer candidate or a pull request's
    base) and `examples` (exactly these, e.g. a minibatch) replace what would be read from disk
    for `spec`; `git` replaces asking git again; `requests`: the prompts of `examples`, already
    rendered from `prompt` (the optimizer renders each once, to charge its budget). The cache
    keys on the rendered messages either way, so an unchanged prompt costs no model calls.
    `requests` may also be a builder called with the examples after `--limit` (a prompting
    strategy's, harness.strategies): the runner never knows which strategy made them."""
    task = task if task is not None else load_task(root, spec.task)
    version = prompt if prompt is not None else load_version(task, spec.version)
    fixture = fixture or load_fixture(task)
    if examples is None:
        examples = fixture.select(spec.split)
        if not examples and spec.split != "critical":  # no critical cases is fine
            raise UsageError(f"split {spec.split!r} of {fixture.path} has no examples")
    examples = tuple(examples)
    examples = representative(examples, spec.limit, task.splits.seed)  # stratified, seeded
    if spec.mode not in backend.modes():
        raise UsageError(f"model {spec.model!r} does not support mode {spec.mode!r}; "
                         f"it supports {', '.join(backend.modes())}")

    # Render every prompt before the first model call: template errors surface at once.
    if callable(requests):
        requests = list(requests(examples))
        if len(requests) != len(examples):
            raise ValueError("a request builder must give one request per example")
    elif requests is None:
        renderer = Renderer(task, version)
        requests = [LabelRequest(renderer.render(e), task.label_names, spec.mode, spec.params)
                    for e in examples]
    elif len(requests) != len(examples) or spec.limit is not None:
        raise ValueError("requests must match examples one to one (and no limit)")

    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    answers = complete_cached(
        backend, cache, requests, progress=progress,
        title=f"{spec.task}/{spec.version} [{spec.mode}]",
        describe=lambda i: f"{spec.task}/{spec.version} example {examples[i].id!r} "
                           f"({spec.mode} mode, model {spec.model})",
        meta=lambda i: {"model": spec.model, "task": spec.task, "version": spec.version,
                        "example": examples[i].id, "mode": spec.mode})

    predictions = tuple(_prediction(e, r, o, c, task.label_names)
                        for e, r, (o, c) in zip(examples, requests, answers))
    return RunResult(
        run_id=make_run_id(spec, started), spec=spec, task=task, prompt=version,
        dataset_hash=fixture.content_hash, model_identity=dict(backend.identity()),
        examples=examples, predictions=predictions,
        started_at=started.isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - clock,
        rendered_example=requests[0].prompt if requests else None,
        git=git_info(root) if git is None else git, environment=run_environment(backend),
        price=price)


def complete_cached(backend: Backend, cache: Cache, requests: Sequence[LabelRequest], *,
                    describe: Callable[[int], str], meta: Callable[[int], Mapping[str, str]],
                    title: str = "", progress: bool = False,
                    advance: Callable[[int], object] | None = None
                    ) -> list[tuple[ModelOutput, bool]]:
    """(output, from cache) per request: cached answers first, the rest from the backend,
    each written to the cache the moment it arrives (a crash or Ctrl-C loses only the calls in
    flight). The one path from a request to an answer, for evaluations and the optimizer's
    teacher alike. `describe(i)` names request i in a replay-mode miss; `meta(i)` is stored
    beside its cache entry. `advance(n)`: a caller's own progress bar (n requests done; the
    cached ones at once), instead of this function's."""
    identity = backend.identity()
    keys = [Cache.key(identity, r) for r in requests]
    outputs: list[ModelOutput | None] = [cache.get(k, describe=describe(i))
                                         for i, k in enumerate(keys)]
    cached = [o is not None for o in outputs]
    missing = [i for i, o in enumerate(outputs) if o is None]
    if advance is not None:
        advance(len(requests) - len(missing))
    if missing:
        bar = nullcontext() if advance is not None else tqdm(
            total=len(requests), initial=len(requests) - len(missing), unit="ex", desc=title,
            delay=2.0, disable=not progress, leave=False)
        step = advance if advance is not None else bar.update
        with bar:
            for j, output in backend.complete([requests[i] for i in missing]):
                index = missing[j]
                outputs[index] = output
                cache.put(keys[index], output, meta=meta(index))
                step(1)
    return [(o, c) for o, c in zip(outputs, cached)]  # type: ignore[misc]


def _prediction(example, request, output, cached, labels) -> Prediction:
    if output.error is not None:
        return Prediction(example.id, example.label, None, None, None, output.raw,
                          request.prompt.hash, cached, output.usage, output.error)
    if output.distribution:
        predicted = max(output.distribution, key=output.distribution.__getitem__)
        if output.samples and output.raw in output.distribution:  # a vote's tie-break winner
            predicted = output.raw
        confidence = output.distribution[predicted]
    else:
        predicted, confidence = parse_label(output.raw, labels), None
    return Prediction(example.id, example.label, predicted, confidence, output.distribution,
                      output.raw, request.prompt.hash, cached, output.usage,
                      samples=output.samples, tied=output.tied)


def make_run_id(spec: RunSpec, started: datetime) -> str:
    salt = hashlib.sha256(f"{spec}{started.isoformat()}".encode()).hexdigest()[:6]
    return (f"{started.strftime('%Y%m%dT%H%M%S')}-{spec.task}-{spec.version}-{spec.mode}-"
            f"{spec.split}-{salt}")


def git_info(root: Path) -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "dirty": "yes" if git("status", "--porcelain", "--untracked-files=no") else "no"}
    except (OSError, subprocess.SubprocessError):
        return {}
