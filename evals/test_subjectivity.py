"""Regression gate for the subjectivity prompts: every version on disk x the fixtures."""

import pytest

pytestmark = pytest.mark.harness_task("subjectivity")


def test_meets_thresholds(harness_gate, prompt_version):
    harness_gate.check_thresholds(prompt_version)


def test_no_regression_against_baseline(harness_gate, prompt_version):
    harness_gate.check_baseline(prompt_version)


def test_critical_case(harness_gate, critical_case):
    harness_gate.check_critical(critical_case)
