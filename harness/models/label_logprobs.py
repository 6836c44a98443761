"""Label probabilities from a chat completion's `logprobs` / `top_logprobs`.

A hosted model's tokenizer is unknown, so labels are matched as text against the returned
tokens. A label's log-probability is that of the token path which *commits* the answer to it:
text that no other label starts with and that covers at least half of the label ("Subject" for
`Subjective` next to `Objective`; a lone "S" is too little: it starts "So" and "Sure" as well).
Summed over every returned token that commits to it at the same position (e.g. `Object` and
`Objective`: disjoint events). Multi-token labels follow the generated path up to their commit
point. The distribution is then normalized over the labels by harness.probability.softmax, as
in the local backend.

Nothing is invented: when the server sends no logprobs, when a label is not among the top
logprobs where it would have to appear, or when probability mass leaves the generated path on a
token that is still ambiguous, the result is None with the reason, and the caller records the
prediction without a confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.probability import logsumexp, softmax


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]  # alternatives at this position (may include `token`)


def commit_prefixes(labels: Sequence[str]) -> dict[str, str]:
    """The shortest prefix of each label that no other label shares and that holds at least half
    of the label's characters (the label itself when another label extends it)."""
    result = {}
    for label in labels:
        others = [o for o in labels if o != label]
        prefix = label
        for k in range(max(1, (len(label) + 1) // 2), len(label) + 1):
            if not any(o.startswith(label[:k]) for o in others):
                prefix = label[:k]
                break
        result[label] = prefix
    return result


def label_distribution(tokens: Sequence[TokenLogprob], labels: Sequence[str]
                       ) -> tuple[dict[str, float] | None, str | None]:
    """(normalized distribution over labels, None) or (None, why it is unavailable)."""
    if not tokens:
        return None, "the server returned no logprobs"
    if not any(t.top for t in tokens):
        return None, "the server returned no top_logprobs"
    commits = commit_prefixes(labels)
    logps: dict[str, float] = {}
    for label in labels:
        value = _label_logprob(tokens, label, commits[label])
        if value is None:
            return None, (f"label {label!r} cannot be read from the returned top logprobs (below "
                          f"their cut-off, or it branches off the generated answer before it is "
                          f"told apart from the other labels)")
        logps[label] = value
    return softmax(logps), None


def _label_logprob(tokens: Sequence[TokenLogprob], label: str, commit: str) -> float | None:
    prefix, path_logprob = "", 0.0
    for position in tokens:
        found: list[float] = []
        alternatives = dict(position.top)
        alternatives.setdefault(position.token, position.logprob)
        for text, logprob in alternatives.items():
            joined = _join(prefix, text)
            if _commits(joined, label, commit):
                found.append(logprob)
        if found:
            return path_logprob + logsumexp(found)
        joined = _join(prefix, position.token)
        if joined and not label.startswith(joined):
            return None  # the answer left this label before committing to it
        path_logprob += position.logprob
        prefix = joined
    return None


def _join(prefix: str, text: str) -> str:
    # The answer's leading whitespace is not part of the label.
    return (prefix + text).lstrip() if not prefix.strip() else prefix + text


def _commits(text: str, label: str, commit: str) -> bool:
    """`text` has reached the commit point and is still consistent with the label (it may run
    past the label's end into punctuation or spaces, as in a token `Objective.`)."""
    if len(text) < len(commit):
        return False
    if len(text) <= len(label):
        return label.startswith(text)
    return text.startswith(label) and not text[len(label)].isalnum()


def tokens_from_openai(content: Sequence[object] | None) -> list[TokenLogprob]:
    """ChatCompletion `choices[0].logprobs.content` -> TokenLogprob list."""
    result = []
    for entry in content or ():
        top = tuple((alt.token, float(alt.logprob)) for alt in (getattr(entry, "top_logprobs", None)
                                                                 or ()))
        result.append(TokenLogprob(entry.token, float(entry.logprob), top))  # type: ignore[attr-defined]
    return result

