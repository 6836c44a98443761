"""Score several prompts per `llama_decode`, each prompt in its own KV-cache stream.

Scores must be a function of the prompt alone: a regression gate cannot let an example's
confidence depend on which other examples shared its batch. Measured on llama-cpp-python 0.3.36
(CPU, SmolLM2-135M Q4_1), see bench/RESULTS.md:

- several prompts as sequences of ONE unified KV cache: a prompt's log-probs moved by up to
  0.3 nats with the cell offset its sequence landed on. Not used.
- one KV stream per sequence (`kv_unified = false`): each prompt's cells start at cell 0 of its
  own stream, as in a fresh model, and its rows are bit-identical to decoding it alone, provided
  every sequence contributes the SAME number of tokens to the decode (llama.cpp then keeps the
  batch in one micro-batch) and at least two of them (a one-row decode takes another kernel and
  rounds differently). Both are ensured here by padding: tokens appended after a sequence's last
  needed row cannot change that row (causal attention), so padding costs time, never accuracy.

Within a stream the previous prompt's cells are kept, so the instruction prefix shared by every
example is decoded once per stream, not once per example. Requests are taken shortest first so
that sequences in one decode have similar lengths and padding stays small.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import BackendError


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class StreamScorer:
    """Summed label log-probs for many prompts, up to `streams` prompts per decode.

    Each stream holds `cells` tokens of prompt + answer (`fits`). The first multi-token label's
    continuation rides along in the prompt's decode; each further multi-token label takes one
    more decode for the whole group.
    """

    def __init__(self, llm: Any, *, streams: int, cells: int, token_budget: int = 512) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._llm = llm  # the model must outlive this context
        self.streams = streams
        self.cells = cells
        self.token_budget = max(token_budget, 4)  # rows per decode when several prompts share it
        # In a group of two or more, padding carries a sequence at most half a budget further.
        slack = self.token_budget // 2 + 2
        params = llama_cpp.llama_context_params()
        ctypes.pointer(params)[0] = llm.context_params  # same threads, rope, KV types, no FA
        params.n_seq_max = streams
        params.kv_unified = False
        per_stream = -(-(cells + slack) // 256) * 256  # llama.cpp rounds to 256 cells anyway
        params.n_ctx = per_stream * streams
        params.n_batch = max(per_stream, self.token_budget)
        params.n_ubatch = self.token_budget
        self._n_batch, self._n_ubatch = params.n_batch, params.n_ubatch
        self._ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self._ctx:
            raise BackendError(f"llama.cpp could not create a {streams}-stream scoring context "
                               f"of {params.n_ctx} cells")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._n_vocab = llm.n_vocab()
        self._held: list[list[int]] = [[] for _ in range(streams)]  # prompt tokens per stream
        # Read by benchmarks and tests: tokens decoded that carry information, tokens decoded
        # only to pad sequences to equal length, and llama_decode calls.
        self.evaluated_tokens = 0
        self.padding_tokens = 0
        self.decodes = 0

    def fits(self, tokens: int) -> bool:
        """Whether a prompt plus its longest label, `tokens` in all, fits one stream."""
        return tokens <= self.cells

    def reset(self) -> None:
        """Forget every stream's prompt (benchmarks: each round starts cold)."""
        if self._ctx is not None:
            self._llama_cpp.llama_memory_clear(self._memory, True)
        self._held = [[] for _ in range(self.streams)]

    def close(self) -> None:
        if self._ctx is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._llama_cpp.llama_free(self._ctx)
            self._ctx = None

    # -- public -------------------------------------------------------------------------------
    def score(self, prompts: Sequence[Sequence[int]],
              label_tokens: Mapping[str, Sequence[int]]) -> Iterator[tuple[int, dict[str, float]]]:
        """Yield (index into `prompts`, {label: summed log-prob}) in the order computed."""
        if self._ctx is None:
            raise BackendError("the scoring context was closed")
        longest = max(len(seq) for seq in label_tokens.values())
        too_long = [i for i, p in enumerate(prompts) if not self.fits(len(p) + longest)]
        if too_long:
            raise BackendError(f"prompt {too_long[0]} is {len(prompts[too_long[0]])} tokens; a "
                               f"scoring stream holds {self.cells} with the answer")
        multi = [label for label, seq in label_tokens.items() if len(seq) > 1]
        along = list(label_tokens[multi[0]][:-1]) if multi else []
        pending = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
        if len(pending) > 1 and self.streams > 1:
            # Decode the first prompt alone, then copy its stream into the others this call
            # will use: the shared instruction prefix is decoded once, not once per stream.
            yield from self._score_group(pending[:1], prompts, label_tokens, multi, along)
            pending = pending[1:]
            self._share_stream_zero(prompts[pending[0]], min(self.streams, len(pending)))
        while pending:
            group = self._take_group(pending, prompts, len(along))
            pending = pending[len(group):]
            yield from self._score_group(group, prompts, label_tokens, multi, along)

    # -- internals ----------------------------------------------------------------------------
    def _start(self, stream: int, tokens: Sequence[int]) -> int:
        """Where decoding of `tokens` starts in `stream`: after the prefix it already holds,
        leaving at least two rows to decode."""
        return max(0, min(_common_prefix(self._held[stream], tokens), len(tokens) - 2))

    def _share_stream_zero(self, upcoming: Sequence[int], used: int) -> None:
        """Copy stream 0 (cells and all) into streams 1..used-1 where it shares more of
        `upcoming`'s prefix than they do. A whole-stream copy is all llama.cpp allows across
        streams, and it is exact: the copy's cells sit where stream 0's did."""
        shared = _common_prefix(self._held[0], upcoming)
        for stream in range(1, used):
            if _common_prefix(self._held[stream], upcoming) < shared:
                self._llama_cpp.llama_memory_seq_cp(self._memory, 0, stream, -1, -1)
                self._held[stream] = list(self._held[0])

    def _take_group(self, pending: list[int], prompts: Sequence[Sequence[int]],
                    along: int) -> list[int]:
        """The next prompts to decode together: at most `streams`, within the token budget,
        and stopping before padding would exceed a tenth of the decoded rows."""
        group: list[int] = []
        width = needed = 0
        for index in pending:
            if len(group) == self.streams:
                break
            stream = len(group)
            need = max(2, len(prompts[index]) - self._start(stream, prompts[index]) + along)
            rows = max(width, need) * (len(group) + 1)
            if group and (rows > self.token_budget or (rows - needed - need) * 10 > rows):
                break
            group.append(index)
            width, needed = max(width, need), needed + need
        return group

    def _decode(self, entries: list[tuple[int, list[int], int, range]]) -> list[int]:
        """Decode, for each (stream, tokens, start, wanted) entry, `tokens` at positions
        start.. of `stream` (dropping whatever the stream held from `start` on), every
        sequence padded to the same length; logits for the rows in `wanted`. Returns each
        entry's first batch row."""
        lib = self._llama_cpp
        width = max(2, max(len(tokens) for _, tokens, _, _ in entries))
        if len(entries) > 1 and width * len(entries) > self._n_ubatch:
            raise BackendError(f"{len(entries)} sequences of {width} tokens exceed one "
                               f"micro-batch of {self._n_ubatch}")
        if len(entries) == 1 and width % self._n_ubatch == 1:
            width += 1  # never end on a one-row micro-batch: it rounds differently
        batch = self._batch
        n = 0
        bases = []
        for stream, tokens, start, wanted in entries:
            lib.llama_memory_seq_rm(self._memory, stream, start, -1)
            bases.append(n)
            padded = tokens + [tokens[-1]] * (width - len(tokens))
            for k, token in enumerate(padded):
                batch.token[n] = token
                batch.pos[n] = start + k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = stream
                batch.logits[n] = k in wanted
                n += 1
            self.evaluated_tokens += len(tokens)
            self.padding_tokens += width - len(tokens)
        batch.n_tokens = n
        status = lib.llama_decode(self._ctx, batch)
        self.decodes += 1
        if status != 0:
            raise BackendError(f"llama_decode failed ({status}) on {len(entries)} sequences "
                               f"of {width} tokens")
        return bases

    def _logprobs(self, row: int) -> np.ndarray:
        pointer = self._llama_cpp.llama_get_logits_ith(self._ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def _continuation(self, row: int, following: Sequence[int]) -> float:
        """Summed log-probs of `following`, the k-th read from batch row `row + k`."""
        return sum(float(self._logprobs(row + k)[token]) for k, token in enumerate(following))

    def _score_group(self, group: list[int], prompts: Sequence[Sequence[int]],
                     label_tokens: Mapping[str, Sequence[int]], multi: list[str],
                     along: list[int]) -> Iterator[tuple[int, dict[str, float]]]:
        entries = []
        for stream, index in enumerate(group):
            start = self._start(stream, prompts[index])
            last = len(prompts[index]) - start - 1  # the prompt's last token
            entries.append((stream, list(prompts[index][start:]) + along, start,
                            range(last, last + 1 + len(along))))
        bases = self._decode(entries)
        totals: list[dict[str, float]] = []
        for (_, _, _, wanted), base in zip(entries, bases):
            row = base + wanted.start
            first = self._logprobs(row)
            sums = {label: float(first[seq[0]]) for label, seq in label_tokens.items()}
            if multi:
                sums[multi[0]] += self._continuation(row + 1, label_tokens[multi[0]][1:])
            totals.append(sums)
        for stream, index in enumerate(group):
            self._held[stream] = list(prompts[index])
        # Each further multi-token label: its continuation after every prompt of the group,
        # as many streams per decode as fit one micro-batch.
        per_decode = max(1, self._n_ubatch // max(2, max(
            (len(label_tokens[label]) - 1 for label in multi), default=1)))
        for label in multi[1:]:
            seq = list(label_tokens[label])
            for first_stream in range(0, len(group), per_decode):
                streams = range(first_stream, min(len(group), first_stream + per_decode))
                bases = self._decode([(s, seq[:-1], len(prompts[group[s]]),
                                       range(len(seq) - 1)) for s in streams])
                for s, base in zip(streams, bases):
                    totals[s][label] += self._continuation(base, seq[1:])
        yield from zip(group, totals)
