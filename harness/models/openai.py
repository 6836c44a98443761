"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp server, Ollama, LM Studio) through the
`openai` client's chat completions: `--model openai:<model>`.

Where: `--base-url` / OPENAI_BASE_URL (default https://api.openai.com/v1). Key: the variable named
by `--api-key-env` (default OPENAI_API_KEY); a local server without auth needs none. The key lives
only in this object's client: it is not in `identity()` (cache keys, reports) nor in any message.
Credentials in the base URL (`user:pw@`, `?api-key=...`) are sent but shown and keyed only
redacted (harness.redact), and every answer and error text is scrubbed of the key and of those
credentials before the runner sees it (a server may echo the Authorization header).

Modes:
- generate: free-form answer, parsed to a label (or INVALID) by the runner.
- score: a short greedy answer with `logprobs` + `top_logprobs`; label probabilities are read from
  them (see label_logprobs.py). When they cannot be read, the prediction keeps the parsed answer
  and has no confidence: never an invented one.
- constrained: structured output, a JSON object whose `label` is an enum of the labels
  (`response_format` json_schema; the older `json_object` + `schema` form that llama.cpp's server
  speaks is tried when the first is rejected). A server with neither is a clear error.

Calls run concurrently on an asyncio loop, at most `concurrency` at once, and are yielded as they
finish so the runner caches each at once (an interrupted run resumes with only the missing calls).
Retries are ours (RetryPolicy), not the client's: 429 waits for `retry-after`; 5xx, timeouts and
dropped connections back off exponentially with jitter. A call that still fails is recorded as an
error (not a wrong answer). Once the server is unreachable after all retries, the calls not yet
started fail at once with the same message instead of each waiting through its own retries.
Mistakes that every call would repeat (bad key, unknown model, no structured output) stop the
run with a BackendError naming the fix.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import logging
import os
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import BackendError, UsageError
from harness.models.base import BackendOptions
from harness.models.label_logprobs import label_distribution, tokens_from_openai
from harness.models.retry import RetryPolicy, parse_retry_after, retryable_status
from harness.parsing import parse_label
from harness.reasoning import (ANSWER_REQUEST, REASONING_REQUEST, best_label, reasoned_output,
                               sample_seed)
from harness.records import (DecodingParams, LabelRequest, Message, ModelOutput, ReasonedAnswer,
                             Usage)
from harness.redact import Scrubber, redact_url, without_query_credentials

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# OpenAI's maximum; more alternatives means fewer labels fall below the cut-off.
TOP_LOGPROBS = 20
# Score mode needs only the first few answer tokens (the labels' commit points).
SCORE_MAX_TOKENS = 4
_NO_KEY = "no-key"  # what keyless local servers get; the client refuses an empty key

log = logging.getLogger("harness.openai")


def _require_sdk() -> None:
    """Refuse at construction, before any work, when the SDK is missing. The import itself
    (~1.2 s: openai, httpx, pydantic) waits for the first call, which a run answered entirely
    from the cache (a CI gate on an unchanged prompt, `--cache-only`) never makes."""
    if importlib.util.find_spec("openai") is None:
        raise BackendError("the openai backend needs the `openai` package: "
                           "pip install 'openai>=1.40,<4'")


@dataclass(slots=True)
class _RunState:
    unreachable: str | None = None  # set once a call gave up on a dead server
    warned_confidence: bool = False


class _Fatal(Exception):
    """Every remaining call would fail the same way: stop the run."""


class OpenAIBackend:
    name = "openai"
    supports_reasoning = True  # LabelRequest.reasoning: two calls per sample (_reasoned)

    def __init__(self, model: str, options: BackendOptions = BackendOptions(), *,
                 retry: RetryPolicy | None = None, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        if not model:
            raise UsageError("name the model after the prefix: --model openai:gpt-4o-mini "
                             "(for a local server, the name it serves, e.g. openai:smollm2)")
        if options.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, got {options.concurrency}")
        self.model = model
        self.base_url = (options.base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
                         ).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"base URL {redact_url(self.base_url)!r} must start with http:// or "
                             f"https:// (e.g. http://127.0.0.1:8000/v1)")
        key = env.get(options.api_key_env, "")
        self._scrub = Scrubber.of(key, urls=[self.base_url])
        if not key and redact_url(self.base_url) == DEFAULT_BASE_URL:
            raise BackendError(f"{options.api_key_env} is not set: export your OpenAI API key, or "
                               f"point --base-url / OPENAI_BASE_URL at an OpenAI-compatible server")
        self._api_key = key or _NO_KEY
        self.concurrency = options.concurrency
        self.timeout_s = options.timeout_s
        self.retry = retry or RetryPolicy(max_retries=options.max_retries)
        _require_sdk()
        self._structured: str | None = None  # the response_format form this server accepted
        self.calls_sent = 0  # HTTP attempts, retries included (read by tests and benchmarks)

    @functools.cached_property
    def _openai(self) -> Any:
        import openai

        return openai

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(model={self.model!r}, base_url={redact_url(self.base_url)!r})"

    # -- protocol ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, str]:
        return {"backend": "openai", "base_url": redact_url(self.base_url), "model": self.model,
                "score": f"top_logprobs={TOP_LOGPROBS},max_tokens={SCORE_MAX_TOKENS}"}

    def modes(self) -> tuple[str, ...]:
        return ("score", "generate", "constrained")

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        if not requests:
            return
        loop = asyncio.new_event_loop()
        # The client appends paths to its base URL: a query string (Azure-style `api-key=`,
        # `api-version=`) goes with every request instead.
        base_url, query = without_query_credentials(self.base_url)
        client = self._openai.AsyncOpenAI(api_key=self._api_key, base_url=base_url,
                                          default_query=query or None, max_retries=0,
                                          timeout=self.timeout_s)
        queue: asyncio.Queue = asyncio.Queue()
        gate = asyncio.Semaphore(self.concurrency)
        state = _RunState()
        tasks = [loop.create_task(self._run_one(client, i, r, gate, state, queue))
                 for i, r in enumerate(requests)]
        waiting: list[asyncio.Task] = []
        try:
            # The loop runs only while we wait for the next result; the runner caches each
            # result between waits (a few ms), while the other calls stay in flight.
            for _ in requests:
                waiting = [loop.create_task(queue.get())]
                index, result = loop.run_until_complete(waiting[0])
                if isinstance(result, _Fatal):
                    raise BackendError(str(result))
                yield index, result
        finally:
            # Ctrl-C, a fatal error or an abandoned iterator: stop every call still in flight.
            pending = [t for t in tasks + waiting if not t.done()]
            for task in pending:
                task.cancel()
            if pending:  # gather() of nothing would bind to another loop
                loop.run_until_complete(asyncio.wait(pending))
            loop.run_until_complete(client.close())
            loop.close()

    def close(self) -> None:
        pass  # clients live for one complete() call

    # -- one call ---------------------------------------------------------------------------
    async def _run_one(self, client: Any, index: int, request: LabelRequest,
                       gate: asyncio.Semaphore, state: _RunState, queue: asyncio.Queue) -> None:
        try:
            async with gate:
                result: ModelOutput | _Fatal = await (
                    self._reasoned(client, request, state) if request.reasoning is not None
                    else self._call(client, request, state))
        except _Fatal as fatal:
            result = _Fatal(self._scrub(str(fatal)))
        except Exception as exc:  # noqa: BLE001 - a surprise must not leave the run waiting
            # Where it was raised, so a report of it can be acted on.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            result = ModelOutput(error=f"unexpected {type(exc).__name__} from "
                                       f"{self._where()}: {str(exc)[:300]} (raised at "
                                       f"{Path(frame.filename).name}:{frame.lineno} in "
                                       f"{frame.name})")
        if isinstance(result, ModelOutput):  # what the server said is data: never a secret
            result = replace(result, raw=self._scrub(result.raw), error=self._scrub(result.error))
        await queue.put((index, result))

    async def _reasoned(self, client: Any, request: LabelRequest,
                        state: _RunState) -> ModelOutput:
        """A reasoning request (harness.reasoning): per sample, a generate call for the
        reasoning (max_tokens, the sample's temperature and seed), then a call in the request's
        own mode on the prompt + reasoning + ANSWER_REQUEST (score: labels read from
        top_logprobs). A chat API cannot continue the assistant's turn, so the reasoning is
        asked for in a user message (REASONING_REQUEST). Samples run one after another."""
        reasoning = request.reasoning
        assert reasoning is not None
        asked = (*request.prompt.messages, Message("user", REASONING_REQUEST))
        samples, answer_text = [], ""
        prompt_tokens = completion_tokens = 0
        for i in range(reasoning.samples):
            think = replace(request, mode="generate", reasoning=None,
                            prompt=replace(request.prompt, messages=asked),
                            params=DecodingParams(temperature=reasoning.temperature,
                                                  max_tokens=reasoning.max_tokens,
                                                  seed=sample_seed(reasoning.seed, i)))
            thought = await self._call(client, think, state)
            if thought.error is not None:
                return thought
            text = self._scrub(thought.raw).strip()
            answer = replace(request, reasoning=None, prompt=replace(request.prompt, messages=(
                *asked, Message("assistant", text), Message("user", ANSWER_REQUEST))))
            said = await self._call(client, answer, state)
            if said.error is not None:
                return said
            for used in (thought.usage, said.usage):
                prompt_tokens += used.prompt_tokens
                completion_tokens += used.completion_tokens
            answer_text = answer_text or said.raw
            label = (best_label(said.distribution) if said.distribution
                     else parse_label(said.raw, request.labels))
            samples.append(ReasonedAnswer(text, label, said.distribution
                                          if request.mode == "score" else None))
        return reasoned_output(samples, request.labels, request.mode,
                               Usage(prompt_tokens, completion_tokens), answer_text=answer_text)

    async def _call(self, client: Any, request: LabelRequest, state: _RunState) -> ModelOutput:
        sdk = self._openai
        attempt = 0
        while True:
            if state.unreachable:
                return ModelOutput(error=f"not attempted: {state.unreachable}")
            kwargs = self._request_kwargs(request)
            retry_after: float | None = None
            connection = False
            try:
                self.calls_sent += 1
                response = await client.chat.completions.create(**kwargs)
                return self._output(request, response, state)
            except sdk.APIStatusError as exc:
                status = exc.status_code
                detail = _error_detail(exc)
                if self._refused_structured(request, status, detail, kwargs):
                    continue  # try the other response_format form at once
                self._raise_if_fatal(request, status, detail)
                if not retryable_status(status):
                    return ModelOutput(error=f"HTTP {status} from {self._where()}: {detail}")
                if status == 429:
                    retry_after = parse_retry_after(dict(exc.response.headers))
                problem = f"HTTP {status} from {self._where()}: {detail}"
            except sdk.APITimeoutError:
                problem = f"no answer from {self._where()} within {self.timeout_s:g} s"
            except sdk.APIConnectionError as exc:
                connection = True
                cause = exc.__cause__ or exc
                problem = (f"cannot connect to {self._where()} "
                           f"({type(cause).__name__}: {cause or 'connection dropped'})")
            wait = self.retry.delay(attempt, retry_after)
            if wait is None:
                message = f"{problem}; gave up after {attempt + 1} attempt(s)"
                if connection:
                    state.unreachable = message
                return ModelOutput(error=message)
            log.info("retrying in %.1f s: %s", wait, self._scrub(problem))
            await asyncio.sleep(wait)
            attempt += 1

    def _where(self) -> str:
        return f"{redact_url(self.base_url)} (model {self.model})"

    def _request_kwargs(self, request: LabelRequest) -> dict[str, Any]:
        params = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.prompt.messages],
            "temperature": params.temperature,
            "seed": params.seed,
            "max_tokens": params.max_tokens,
        }
        if request.mode == "score":
            kwargs.update(logprobs=True, top_logprobs=TOP_LOGPROBS,
                          max_tokens=min(params.max_tokens, SCORE_MAX_TOKENS))
        elif request.mode == "constrained":
            kwargs["response_format"] = _response_format(self._structured or "json_schema",
                                                         request.labels)
        elif request.mode != "generate":
            raise BackendError(f"mode {request.mode!r} is not supported by the openai backend")
        return kwargs

    def _refused_structured(self, request: LabelRequest, status: int, detail: str,
                            kwargs: Mapping[str, Any]) -> bool:
        """The server rejected the json_schema form: remember to use json_object + schema.
        (llama.cpp's server answers a rejected response_format with a 500, hence the text test.)"""
        if request.mode != "constrained" or not (status in (400, 422)
                                                 or "response_format" in detail):
            return False
        if kwargs["response_format"]["type"] == "json_schema":
            self._structured = "json_object"
            return True
        if self._structured == "json_object":
            raise _Fatal(f"{self._where()} rejected structured output (response_format "
                         f"json_schema, and json_object with a schema): this server cannot "
                         f"constrain answers to the labels; use --mode score or --mode generate")
        return False

    def _raise_if_fatal(self, request: LabelRequest, status: int, detail: str) -> None:
        where = self._where()
        if status in (401, 403):
            raise _Fatal(f"HTTP {status} from {where}: {detail}; check the API key variable "
                         f"(--api-key-env, default OPENAI_API_KEY) and its permissions")
        if status == 404:
            raise _Fatal(f"HTTP 404 from {where}: {detail}; check the model name after "
                         f"`openai:` and that the base URL ends in /v1")
        if status == 400 and request.mode == "score" and "logprob" in detail.lower():
            raise _Fatal(f"{where} does not return logprobs ({detail}); score mode needs them: "
                         f"use --mode generate or --mode constrained")

    def _output(self, request: LabelRequest, response: Any, state: _RunState) -> ModelOutput:
        if not response.choices:
            return ModelOutput(error=f"{self._where()} answered with no choices")
        choice = response.choices[0]
        content = choice.message.content or ""
        usage = Usage(prompt_tokens=getattr(response.usage, "prompt_tokens", 0) or 0,
                      completion_tokens=getattr(response.usage, "completion_tokens", 0) or 0)
        if request.mode == "score":
            logprobs = getattr(choice, "logprobs", None)
            tokens = tokens_from_openai(getattr(logprobs, "content", None))
            distribution, why = label_distribution(tokens, request.labels)
            if why and not state.warned_confidence:
                state.warned_confidence = True
                log.warning("score mode: confidence unavailable for some answers of %s: %s",
                            self._where(), why)
            return ModelOutput(raw=content, distribution=distribution, usage=usage)
        if request.mode == "constrained":
            return ModelOutput(raw=_label_from_json(content), usage=usage)
        return ModelOutput(raw=content, usage=usage)


def _response_format(form: str, labels: Sequence[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": list(labels)}},
              "required": ["label"], "additionalProperties": False}
    if form == "json_object":  # llama.cpp server / Anyscale style
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "label", "strict": True,
                                                   "schema": schema}}


def _label_from_json(content: str) -> str:
    """`{"label": "Objective"}` -> `Objective`; anything else stays raw (the runner parses it,
    INVALID when it names no label)."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if isinstance(value, dict) and isinstance(value.get("label"), str):
        return value["label"]
    return content


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = ((error.get("message") if isinstance(error, dict) else error)
                   or body.get("message") or body.get("detail"))
    return str(message or getattr(exc, "message", None) or exc)[:300]


def make(rest: str, options: BackendOptions) -> OpenAIBackend:
    return OpenAIBackend(rest, options)
