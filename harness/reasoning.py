"""Chain of thought and self-consistency, the parts every backend shares (pure: no model).

A request with `reasoning` (records.Reasoning) is answered in two steps:
1. the model writes a reasoning: the assistant turn starts with REASONING_INVITATION and the
   model continues it for at most `max_tokens` (stopping at the end of its turn);
2. the answer is taken after ANSWER_CUE, which follows the reasoning: in score mode by scoring
   every label's full token sequence there (so the answer keeps a distribution and a
   confidence), in generate mode by parsing the generated answer, in constrained mode as the
   best-scoring label.

`samples` = 1 (`cot`): greedy at temperature 0; the answer is the sample's own answer (and its
distribution in score mode). `samples` = N > 1 (`self-consistency:N`): N reasonings sampled at
the temperature, sample i seeded by `sample_seed(seed, i)`, each answered as in `cot`, then
VOTED here: the vote shares are the distribution, the top share the confidence. INVALID answers
(generate mode) are kept per sample but cast no vote. A tie is reported (`tied`: the labels that
share the top vote) and broken deterministically: the tied label with the highest summed
probability over the samples' own label distributions, then the first in the task's label order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.records import INVALID, ModelOutput, ReasonedAnswer, Usage

# Written as the start of the assistant's turn (local backend) or asked for in a follow-up
# message (chat APIs, which cannot continue a turn): the model reasons before it answers.
REASONING_INVITATION = "Let's think step by step."
# Follows the reasoning; the labels are scored (or the answer generated) right after it.
ANSWER_CUE = "\nAnswer:"
# What a chat API is asked after its reasoning (OpenAI backend): the label alone.
ANSWER_REQUEST = "So, in one word, which label is the answer? Reply with the label only."
# Asked of a chat API in a user message after the prompt (it cannot start the assistant's turn).
REASONING_REQUEST = (f"{REASONING_INVITATION} Write your reasoning in a few short sentences; "
                     f"the label comes after.")
# Every text above; part of the cache key of reasoning requests (harness.cache).
FRAMING = (REASONING_INVITATION, ANSWER_CUE, ANSWER_REQUEST, REASONING_REQUEST)


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index` of a request seeded `seed`: distinct for every (seed, index)
    pair (plain `seed + index` would give (0, 1) and (1, 0) the same stream), and a 31-bit
    integer, which every API accepts."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class Vote:
    winner: str  # a label, or INVALID when no sample named one
    distribution: dict[str, float] | None  # vote shares over the labels; None without votes
    counts: dict[str, int]
    tied: tuple[str, ...]  # labels sharing the top count, when more than one


def vote(samples: Sequence[ReasonedAnswer], labels: Sequence[str]) -> Vote:
    """Count the samples' answers over `labels`; see the module docstring for the tie-break.

    >>> s = [ReasonedAnswer("", "B", {"A": .4, "B": .6}), ReasonedAnswer("", "A", {"A": .9, "B": .1})]
    >>> v = vote(s, ["A", "B"])
    >>> v.winner, v.distribution, v.tied
    ('A', {'A': 0.5, 'B': 0.5}, ('A', 'B'))
    """
    counts = {label: 0 for label in labels}
    for sample in samples:
        if sample.answer in counts:
            counts[sample.answer] += 1
    total = sum(counts.values())
    if total == 0:
        return Vote(INVALID, None, counts, ())
    top = max(counts.values())
    leaders = tuple(label for label in labels if counts[label] == top)
    mass = {label: sum((s.distribution or {}).get(label, 0.0) for s in samples)
            for label in leaders}
    # max() keeps the first of equal keys: the task's label order breaks what mass does not.
    winner = max(leaders, key=lambda label: mass[label])
    return Vote(winner, {label: counts[label] / total for label in labels}, counts,
                leaders if len(leaders) > 1 else ())


def reasoned_output(samples: Sequence[ReasonedAnswer], labels: Sequence[str], mode: str,
                    usage: Usage, *, answer_text: str = "") -> ModelOutput:
    """The one ModelOutput of a reasoning request from its answered samples.

    One sample (`cot`) keeps the mode's own shape: score mode its label distribution, generate
    mode the generated `answer_text` for the runner to parse, constrained mode the label alone.
    Several samples are voted: the shares are the distribution in every mode."""
    samples = tuple(samples)
    if len(samples) == 1:
        only = samples[0]
        if mode == "score" and only.distribution:
            return ModelOutput(raw=only.answer, distribution=dict(only.distribution),
                               usage=usage, samples=samples)
        raw = answer_text if mode == "generate" else only.answer
        return ModelOutput(raw=raw, usage=usage, samples=samples)
    result = vote(samples, labels)
    return ModelOutput(raw="" if result.distribution is None else result.winner,
                       distribution=result.distribution, usage=usage, samples=samples,
                       tied=result.tied)


def best_label(distribution: Mapping[str, float]) -> str:
    """The most probable label (the first of equals, in the distribution's label order)."""
    return max(distribution, key=distribution.__getitem__)


def samples_to_json(samples: Sequence[ReasonedAnswer]) -> list[dict]:
    return [{"reasoning": s.reasoning, "answer": s.answer,
             "distribution": None if s.distribution is None else dict(s.distribution)}
            for s in samples]


def samples_from_json(rows: object) -> tuple[ReasonedAnswer, ...]:
    """The inverse of samples_to_json; raises TypeError/KeyError/ValueError on a malformed row
    (the cache treats that as a corrupt entry, the run reader as a malformed record)."""
    if rows is None:
        return ()
    if not isinstance(rows, list):
        raise TypeError("samples must be a list")
    result = []
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError("a sample must be an object")
        distribution = row.get("distribution")
        if distribution is not None:
            distribution = {str(k): float(v) for k, v in distribution.items()}
        result.append(ReasonedAnswer(str(row["reasoning"]), str(row["answer"]), distribution))
    return tuple(result)
