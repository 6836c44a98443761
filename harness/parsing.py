"""Map a model's free-form answer to one of the task's labels, or INVALID. It never guesses.

A label counts only when the answer *asserts* it. Every whole-word mention of a label is read
in its clause (the text since the last sentence end, newline, `;`, `but`, or a comma that
starts a new `it is ...`):

- **asserted**: the whole answer is the label (quotes, markdown, punctuation aside); the answer
  starts with it; a sentence or line starts with it and punctuation follows (`Objective.`,
  `Subjective:`); or it completes an assertion: `is [clearly] [a] X`, `it's X`, `answer/label/
  category is: X`, `classified as X`, `falls under X`, `belongs to X`, `I'd say X`, `the X team`,
  `an example of X`, `it presents/has/contains a X ...`, `not A but X`;
- **negated**: `not`, `n't`, `never`, `neither`, `nor`, `none`, `without`, `rather than`,
  `instead of`, `unlike`, `absence of`, ... earlier in the clause, or `no X`;
- **hedged**: `maybe`, `could`, `may`, `might`, `likely`, `seems`, `partly`, `somewhat`, `more`,
  `mostly`, `either`, `whether`, `if`, `both`, `mixed`, ... earlier in the clause; `X?`, `X or
  not`, `X to some extent`, `X but not entirely`; or a list of labels (`X or Y`, `X, Y`, `X/Y`).

The answer's label is X when X is the only label asserted, no mention of X is negated or
hedged, and no other label is hedged close to it (`also has a subjective tone`, `possibly Y`)
or in a concession (`however`, `although`, `while`). Anything else is INVALID: counted, never
guessed. Synonyms are not labels: "it is a fact" names no label. tests/data/
free_form_answers.jsonl holds real answers of the embedded model with the label a person reads.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from harness.records import INVALID

_INTENSIFIER = (r"(?:clearly|definitely|certainly|purely|entirely|completely|fully|totally|"
                r"strictly|highly|very|obviously|undoubtedly|simply|indeed|just)")
_ARTICLE = r"(?:a|an|the|something)"
_Q = r"[\"'“”‘’]?\s*"  # an opening quote right before the label
_COPULA = (rf"\b(?:is|are|was|were|it's|that's|this's)\s+(?:{_INTENSIFIER}\s+)?"
           rf"(?:{_ARTICLE}\s+)?(?:{_INTENSIFIER}\s+)?")
# Each frame matches the end of the sentence text right before a mention: the mention completes it.
_FRAME_PATTERNS = (
    _COPULA,
    (r"\b(?:answer|label|category|classification|class|output|prediction|verdict|result|team|"
     r"department)\s*(?:(?:is|would\s+be|should\s+be)\s*[:=\-]?|[:=\-])\s*"),
    (r"\b(?:classif(?:y|ied|ies)|categori[sz](?:e|ed|es)|label(?:l?ed|s)?|mark(?:ed)?|"
     rf"tag(?:ged)?)\s+(?:(?:it|this|that|the\s+\w+(?:\s+\w+)?)\s+)?as\s+(?:{_ARTICLE}\s+)?"),
    rf"\b(?:considered|deemed|counts\s+as)\s+(?:to\s+be\s+)?(?:{_ARTICLE}\s+)?",
    r"\b(?:falls?|fits?)\s+(?:under|into|in)\s+(?:the\s+)?",
    r"\bbelongs?\s+(?:to|in)\s+(?:the\s+)?",
    (r"\b(?:I'd|I\s+would)\s+(?:say|pick|choose|go\s+with|classify\s+(?:it|this)\s+as)\s+"
     rf"(?:{_ARTICLE}\s+)?"),
    (r"\b(?:is|it's|that's)\s+(?:a|an)\s+(?:\w+\s+)?(?:example|case|instance)\s+of\s+"
     r"(?:(?:a|an|the)\s+)?"),
    (r"\b(?:team|department)\s+(?:that|which|who)\s+(?:handles|deals\s+with|covers|owns)\s+"
     r"(?:the\s+)?"),
    # "it presents a subjective view": an attribute asserts the label as much as "it is" does
    (r"\b(?:presents?|presenting|has|have|contains?|containing|express(?:es|ing)?|shows?|showing|"
     r"gives?|offers?|makes?|making|reflects?|conveys?|includes?)\s+(?:(?:a|an|the|some|its|"
     rf"their)\s+)?(?:{_INTENSIFIER}\s+)?"),
)
_FRAMES = tuple(re.compile(pattern + _Q + "$", re.IGNORECASE) for pattern in _FRAME_PATTERNS)
# "with the billing team", "handled by the shipping department": the frame needs what follows.
_TEAM_BEFORE = re.compile(r"\b(?:with|by|to|for|as)\s+(?:the|a|an)\s+" + _Q + "$", re.IGNORECASE)
_TEAM_AFTER = re.compile(r"^\s+(?:team|department|queue)\b", re.IGNORECASE)
_CONTRAST = re.compile(r"\bnot\b.*\bbut\s+(?:rather\s+)?(?:(?:a|an|the)\s+)?" + _Q + "$",
                       re.IGNORECASE)
_NO_FRAME_SUBJECT = re.compile(r"\b(?:there|what|where|how|who)\s+(?:is|are|was|were)\b[^.]*$",
                               re.IGNORECASE)

_NEGATION_WORDS = (r"not|never|neither|nor|none|without|unlike|lacks?|lacking|absence|free\s+of|"
                   r"rather\s+than|instead\s+of|opposed\s+to|than|cannot")
_HEDGE_WORDS = (r"maybe|perhaps|possibly|possible|probably|likely|unlikely|might|may|could|can|"
                r"seems?|seemed|seemingly|appears?|appeared|arguably|somewhat|partly|partially|"
                r"slightly|mostly|largely|mainly|more|less|either|whether|if|unless|both|mix|"
                r"mixed|mixture|combination|between|unclear|unsure|uncertain|kind\s+of|sort\s+of|"
                r"guess")
_NEGATION = re.compile(rf"\b(?:{_NEGATION_WORDS})\b|n't\b", re.IGNORECASE)
_HEDGE = re.compile(rf"\b(?:{_HEDGE_WORDS})\b", re.IGNORECASE)
_CONCESSION = re.compile(r"\b(?:however|although|though|whereas|while|also|as\s+well|yet)\b",
                         re.IGNORECASE)
# A hedge word at most three function words before the mention: "also has a Y", "possibly Y".
_FUNCTION = (r"(?:be|been|being|is|are|a|an|the|also|has|have|had|some|more|considered|seen|"
             r"as|of|to|it|its|quite|very|really|entirely|completely|fully|totally|wholly|purely|"
             r"always|little|bit)")
_NEAR_HEDGE = re.compile(rf"\b(?:{_HEDGE_WORDS}|also)\b(?:\s+{_FUNCTION}){{0,3}}\s*{_Q}$",
                         re.IGNORECASE)
_TRAILING_HEDGE = re.compile(
    r"^\s*(?:\?|,?\s*or\s+not\b|,?\s*(?:to\s+(?:some|a\s+degree|an\s+extent)|in\s+part|at\s+least"
    r"\s+partly|partly|partially|somewhat|-ish)\b|,?\s*but\s+not\s+(?:entirely|completely|fully|"
    r"totally|wholly|purely|always|only|really)\b)", re.IGNORECASE)
_JOIN = r"\s*(?:,|/|\||&|\bor\b|\band\b|\bnor\b|\bvs\.?|\bversus\b)\s*(?:(?:a|an|the)\s+)?"
# A clause also ends at "but" and at a comma that starts a new "it is ..." ("not A, it is B").
_CLAUSE_END = re.compile(r"[.!?;](?=\s|$|[\"'”’])|\n|\bbut\b|"
                         r",(?=\s*(?:it|this|that)(?:'s|\s+is|\s+was)\b)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$|[\"'”’])|\n")
_LEAD_END = re.compile(r"^(?:\s*$|\s*[.,:;!)\]]|\s*\n|\s+[-–—(])")
_STRIP = " \t\r\n\"'`*_.,;:!?()[]{}<>#-“”‘’"


@dataclass(frozen=True, slots=True)
class _Mention:
    label: str
    asserted: bool
    negated: bool
    hedged: bool  # hedge words in its clause, a trailing hedge, or a list of labels
    near_hedge: bool  # not negated, with a hedge word right before it or a trailing hedge
    conceded: bool  # not negated, in a sentence with however / although / also ...


def parse_label(raw: str, labels: tuple[str, ...]) -> str:
    """The label `raw` asserts, or INVALID.

    >>> parse_label("The sentence is not entirely objective, as it...", ("Objective", "Subjective"))
    'INVALID'
    >>> parse_label("Subjective, as it voices an opinion.", ("Objective", "Subjective"))
    'Subjective'
    """
    by_lower = {label.lower(): label for label in labels}
    text = _normalize(raw)
    bare = text.strip(_STRIP).lower()
    if bare in by_lower:
        return by_lower[bare]
    mentions = _mentions(text, labels, by_lower)
    asserted = {m.label for m in mentions if m.asserted}
    if len(asserted) != 1:
        return INVALID
    (label,) = asserted
    for m in mentions:
        if m.label == label and (m.negated or m.hedged):
            return INVALID
        if m.label != label and (m.near_hedge or m.conceded):
            return INVALID
    return label


def _normalize(raw: str) -> str:
    """Markdown emphasis and code marks out; curly apostrophes straight; quotes kept."""
    text = raw.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\*+|`+|(?<![\w])_+|_+(?![\w])", "", text)
    return re.sub(r"(?m)^\s*#+\s*", "", text)


def _mentions(text: str, labels: tuple[str, ...], by_lower: dict[str, str]) -> list[_Mention]:
    pattern = _label_pattern(labels)
    found = list(pattern.finditer(text))
    lead_at = _lead_position(text)
    result = []
    for match in found:
        start, end = match.span()
        sentence = text[_last_end(_SENTENCE_END, text, start):start]
        clause = text[_last_end(_CLAUSE_END, text, start):start]
        after = text[end:]
        listed = (re.search(rf"(?:{pattern.pattern}){_JOIN}{_Q}$", sentence, re.IGNORECASE)
                  is not None or re.match(_JOIN + _Q + pattern.pattern, after, re.IGNORECASE)
                  is not None)
        trailing = _TRAILING_HEDGE.match(after) is not None
        negated = _NEGATION.search(clause) is not None or re.search(r"\bno\s+" + _Q + "$",
                                                                    clause, re.IGNORECASE)
        hedged = _HEDGE.search(clause) is not None or trailing or listed
        lead = (start == lead_at or (not sentence.strip(_STRIP) and _LEAD_END.match(after)))
        framed = (any(f.search(sentence) for f in _FRAMES)
                  and not _NO_FRAME_SUBJECT.search(sentence)
                  or bool(_TEAM_BEFORE.search(sentence) and _TEAM_AFTER.match(after))
                  or bool(_CONTRAST.search(sentence)))
        result.append(_Mention(
            label=by_lower[match.group(0).lower()],
            asserted=bool(lead or framed) and not (negated or hedged),
            negated=bool(negated), hedged=hedged,
            near_hedge=not negated and (trailing or _NEAR_HEDGE.search(sentence) is not None),
            conceded=not negated and _CONCESSION.search(sentence) is not None))
    return result


def _lead_position(text: str) -> int:
    """Where the answer's first word starts, after spaces, quotes and bullets."""
    match = re.match(r"[\s\"'“”\-•>]*", text)
    return match.end() if match else 0


def _last_end(boundary: re.Pattern[str], text: str, before: int) -> int:
    end = 0
    for match in boundary.finditer(text, 0, before):
        end = match.end()
    return end


@functools.lru_cache(maxsize=64)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "other" never shadows "others"-style label pairs.
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
