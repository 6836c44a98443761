"""Map a model's free-form answer to one of the task's labels, or INVALID.

Small models rarely answer with the bare label: they add punctuation, quotes, markdown, a prefix
("Label: ..."), or a sentence. The rules, in order:
1. the whole answer, normalized, equals a label (case-insensitive);
2. the answer starts with a label as a whole word ("Objective. The sentence...");
3. exactly one label occurs as a whole word anywhere in the answer.
Anything else (no label, or several different ones) is INVALID: counted, never guessed.
"""

from __future__ import annotations

import re

from harness.records import INVALID

_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?(?:answer|label|category|class|output)\s*(?:is)?\s*[:=\-]?\s*",
                     re.IGNORECASE)
_STRIP = " \t\r\n\"'`*_.,;:!?()[]{}<>#-"


def parse_label(raw: str, labels: tuple[str, ...]) -> str:
    by_lower = {label.lower(): label for label in labels}
    bare = raw.strip().strip(_STRIP)
    if bare.lower() in by_lower:  # before prefix stripping: a label may be "Answer" or "Output"
        return by_lower[bare.lower()]
    text = _PREFIX.sub("", raw.strip()).strip(_STRIP)
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    pattern = _label_pattern(labels)
    found = {m.group(0).lower() for m in pattern.finditer(text)}
    first = pattern.match(text)
    if first and not _restates_choices(text[first.end():], pattern):
        return by_lower[first.group(0).lower()]
    if len(found) == 1:
        return by_lower[found.pop()]
    return INVALID


def _restates_choices(rest: str, pattern: re.Pattern[str]) -> bool:
    """'Objective or Subjective' / 'billing, shipping': the answer lists choices, picks none."""
    joined = re.match(r"\s*(?:,|/|\||\bor\b|\band\b)\s*", rest, re.IGNORECASE)
    return bool(joined and pattern.match(rest[joined.end():]))


def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "other" never shadows "others"-style label pairs.
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
