"""Proposers: each turns the incumbent and what went wrong into new candidates.

- teacher: an OPRO-style meta-prompt (current instruction, label descriptions, sampled errors,
  earlier instructions with their scores) to a teacher model in `generate` mode; only the
  instruction changes, and the teacher's text is validated before it is ever rendered.
- exemplars: sampled training errors, with their correct labels, as fixed demonstrations.
- knn: for each input, the k most similar training examples as demonstrations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.optimizer.candidates import TEMPLATE_SYNTAX
from harness.optimizer.records import Candidate, DemoChoice, Score
from harness.prompts import hash_messages
from harness.records import (DecodingParams, Example, LabelRequest, Message, Prediction,
                             RenderedPrompt, TaskSpec)

MAX_INSTRUCTION_CHARS = 700
MIN_INSTRUCTION_WORDS = 4
SHOWN_INPUT_CHARS = 300
KNN_KS = (4, 2, 6, 8)
TEACHER_PARAMS = DecodingParams(temperature=0.0, max_tokens=160, seed=0)


@dataclass(frozen=True, slots=True)
class Proposal:
    proposer: str
    instruction: str | None
    demos: DemoChoice | None
    rationale: str


def _clip(text: str, limit: int = SHOWN_INPUT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def teacher_request(task: TaskSpec, current: str, errors: Sequence[tuple[Example, Prediction]],
                    history: Sequence[tuple[str, Score]], metric: str) -> LabelRequest:
    labels = "\n".join(f"- {label.name}: {label.description}" for label in task.labels)
    tried = "\n".join(f"- score {score.value:.3f}: {_clip(text, 400)}"
                      for text, score in sorted(history, key=lambda h: h[1].key())[-6:])
    mistakes = "\n".join(
        f"Input: {_clip(' / '.join(e.inputs.values()))}\nPredicted: {p.predicted}  "
        f"Correct: {e.label}" for e, p in errors) or "(none sampled)"
    user = (f"Task: {task.description or task.name}\n\nLabels:\n{labels}\n\n"
            f"Current instruction:\n{current}\n\n"
            f"Instructions tried so far, with their {metric} on held-out data (higher is "
            f"better, best last):\n{tried}\n\n"
            f"Mistakes made with the current instruction:\n{mistakes}\n\n"
            "Write one new instruction that would fix these mistakes and score higher than all "
            "instructions above. Explain how to tell the labels apart. At most 80 words. Reply "
            "with the instruction text only.")
    messages = (Message("system", "You write instructions for a text classifier."),
                Message("user", user))
    prompt = RenderedPrompt(example_id="teacher", messages=messages,
                            hash=hash_messages(messages))
    return LabelRequest(prompt, task.label_names, "generate", TEACHER_PARAMS)


_PREFIX = re.compile(r"^(new |improved |better )?instruction\s*[:\-]\s*", re.IGNORECASE)


def clean_instruction(raw: str, task: TaskSpec, tried: Sequence[str]) -> tuple[str | None, str]:
    """(instruction, "") or (None, why it was rejected). Never lets template syntax through."""
    text = raw.strip().strip("`").strip()
    text = _PREFIX.sub("", text).strip().strip('"').strip("'").strip()
    # Small teachers loop: keep each line once, in order.
    lines = [line.rstrip() for line in text.splitlines()]
    text = "\n".join(line for i, line in enumerate(lines)
                     if not line.strip() or line not in lines[:i]).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if any(token in text for token in TEMPLATE_SYNTAX):
        return None, "holds template syntax ({{ }}, {% %} or {# #})"
    if len(text) > MAX_INSTRUCTION_CHARS:  # cut at the last sentence end that fits
        cut = text[:MAX_INSTRUCTION_CHARS]
        end = max(cut.rfind(". "), cut.rfind(".\n"))
        text = cut[: end + 1] if end > 0 else cut
    if len(text.split()) < MIN_INSTRUCTION_WORDS:
        return None, f"too short ({len(text.split())} words): {text!r}"
    if not any(c.isalpha() for c in text):
        return None, "no words"
    names = task.label_names
    if not all(name.lower() in text.lower() for name in names):
        # Keep the output format: the answer must still be one of the label names.
        text += f"\nAnswer with one of: {', '.join(names)}."
    if text in tried:
        return None, "repeats an instruction already tried"
    return text, ""


def exemplars(incumbent: Candidate, errors: Sequence[tuple[Example, Prediction]],
              n_labels: int, max_demos: int) -> Proposal | None:
    if incumbent.demos is not None and incumbent.demos.kind == "knn":
        return None  # per-input demonstrations already; fixed ones would compete for context
    have = list(incumbent.demos.ids) if incumbent.demos else []
    fresh = [(e, p) for e, p in errors if e.id not in have][: max(2, min(4, n_labels))]
    if not fresh:
        return None
    ids = tuple((have + [e.id for e, _ in fresh])[-max_demos:])
    why = "; ".join(f"{e.id} ({e.label}, was predicted {p.predicted})" for e, p in fresh)
    return Proposal("exemplars", incumbent.instruction, DemoChoice("fixed", ids),
                    f"adds training errors as demonstrations: {why}")


def knn(incumbent: Candidate, tried: set[tuple]) -> Proposal | None:
    for k in KNN_KS:
        demos = DemoChoice("knn", (), k)
        if (incumbent.instruction, demos) not in tried:
            return Proposal("knn", incumbent.instruction, demos,
                            f"the {k} most similar training examples (TF-IDF) per input")
    return None
