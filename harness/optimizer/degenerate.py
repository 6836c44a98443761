"""Checks that throw out degenerate teacher instructions before any model call scores them.

Small teachers loop ("The instructions are: - No Correct: No" thirty times on one line), leak
chat control tokens as text, echo their meta-prompt, or answer with the label names alone. Each
check returns the reason in words, or None; the thresholds are far from what a real instruction
does (tested on the shipped instructions and on measured garbage).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence

# Chat-template and tokenizer control tokens that mean nothing inside an instruction.
CONTROL = re.compile(r"<\|[A-Za-z0-9_]+\|>|</?s>|<(?:eos|bos|pad|unk)>|<(?:start|end)_of_turn>"
                     r"|\[/?INST\]|<</?SYS>>")
NGRAM = 4
MAX_REPEATED_NGRAMS = 0.5  # share of 4-word phrases that repeat an earlier one
MIN_COMPRESSION = 0.3  # zlib size / text size; prose stays above ~0.5
COMPRESSION_FROM_CHARS = 200  # short texts compress poorly whatever they say
MAX_COPIED_NGRAMS = 0.5  # share of 4-word phrases found in the meta-prompt's own text
MAX_LABEL_WORDS = 0.5  # share of words that are label names


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def ngrams(tokens: Sequence[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def control_token(text: str) -> str | None:
    found = CONTROL.search(text)
    return f"holds the control token {found.group(0)!r} as text" if found else None


def repetition(text: str) -> str | None:
    """Repeats across lines (a line said twice) or within them (a phrase looping)."""
    seen: set[str] = set()
    for line in text.split("\n"):
        key = " ".join(words(line))
        if len(key.split()) >= 3 and key in seen:
            return f"repeats the line {line.strip()[:60]!r}"
        seen.add(key)
    grams = ngrams(words(text))
    if len(grams) >= 8:
        repeated = 1 - len(set(grams)) / len(grams)
        if repeated > MAX_REPEATED_NGRAMS:
            top = " ".join(Counter(grams).most_common(1)[0][0])
            return (f"repeats itself: {repeated:.0%} of its {NGRAM}-word phrases repeat an "
                    f"earlier one (e.g. {top!r})")
    raw = text.encode("utf-8")
    if len(raw) >= COMPRESSION_FROM_CHARS:
        ratio = len(zlib.compress(raw, 9)) / len(raw)
        if ratio < MIN_COMPRESSION:
            return f"repeats itself: compresses to {ratio:.0%} of its size (prose: ~50%+)"
    return None


def copies(text: str, source: str) -> str | None:
    """Mostly phrases of the meta-prompt's own text (its framing, the sampled mistakes)."""
    grams = ngrams(words(text))
    if not grams:
        return None
    theirs = set(ngrams(words(source)))
    copied = sum(g in theirs for g in grams) / len(grams)
    if copied > MAX_COPIED_NGRAMS:
        return (f"copies the meta-prompt: {copied:.0%} of its {NGRAM}-word phrases are the "
                f"meta-prompt's own")
    return None


def label_names(text: str, labels: Sequence[str]) -> str | None:
    tokens = words(text)
    names = {w for label in labels for w in words(label)}
    share = sum(t in names for t in tokens) / len(tokens) if tokens else 0.0
    if share > MAX_LABEL_WORDS:
        return f"mostly label names ({share:.0%} of its words)"
    return None
