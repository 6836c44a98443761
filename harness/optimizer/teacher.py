"""The teacher's side of the teacher proposer: an OPRO-style meta-prompt (current instruction,
label descriptions, sampled errors, earlier instructions with their scores) and the validation
of what comes back. Only the instruction changes; the teacher's text is plain data, checked
before it is ever rendered."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.optimizer import degenerate
from harness.optimizer.candidates import TEMPLATE_SYNTAX
from harness.optimizer.records import Score
from harness.prompts import hash_messages
from harness.records import (DecodingParams, Example, LabelRequest, Message, Prediction,
                             RenderedPrompt, TaskSpec)

MAX_INSTRUCTION_CHARS = 700
MIN_INSTRUCTION_WORDS = 4
SHOWN_INPUT_CHARS = 300
TEACHER_PARAMS = DecodingParams(temperature=0.0, max_tokens=160, seed=0)
SYSTEM = "You write instructions for a text classifier."
ASK = ("Write one new instruction that would fix these mistakes and score higher than all "
       "instructions above. Explain how to tell the labels apart. At most 80 words. Reply "
       "with the instruction text only.")


@dataclass(frozen=True, slots=True)
class MetaPrompt:
    request: LabelRequest
    own_text: str  # the meta-prompt's framing and sampled inputs: an answer must not copy it


def _clip(text: str, limit: int = SHOWN_INPUT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def meta_prompt(task: TaskSpec, current: str, errors: Sequence[tuple[Example, Prediction]],
                history: Sequence[tuple[str, Score]], metric: str) -> MetaPrompt:
    labels = "\n".join(f"- {label.name}: {label.description}" for label in task.labels)
    tried = "\n".join(f"- score {score.value:.3f}: {_clip(text, 400)}"
                      for text, score in sorted(history, key=lambda h: h[1].key())[-6:])
    mistakes = "\n".join(
        f"Input: {_clip(' / '.join(e.inputs.values()))}\nPredicted: {p.predicted}  "
        f"Correct: {e.label}" for e, p in errors) or "(none sampled)"
    framing = (f"Instructions tried so far, with their {metric} on held-out data (higher is "
               f"better, best last):", "Mistakes made with the current instruction:", ASK)
    user = (f"Task: {task.description or task.name}\n\nLabels:\n{labels}\n\n"
            f"Current instruction:\n{current}\n\n{framing[0]}\n{tried}\n\n"
            f"{framing[1]}\n{mistakes}\n\n{framing[2]}")
    messages = (Message("system", SYSTEM), Message("user", user))
    prompt = RenderedPrompt(example_id="teacher", messages=messages,
                            hash=hash_messages(messages))
    # The label descriptions and earlier instructions may be reused; the rest is scaffolding.
    own = "\n".join((SYSTEM, *framing, mistakes))
    return MetaPrompt(LabelRequest(prompt, task.label_names, "generate", TEACHER_PARAMS), own)


_PREFIX = re.compile(r"^(new |improved |better )?instruction\s*[:\-]\s*", re.IGNORECASE)


def clean_instruction(raw: str, task: TaskSpec, tried: Sequence[str],
                      own_text: str = "") -> tuple[str | None, str]:
    """(instruction, "") or (None, why it was rejected). Never lets template syntax through."""
    text = raw.strip().strip("`").strip()
    text = _PREFIX.sub("", text).strip().strip('"').strip("'").strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if any(token in text for token in TEMPLATE_SYNTAX):
        return None, "holds template syntax ({{ }}, {% %} or {# #})"
    why = degenerate.control_token(text) or degenerate.repetition(text)
    if why:
        return None, why
    if len(text) > MAX_INSTRUCTION_CHARS:  # cut at the last sentence end that fits
        cut = text[:MAX_INSTRUCTION_CHARS]
        end = max(cut.rfind(". "), cut.rfind(".\n"))
        text = cut[: end + 1] if end > 0 else cut
    if len(text.split()) < MIN_INSTRUCTION_WORDS:
        return None, f"too short ({len(text.split())} words): {text!r}"
    if not any(c.isalpha() for c in text):
        return None, "no words"
    names = task.label_names
    why = degenerate.copies(text, own_text) or degenerate.label_names(text, names)
    if why:
        return None, why
    if not all(name.lower() in text.lower() for name in names):
        # Keep the output format: the answer must still be one of the label names.
        text += f"\nAnswer with one of: {', '.join(names)}."
    if text in tried:
        return None, "repeats an instruction already tried"
    return text, ""
