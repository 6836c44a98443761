"""A baseline recorded under one llama.cpp configuration gates a run under another (issue 11,
item 6): what a CPU whose kernels round differently does to the shipped suite, made on one
machine with the real embedded model.

Configuration A records the baseline with HARNESS_THREADS=1; configuration B evaluates with
HARNESS_THREADS=2 (llama.cpp splits every matrix product across the threads) and no response
cache, so every answer is computed anew. The paired gate must pass, and it must really have
compared the two (no skip, both environments recorded).

What this does NOT assert: that the label distributions differ. Whether another thread count
moves the last bits of a score depends on the CPU and the llama.cpp build (the test prints the
largest change it saw). Measured on this machine (AMD EPYC, AVX2, llama-cpp-python 0.3.36,
16 subjectivity examples): HARNESS_THREADS 1 vs 2, HARNESS_LLAMA_EXTRA_BUFFERS=1, a score-mode
micro-batch of 8 instead of 512, and 1 KV stream instead of 4 all gave bit-identical
distributions (largest change 0). So on this CPU this test shows the mechanics (both
environments recorded, the comparison made, the gate passing), not a gate surviving real flips.
The gate's behaviour when predictions do flip is tested on constructed
predictions (tests/test_gate_paired.py) and measured in bench/bench_gate.py.
"""

from __future__ import annotations

import pytest

import harness
from tests.conftest import copy_task

pytestmark = pytest.mark.model

LIMIT = 16


def evaluate(root, monkeypatch, threads: int):
    monkeypatch.setenv("HARNESS_THREADS", str(threads))
    session = harness.Session(harness.load_settings(root, overrides={
        "model": "local", "split": "all", "limit": LIMIT, "cache": "off", "progress": False}))
    try:
        return session, session.evaluate("subjectivity", "v2", write=False)
    finally:
        session.close()


def test_baseline_from_one_llama_configuration_gates_another(tmp_path, monkeypatch):
    root = copy_task(tmp_path / "project", rows=40)
    session_a, recorded = evaluate(root, monkeypatch, threads=1)
    session_a.update_baseline(recorded, None)

    _, now = evaluate(root, monkeypatch, threads=2)
    gate = now.baseline
    assert not gate.skipped, gate.skipped
    baseline = now.baseline_record
    assert baseline.run.info.environment["n_threads"] == "1"
    assert now.stored().info.environment["n_threads"] == "2"
    before = {o.id: o.distribution for o in baseline.run.outcomes}
    after = {o.id: o.distribution for o in now.stored().outcomes}
    assert set(before) == set(after) and len(after) == LIMIT
    moved = max(abs(before[i][label] - after[i][label]) for i in after for label in after[i])
    print(f"largest probability change between the configurations: {moved:.3g}; "
          f"flips: {len(gate.broken)} broken, {len(gate.fixed)} fixed")
    assert gate.passed, harness.describe_failure(gate, now.metrics, title="cross-config gate")
