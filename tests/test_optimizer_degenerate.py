"""Degenerate teacher instructions are rejected with a reason; real instructions pass."""

from __future__ import annotations

import pytest

from harness.optimizer import degenerate
from harness.optimizer.teacher import ASK, clean_instruction, meta_prompt
from harness.prompts import Renderer, load_version
from harness.records import Example, Prediction
from harness.tasks import load_task
from tests.conftest import copy_task

TICKETS_RULES = ("If the customer asks about a charge or an invoice, answer billing. If a parcel "
                 "is late or lost, answer shipping. If the app or site fails, answer technical. "
                 "If they cannot log in or want to change their profile, answer account. If they "
                 "want their money back, answer refund. Anything else is other.")
GOOD = [
    "Decide whether the sentence states something a buyer could check (a number, a part, what "
    "arrived, what broke) or gives a feeling or judgment. Checkable claims are Objective; "
    "feelings, praise and advice are Subjective.",
    "A factual complaint (the lid arrived cracked) is still Objective. Sarcasm is Subjective.",
]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    loaded = {}
    for name in ("subjectivity", "tickets"):
        root = copy_task(tmp_path_factory.mktemp(name), name, rows=30)
        loaded[name] = load_task(root, name)
    return loaded


def shipped_instructions(task) -> list[str]:
    example = Example("x", {f: "text" for f in task.input_fields}, task.label_names[0], "test", 0)
    return [Renderer(task, load_version(task, v)).render_block("instructions", example)
            for v in ("v1", "v2")]


def test_real_instructions_pass_every_check(tasks):
    for name, task in tasks.items():
        texts = shipped_instructions(task) + (GOOD if name == "subjectivity" else
                                              [TICKETS_RULES])
        for text in texts:
            cleaned, why = clean_instruction(text, task, [])
            assert cleaned is not None, (name, text, why)


@pytest.mark.parametrize("raw, reason", [
    # measured on LIAR (issue 16): one line, the same phrase ~30 times
    ("The instructions are: - No Correct: No " * 30, "repeats itself"),
    ("Label the sentence as a fact or an opinion.\nObjective or Subjective.\n"
     "Label the sentence as a fact or an opinion.", "repeats the line"),
    ("Answer Objective if it can be checked, else Subjective. " * 4, "repeats itself"),
    ("Decide whether the sentence is a fact.<|im_end|>", "control token '<|im_end|>'"),
    ("Is it a fact? Answer Objective or Subjective.<|endoftext|>", "control token"),
    ("[INST] Classify the sentence as Objective or Subjective [/INST]", "control token"),
    ("Say Objective or Subjective.</s>", "control token '</s>'"),
    ("Objective Subjective Objective or Subjective, Subjective.", "mostly label names"),
])
def test_degenerate_teacher_output_is_rejected_with_its_reason(tasks, raw, reason):
    text, why = clean_instruction(raw, tasks["subjectivity"], [])
    assert text is None and reason in why


def test_an_echo_of_the_meta_prompt_is_rejected(tasks):
    task = tasks["subjectivity"]
    errors = [(Example(f"e{i}", {"text": f"The blender arrived with a cracked jug number {i}."},
                       "Objective", "train", 0),
               Prediction(f"e{i}", "Objective", "Subjective", 0.6, None, "Subjective", "h", False))
              for i in range(1)]
    meta = meta_prompt(task, "Classify the sentence.", errors, [], "macro_f1")
    user = meta.request.prompt.messages[1].content
    echo = user[user.index("Mistakes made"):]  # the teacher repeats its prompt's tail
    text, why = clean_instruction(echo, task, [], meta.own_text)
    assert text is None and "copies the meta-prompt" in why
    assert "copies the meta-prompt" in clean_instruction(ASK, task, [], meta.own_text)[1]
    # Reusing the label descriptions is not copying: they are the task's own words.
    described = "; ".join(f"{label.name}: {label.description}" for label in task.labels)
    assert clean_instruction(described, task, [], meta.own_text)[0] is not None


def test_repetition_thresholds_are_far_from_prose():
    assert degenerate.repetition(TICKETS_RULES) is None
    assert degenerate.repetition(" ".join(GOOD)) is None
    assert degenerate.repetition("Objective facts can be checked. " * 12) is not None
