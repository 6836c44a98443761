"""harness.parsing.parse_label: free-form answers -> a label or INVALID."""

from __future__ import annotations

import pytest

from harness.parsing import parse_label
from harness.records import INVALID

LABELS = ("Objective", "Subjective")


@pytest.mark.parametrize("raw, expected", [
    ("Objective", "Objective"),
    ("Subjective", "Subjective"),
    ("objective", "Objective"),
    ("  SUBJECTIVE \n", "Subjective"),
    ('"Objective"', "Objective"),
    ("'Subjective'", "Subjective"),
    ("**Objective**.", "Objective"),
    ("`Subjective`!", "Subjective"),
    ("Label: Subjective", "Subjective"),
    ("The answer is: objective", "Objective"),
    ("Answer - Objective", "Objective"),
    ("Objective. The sentence states a measurable fact.", "Objective"),
    ("Subjective, because it is a feeling.", "Subjective"),
    ("I think this sentence is subjective because it expresses a feeling.", "Subjective"),
    ("This one is clearly OBJECTIVE in nature", "Objective"),
])
def test_parse_label_finds_the_label(raw, expected):
    assert parse_label(raw, LABELS) == expected


@pytest.mark.parametrize("raw", [
    "It is either Objective or Subjective.",       # two different labels
    "I can't tell whether it's subjective; maybe objective.",
    "",
    "   \n",
    "banana",
    "I don't know.",
    "Objectively speaking, no",                    # a label only as part of a longer word
    "Subjective-ish",
    "non-objective",
])
def test_parse_label_invalid(raw):
    assert parse_label(raw, LABELS) == INVALID


@pytest.mark.parametrize("raw, expected", [
    ("other", "Other"),
    ("Other.", "Other"),
    ("it's something other", "Other"),
    ("mother", INVALID),
    ("My mother paid the bill.", INVALID),
    ("Others", INVALID),
    ("billing for my mother", "Billing"),
    ("billing, not other", "Billing"),
])
def test_parse_label_whole_words_only(raw, expected):
    assert parse_label(raw, ("Other", "Billing")) == expected


def test_parse_label_overlapping_label_names():
    labels = ("Other", "Mother")
    assert parse_label("mother", labels) == "Mother"
    assert parse_label("I'd say Mother", labels) == "Mother"
    assert parse_label("I'd say other", labels) == "Other"


def test_parse_label_restated_choices_is_invalid():
    assert parse_label("Objective or Subjective", LABELS) == INVALID


@pytest.mark.parametrize("labels, raw", [
    (("Question", "Answer"), "Answer"),
    (("Input", "Output"), "Output"),
])
def test_parse_label_label_equal_to_prefix_word(labels, raw):
    assert parse_label(raw, labels) == raw
