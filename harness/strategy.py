"""Prompting strategies by name: the `Strategy` record, `parse_strategy(text)` and the header a
prompt version declares its strategy with.

    zero-shot              the template as written (the default)
    few-shot:random:K      K train examples, seeded, stratified by label, as demonstrations
    few-shot:errors:K      K train examples this version got wrong, with their correct labels
    few-shot:knn:K         per input, the K most similar train examples (TF-IDF)
    cot                    a short reasoning before the label (records.Reasoning, 1 sample)
    self-consistency:N     N reasoned samples at a temperature, voted

A version declares one in a Jinja comment line of its template (or of the nearest template it
extends that has one): `{# strategy: few-shot:knn:4 #}`. A comment renders nothing, and the
template source is already what the version's content hash covers, what a review diff shows and
what `harness ci` reads from git, so the declaration needs no second file. Selection and
application live in harness.strategies (above the prompt loader); this module only names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import TemplateError, UsageError
from harness.inputs.text import shorten

KINDS = ("zero-shot", "few-shot", "cot", "self-consistency")
SELECTIONS = ("random", "errors", "knn")
MAX_K = 64  # demonstrations per prompt; more would not fit a small model's context
MAX_SAMPLES = 64
ALLOWED = ("zero-shot, few-shot:random:K, few-shot:errors:K, few-shot:knn:K, cot, "
           f"self-consistency:N (K a whole number 1..{MAX_K}, N 2..{MAX_SAMPLES})")
# `{# strategy: NAME #}` alone on a line.
HEADER = re.compile(r"^[ \t]*\{#-?[ \t]*strategy[ \t]*:[ \t]*(?P<name>[^#\n]*?)[ \t]*-?#\}[ \t]*$",
                    re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Strategy:
    """One strategy; `str()` gives its canonical name (what `parse_strategy` reads back)."""

    kind: str = "zero-shot"
    selection: str = ""  # few-shot: random | errors | knn
    k: int = 0  # few-shot: demonstrations per prompt
    samples: int = 1  # self-consistency: reasoned samples per input

    def __str__(self) -> str:
        if self.kind == "few-shot":
            return f"few-shot:{self.selection}:{self.k}"
        if self.kind == "self-consistency":
            return f"self-consistency:{self.samples}"
        return self.kind

    @property
    def few_shot(self) -> bool:
        return self.kind == "few-shot"

    @property
    def reasoning(self) -> bool:
        return self.kind in ("cot", "self-consistency")


ZERO_SHOT = Strategy()


def parse_strategy(text: str, *, where: str = "--strategy") -> Strategy:
    """Exactly the names above; anything else is a UsageError listing what is allowed."""
    parts = text.strip().split(":") if isinstance(text, str) else []
    kind = parts[0] if parts else ""
    if parts == ["zero-shot"]:
        return ZERO_SHOT
    if parts == ["cot"]:
        return Strategy("cot")
    if kind == "few-shot" and len(parts) == 3 and parts[1] in SELECTIONS:
        k = _whole(parts[2], 1, MAX_K)
        if k is not None:
            return Strategy("few-shot", parts[1], k)
    if kind == "self-consistency" and len(parts) == 2:
        n = _whole(parts[1], 2, MAX_SAMPLES)
        if n is not None:
            return Strategy("self-consistency", samples=n)
    hint = ""
    if kind == "few-shot" and len(parts) >= 2 and parts[1] not in SELECTIONS:
        hint = f"; few-shot selections are {', '.join(SELECTIONS)}"
    elif kind == "self-consistency" and len(parts) == 2:
        hint = " (self-consistency:1 is `cot`)" if parts[1] == "1" else ""
    raise UsageError(f"{where}: unknown strategy {shorten(text)}{hint}; allowed: {ALLOWED}")


def _whole(text: str, low: int, high: int) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def declared_in(source: str, where: str) -> tuple[Strategy, int] | None:
    """The strategy a template's header declares and its line, None when it declares none.
    `where` names the template file in errors."""
    found = list(HEADER.finditer(source))
    if not found:
        return None
    line = source.count("\n", 0, found[0].start()) + 1
    if len(found) > 1:
        second = source.count("\n", 0, found[1].start()) + 1
        raise TemplateError(f"{where}:{second}: a second strategy declaration (the first is on "
                            f"line {line}); keep one")
    try:
        return parse_strategy(found[0].group("name"), where=f"{where}:{line}"), line
    except UsageError as exc:
        raise TemplateError(str(exc)) from None
