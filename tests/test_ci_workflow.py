"""The shipped GitHub workflow: the pieces `harness ci` relies on are there."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github/workflows/prompt-gate.yml"


def test_prompt_gate_workflow() -> None:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = data[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers
    steps = data["jobs"]["prompt-gate"]["steps"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["actions/checkout"]["with"]["fetch-depth"] == 0  # the merge-base needs history
    assert uses["actions/setup-python"]["with"]["cache"] == "pip"
    cache = uses["actions/cache"]["with"]
    assert cache["path"] == ".harness-cache"
    assert "hashFiles('prompts/**', 'datasets/**')" in cache["key"]
    run = next(s["run"] for s in steps if "harness ci" in s.get("run", ""))
    assert "--summary ci-summary.md" in run and "--junit ci-junit.xml" in run
    assert any(s.get("run") == "pip install -e ." for s in steps)
    upload = uses["actions/upload-artifact"]
    assert upload["if"] == "always()"
    assert {"ci-summary.md", "ci-junit.xml"} <= set(upload["with"]["path"].split())
