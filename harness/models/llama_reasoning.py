"""Reasoning before the label on llama.cpp: the prompt is decoded ONCE, its KV cells are copied
into one stream per sample, and the N reasonings are sampled together, one token per stream per
`llama_decode`. Then every stream gets the answer cue and the labels are scored (or an answer
generated) in the same decodes for all streams.

Built on StreamScorer (llama_streams.py): the same non-unified KV context (one stream per
sequence, cells from 0 as in a fresh model), the same padded `_decode`, and the same prefix reuse
across requests (stream 0 keeps its last prompt: the instruction prefix shared by every example
is decoded once, not per example). The prompt decode follows StreamScorer's rules, so its last
row (the first reasoning token's distribution) does not depend on what was decoded before.

Sampling: temperature 0 is argmax; otherwise softmax(logits / T), drawn by inverse CDF from a
numpy Generator seeded per sample, so a request's samples are reproducible. Each step decodes one
row per unfinished stream; which streams are unfinished follows from the seeds, so a request
takes the same decodes, and gets the same text, every time on one machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.errors import BackendError
from harness.models.llama_streams import StreamScorer, _common_prefix
from harness.parsing import parse_label
from harness.reasoning import (ANSWER_CUE, REASONING_INVITATION, best_label, reasoned_output,
                               sample_seed)
from harness.records import LabelRequest, ModelOutput, ReasonedAnswer, Usage


@dataclass(slots=True)
class SampleRun:
    """One stream's reasoning tokens, then its summed label log-probs (score / constrained) or
    its generated answer tokens (generate)."""

    reasoning: list[int] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    answer: list[int] = field(default_factory=list)


class ReasoningSampler(StreamScorer):
    """`streams` samples of one prompt at a time, each stream `cells` tokens long."""

    def __init__(self, llm, *, streams: int, cells: int) -> None:
        super().__init__(llm, streams=streams, cells=cells)
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._is_end = lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))
        self._detokenize = lambda tokens: llm.detokenize(tokens, special=True).decode(
            "utf-8", errors="replace")
        # For benchmarks: prompt tokens decoded (after prefix reuse) and sampling steps.
        self.prompt_rows = 0
        self.steps = 0

    def reason(self, prefix: Sequence[int], *, samples: int, max_tokens: int,
               temperature: float, seeds: Sequence[int], cue: Sequence[int],
               label_tokens: Mapping[str, Sequence[int]] | None, answer_tokens: int = 0,
               stop_text: Sequence[str] = ()) -> list[SampleRun]:
        """Sample `samples` reasonings after `prefix` (prompt + invitation), then append `cue`
        to each and score `label_tokens` there, or, when it is None, generate up to
        `answer_tokens` greedily (stopping at a newline or the turn's end)."""
        if self._ctx is None:
            raise BackendError("the reasoning context was closed")
        if samples > self.streams:
            raise BackendError(f"{samples} samples need {samples} streams; this context has "
                               f"{self.streams}")
        longest = max((len(t) for t in (label_tokens or {}).values()), default=answer_tokens)
        if len(prefix) + max_tokens + len(cue) + longest + 2 > self.cells:
            raise BackendError(f"prompt is {len(prefix)} tokens; with {max_tokens} reasoning "
                               f"tokens and the answer it does not fit the {self.cells} cells "
                               f"of a reasoning stream")
        rngs = [np.random.default_rng(seed) for seed in seeds]
        runs = [SampleRun() for _ in range(samples)]
        first = self._decode_prompt(list(prefix))
        for stream in range(1, samples):  # the prompt's cells, decoded once, into every stream
            self._llama_cpp.llama_memory_seq_cp(self._memory, 0, stream, -1, -1)
            self._held[stream] = list(self._held[0])
        base = len(prefix)
        # Tokens sampled but not yet decoded (the last one of a stream cut at max_tokens).
        pending: list[list[int]] = [[] for _ in range(samples)]
        self._sample(runs, [first] * samples, rngs, base, temperature, max_tokens,
                     stop_text, pending, lambda run: run.reasoning)
        positions = [base + len(run.reasoning) - len(pending[i]) for i, run in enumerate(runs)]
        feeds = [pending[i] + list(cue) for i in range(samples)]
        if label_tokens is not None:
            self._score(runs, feeds, positions, label_tokens)
        else:
            rows = self._feed(feeds, positions)
            starts = [p + len(f) for p, f in zip(positions, feeds)]
            self._sample(runs, rows, [None] * samples, starts, 0.0, answer_tokens,
                         ("\n",), [[] for _ in range(samples)], lambda run: run.answer)
        for stream in range(samples):  # only the prompt is worth keeping for the next request
            self._held[stream] = list(prefix)
        return runs

    # -- internals ----------------------------------------------------------------------------
    def _decode_prompt(self, prefix: list[int]) -> np.ndarray:
        start = max(0, min(_common_prefix(self._held[0], prefix), len(prefix) - 2))
        last = len(prefix) - start - 1
        (row,) = self._decode([(0, prefix[start:], start, range(last, last + 1))])
        self.prompt_rows += len(prefix) - start
        self._held[0] = list(prefix)
        return self._logprobs(row + last)

    def _feed(self, feeds: list[list[int]], positions: list[int]) -> list[np.ndarray]:
        """Decode each stream's `feeds[i]` at `positions[i]` (padded to one width); the log-probs
        after each feed's last token."""
        entries = [(i, feed, positions[i], range(len(feed) - 1, len(feed)))
                   for i, feed in enumerate(feeds)]
        bases = self._decode(entries)
        return [self._logprobs(base + len(feed) - 1) for base, feed in zip(bases, feeds)]

    def _sample(self, runs: list[SampleRun], logprobs: list[np.ndarray], rngs: list,
                start: int | list[int], temperature: float, limit: int,
                stop_text: Sequence[str], pending: list[list[int]], out) -> None:
        """Extend `out(run)` of every stream token by token until its turn ends, a stop text
        would appear, or `limit` tokens; one decode per step for all unfinished streams."""
        n = len(runs)
        starts = start if isinstance(start, list) else [start] * n
        active = list(range(n))
        current = list(logprobs)
        while active:
            step: list[tuple[int, int]] = []
            for i in active:
                token = self._pick(current[i], rngs[i], temperature)
                tokens = out(runs[i])
                if self._is_end(token) or self._stops(tokens, token, stop_text):
                    continue
                tokens.append(token)
                if len(tokens) >= limit:
                    pending[i].append(token)  # decoded with the cue, if anything follows
                    continue
                step.append((i, token))
            active = [i for i, _ in step]
            if not step:
                break
            self._step(step, [starts[i] + len(out(runs[i])) - 1 for i, _ in step], current)

    def _stops(self, tokens: list[int], token: int, stop_text: Sequence[str]) -> bool:
        if not stop_text:
            return False
        before = self._detokenize(tokens[-4:])
        after = self._detokenize(tokens[-4:] + [token])
        return any(stop in after and stop not in before for stop in stop_text)

    def _step(self, step: list[tuple[int, int]], positions: list[int],
              current: list[np.ndarray]) -> None:
        """One token per stream in one decode (no padding: every sequence has one row)."""
        lib, batch = self._llama_cpp, self._batch
        for n, ((stream, token), pos) in enumerate(zip(step, positions)):
            lib.llama_memory_seq_rm(self._memory, stream, pos, -1)
            batch.token[n] = token
            batch.pos[n] = pos
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = stream
            batch.logits[n] = True
        batch.n_tokens = len(step)
        status = lib.llama_decode(self._ctx, batch)
        self.decodes += 1
        self.steps += 1
        self.evaluated_tokens += len(step)
        if status != 0:
            raise BackendError(f"llama_decode failed ({status}) sampling {len(step)} streams")
        for n, (stream, _) in enumerate(step):
            current[stream] = self._logprobs(n)

    @staticmethod
    def _pick(logprobs: np.ndarray, rng, temperature: float) -> int:
        if temperature <= 0 or rng is None:
            return int(np.argmax(logprobs))
        scaled = logprobs / temperature
        weights = np.exp(scaled - scaled.max())
        cumulative = np.cumsum(weights)
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return min(index, len(cumulative) - 1)

    def _score(self, runs: list[SampleRun], feeds: list[list[int]], positions: list[int],
               label_tokens: Mapping[str, Sequence[int]]) -> None:
        """Every label's summed log-probs after each stream's cue: the first multi-token label
        rides along in the cue's decode; each further one takes one decode for all streams."""
        multi = [label for label, seq in label_tokens.items() if len(seq) > 1]
        along = list(label_tokens[multi[0]][:-1]) if multi else []
        entries = [(i, feed + along, positions[i], range(len(feed) - 1, len(feed) + len(along)))
                   for i, feed in enumerate(feeds)]
        bases = self._decode(entries)
        for (i, feed, _, wanted), base in zip(entries, bases):
            row = base + wanted.start
            first = self._logprobs(row)
            sums = {label: float(first[seq[0]]) for label, seq in label_tokens.items()}
            if multi:
                sums[multi[0]] += self._continuation(row + 1, label_tokens[multi[0]][1:])
            runs[i].totals = sums
        for label in multi[1:]:
            seq = list(label_tokens[label])
            bases = self._decode([(i, seq[:-1], positions[i] + len(feeds[i]),
                                   range(len(seq) - 1)) for i in range(len(runs))])
            for i, base in enumerate(bases):
                runs[i].totals[label] += self._continuation(base, seq[1:])


def answer_after_reasoning(sampler: ReasoningSampler, llm, prompt: Sequence[int],
                           request: LabelRequest, *, answer_prefix: str,
                           stop_text: Sequence[str]) -> ModelOutput:
    """A reasoning request on the local model: `prompt` (the chat-formatted tokens, assistant
    turn open), then `answer_prefix` + REASONING_INVITATION, the sampled reasoning(s), ANSWER_CUE
    and the answer (harness.reasoning says how it becomes one output)."""
    reasoning = request.reasoning
    assert reasoning is not None

    def tokenize(text: str) -> list[int]:
        return llm.tokenize(text.encode(), add_bos=False, special=False)

    prefix = list(prompt) + tokenize(answer_prefix + REASONING_INVITATION)
    cue = tokenize(ANSWER_CUE)
    labels = request.labels
    scored = request.mode in ("score", "constrained")
    label_tokens = _after_cue(tokenize, cue, labels) if scored else None
    runs = sampler.reason(prefix, samples=reasoning.samples, max_tokens=reasoning.max_tokens,
                          temperature=reasoning.temperature,
                          seeds=[sample_seed(reasoning.seed, i) for i in range(reasoning.samples)],
                          cue=cue, label_tokens=label_tokens,
                          answer_tokens=request.params.max_tokens, stop_text=stop_text)
    detok = sampler._detokenize
    samples, texts = [], []
    for run in runs:
        text = detok(run.reasoning).strip()
        if scored:
            values = np.array([run.totals[label] for label in labels])
            probs = np.exp(values - values.max())
            probs /= probs.sum()
            distribution = {label: float(p) for label, p in zip(labels, probs)}
            answer = best_label(distribution)
            samples.append(ReasonedAnswer(text, answer, distribution if request.mode == "score"
                                          else None))
        else:
            answer_text = detok(run.answer)
            texts.append(answer_text)
            samples.append(ReasonedAnswer(text, parse_label(answer_text, labels)))
    usage = Usage(prompt_tokens=len(prefix),
                  completion_tokens=sum(len(r.reasoning) + len(r.answer) for r in runs))
    return reasoned_output(samples, labels, request.mode, usage,
                           answer_text=texts[0] if texts else "")


def _after_cue(tokenize, cue: list[int], labels: Sequence[str]) -> dict[str, list[int]]:
    """Each label's tokens exactly as they follow the cue (`Answer: Objective`)."""
    table = {}
    for label in labels:
        joint = tokenize(ANSWER_CUE + " " + label)
        table[label] = (joint[len(cue):] if joint[:len(cue)] == cue
                        else tokenize(" " + label))  # a merge across the boundary: score alone
    return table
