"""Generate-mode parsing against real answers of the embedded model (issue 16, item 5).

tests/data/free_form_answers.jsonl: every distinct free-form answer of SmolLM2-135M-Instruct
(Q4_1, greedy, 24 tokens) from `harness eval <task> --mode generate --split all --limit 60` on
both shipped tasks, for v1, v2 and a probe prompt that asks for a one-sentence judgement
(tests/data/probe_*.jinja, to draw out hedged answers). `label` is what a person reads the answer
as asserting, by label name, or INVALID; `note` says why where it is not obvious.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.parsing import parse_label
from harness.records import INVALID

CORPUS = Path(__file__).parent / "data" / "free_form_answers.jsonl"
OBJ = ("Objective", "Subjective")
TICKETS = ("billing", "shipping", "technical", "account", "refund", "other")


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").split("\n") if line]


def test_corpus_is_real_and_varied():
    rows = _corpus()
    assert {r["task"] for r in rows} == {"subjectivity", "tickets"}
    assert len({r["raw"] for r in rows}) == len(rows), "one row per distinct answer"
    for r in rows:
        assert r["label"] == INVALID or r["label"] in r["labels"], r
    read = {r["label"] for r in rows}
    assert {"Objective", "Subjective", "billing", "refund", INVALID} <= read


def test_parser_reads_every_real_answer_as_a_person_does():
    misread = [(r["raw"], r["label"], got) for r in _corpus()
               if (got := parse_label(r["raw"], tuple(r["labels"]))) != r["label"]]
    assert not misread, "\n".join(f"{raw!r}: person {want}, parser {got}"
                                  for raw, want, got in misread)


@pytest.mark.parametrize("raw", [
    "The sentence is not entirely objective, as it describes a feeling.",  # the case
    "Not objective.",
    "Neither objective nor subjective.",
    "It could be objective or subjective.",
    "It is mostly subjective.",
    "The sentence is partly subjective.",
    "It is probably objective.",
    "The sentence seems subjective.",
    "It is subjective to some extent.",
    "Objective, but not entirely.",
    "Objective? Maybe.",
    "I don't think it's objective.",
    "The sentence is objective. However, it also has a subjective tone.",
    "The sentence is objective, as it is a fact. It is subjective, too.",
])
def test_negated_or_hedged_mentions_are_invalid(raw):
    assert parse_label(raw, OBJ) == INVALID


@pytest.mark.parametrize("raw, expected", [
    ("The sentence is objective, not subjective.", "Objective"),
    ("It is not objective but subjective.", "Subjective"),
    ("The sentence is subjective, as it is based on preference rather than objective criteria.",
     "Subjective"),
    ("The sentence is objective, as it presents a fact without any subjective opinions.",
     "Objective"),
])
def test_a_negated_other_label_does_not_spoil_an_assertion(raw, expected):
    assert parse_label(raw, OBJ) == expected


@pytest.mark.parametrize("raw, expected", [
    ("This is a billing issue.", "billing"),
    ("Category: refund", "refund"),
    ("I would classify this as technical.", "technical"),
    ("The team should handle this ticket with the shipping team.", "shipping"),
    ("This is not a shipping issue, it is a billing issue.", "billing"),
    ("This is a billing issue; I can help with any other questions.", "billing"),
    ("I'm sorry to hear you're having issues with your account.", INVALID),  # a topic, no verdict
    ("There is a refund pending.", INVALID),
    ("It could be a refund.", INVALID),
    ("It is either billing or refund.", INVALID),
    ("The team should handle this ticket: billing, shipping, technical.", INVALID),
])
def test_ticket_answers_name_a_team_only_by_asserting_it(raw, expected):
    assert parse_label(raw, TICKETS) == expected
