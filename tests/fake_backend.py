"""A deterministic fake model: the test double behind the fast tests of the pytest plugin, the
CLI, Session and the optimizer loop (no weights, no network, answers in microseconds).

It lives in tests/ only. Nothing in harness/ knows about it: a test reaches it through the
`fake_model` fixture (tests/conftest.py), which adds a `fake` prefix to the static backend table
`harness.models.base.BACKENDS` for the length of that one test, exactly as `local` and `openai`
are listed there. So `--model fake:<name>` / `--harness-model fake:<name>` / `Settings.model`
build it through the same `get_backend` path as a real model, in-process (the CLI via
`harness.cli.main([...])`, the plugin via `pytester.runpytest`), and the CLI and plugin cannot
reach it in normal use.

    backend = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    model = fake_model(backend)            # "fake:default"
    ... run with --model <model> ...
    assert backend.calls_made == 12

What the rule sees is a `Call`: `text` (the user message(s), where templates put the input),
`prompt` (every message, the instruction included), the labels and the mode. It answers with a
distribution over the labels (score mode returns it, normalized; generate and constrained answer
its top label) or with a string (generate mode returns it as the raw answer; score mode puts all
the probability on it when it is a label). Injectable: per-call failures (`fail`), an exception
from `complete` after N answers (`raise_after`, a crashed backend or Ctrl-C), and `latency_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from harness.errors import BackendError, UsageError
from harness.records import LabelRequest, ModelOutput, Usage

ALL_MODES = ("score", "generate", "constrained")


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the rule sees it."""

    text: str  # the user message(s), joined: the example's input as the template placed it
    prompt: str  # every message joined, system instructions included
    labels: tuple[str, ...]
    mode: str
    example_id: str
    sample: int = 0  # the sample index of a reasoning request (0 otherwise)


Answer = Mapping[str, float] | str
Rule = Callable[[Call], Answer]


def keyword_rule(keywords: Mapping[str, str], *, default: str, confidence: float = 0.8) -> Rule:
    """The label of the first keyword (case-insensitive) found in the input text, else
    `default`; `confidence` of the probability on it, the rest spread over the other labels."""
    def rule(call: Call) -> Mapping[str, float]:
        lowered = call.text.lower()
        chosen = next((label for word, label in keywords.items() if word.lower() in lowered),
                      default)
        return peaked(call.labels, chosen, confidence)
    return rule


def table_rule(table: Mapping[str, Answer], *, default: Answer | None = None) -> Rule:
    """Exact input text (stripped) -> answer; any other text gets `default`, or, without one,
    a BackendError naming the text (a test that forgot a row should say so)."""
    def rule(call: Call) -> Answer:
        key = call.text.strip()
        if key in table:
            return table[key]
        if default is None:
            raise BackendError(f"fake model: no answer in the table for {key!r}")
        return default
    return rule


def peaked(labels: Sequence[str], chosen: str, confidence: float) -> dict[str, float]:
    """`confidence` on `chosen`, the rest shared equally by the other labels."""
    rest = (1.0 - confidence) / max(1, len(labels) - 1)
    return {label: confidence if label == chosen else rest for label in labels}


class FakeBackend:
    """A Backend (harness.models.base.Backend) whose answers come from a rule. Counts what it
    is asked: `calls` (every Call answered, in order), `batches` (calls of `complete`),
    `closed` (calls of `close`)."""

    name = "fake"
    supports_reasoning = True  # reasoning requests: each sample answered by the rule

    def __init__(self, rule: Rule, *, fail: Callable[[Call], str | None] | None = None,
                 raise_after: int | None = None,
                 raises: Callable[[], BaseException] = lambda: BackendError("fake model crashed"),
                 latency_s: float = 0.0, modes: tuple[str, ...] = ALL_MODES,
                 revision: str = "1",
                 reason: Callable[[Call], str] = lambda call: f"fake reasoning {call.sample}"
                 ) -> None:
        self.rule, self.fail, self.latency_s = rule, fail, latency_s
        self.raise_after, self.raises = raise_after, raises
        self._modes, self.revision = modes, revision
        self.reason = reason  # the reasoning text of a reasoning request's sample
        self.calls: list[Call] = []
        self.batches = 0
        self.closed = 0

    @property
    def calls_made(self) -> int:
        return len(self.calls)

    def identity(self) -> Mapping[str, str]:
        # Part of every cache key: give another `revision` when a test changes the rule and
        # shares a cache directory with an earlier one.
        return {"backend": "fake", "revision": self.revision}

    def modes(self) -> tuple[str, ...]:
        return self._modes

    def environment(self) -> Mapping[str, str]:
        return {"backend": "fake (tests/fake_backend.py)"}

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        self.batches += 1
        for index, request in enumerate(requests):
            if self.raise_after is not None and len(self.calls) >= self.raise_after:
                raise self.raises()
            if self.latency_s:
                time.sleep(self.latency_s)
            call = _call(request)
            self.calls.append(call)
            error = self.fail(call) if self.fail else None
            if error:
                yield index, ModelOutput(error=error)
            elif request.reasoning is not None:
                yield index, self._reasoned(call, request)
            else:
                yield index, self._answer(call)

    def _reasoned(self, call: Call, request: LabelRequest) -> ModelOutput:
        """A reasoning request: the rule answers each sample (it sees `call.sample`), the
        answers are assembled and voted by the harness's own code (harness.reasoning)."""
        from dataclasses import replace

        from harness.parsing import parse_label
        from harness.reasoning import reasoned_output
        from harness.records import ReasonedAnswer

        assert request.reasoning is not None
        samples, text = [], ""
        for i in range(request.reasoning.samples):
            sample = replace(call, sample=i)
            answer = self._answer(sample)
            if answer.distribution is not None:
                best = max(answer.distribution, key=answer.distribution.__getitem__)
                samples.append(ReasonedAnswer(self.reason(sample), best,
                                              dict(answer.distribution)))
            else:
                text = text or answer.raw
                samples.append(ReasonedAnswer(self.reason(sample),
                                              parse_label(answer.raw, call.labels)))
        usage = Usage(prompt_tokens=len(call.prompt.split()),
                      completion_tokens=len(samples) * 10)
        return reasoned_output(samples, call.labels, call.mode, usage, answer_text=text)

    def _answer(self, call: Call) -> ModelOutput:
        answer = self.rule(call)
        usage = Usage(prompt_tokens=len(call.prompt.split()), completion_tokens=1)
        if isinstance(answer, str):
            if call.mode == "score":
                if answer not in call.labels:
                    raise BackendError(f"fake model: score mode needs a label, got {answer!r}")
                answer = {label: float(label == answer) for label in call.labels}
            else:
                return ModelOutput(raw=answer, usage=usage)
        total = sum(answer.values())
        distribution = {label: float(answer.get(label, 0.0)) / total for label in call.labels}
        best = max(distribution, key=distribution.__getitem__)
        if call.mode != "score":
            return ModelOutput(raw=best, usage=usage)
        return ModelOutput(raw=best, distribution=distribution, usage=usage)

    def close(self) -> None:
        self.closed += 1


def _call(request: LabelRequest) -> Call:
    messages = request.prompt.messages
    return Call(text="\n".join(m.content for m in messages if m.role == "user"),
                prompt="\n".join(m.content for m in messages), labels=request.labels,
                mode=request.mode, example_id=request.prompt.example_id)


# Backends installed by the `fake_model` fixture, by the name after `fake:`.
INSTALLED: dict[str, FakeBackend] = {}


def make(rest: str, options: object) -> FakeBackend:
    """The backend-module entry point `get_backend` calls (see BACKENDS)."""
    name = rest or "default"
    if name not in INSTALLED:
        raise UsageError(f"no fake backend {name!r} installed (installed: "
                         f"{', '.join(INSTALLED) or 'none'})")
    return INSTALLED[name]
