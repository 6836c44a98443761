"""The optimizer loop with the real embedded model (student and teacher), on a small copy of a
shipped task: the parts only the model can show (real teacher text through the checks, the
written version replaying from the cache, warm-cache determinism, resume after Ctrl-C). The
loop's logic is tested in seconds on a fake backend in test_optimizer_loop.py.

Small on purpose (2-core CI): 60 fixture rows, validation 15 examples, a small budget. Such a
split can never show a significant gain, so min_effect 0 and alpha 1 let the mechanics of
acceptance run, and a minibatch larger than validation sends every candidate to it (screening
8 examples would only tie); the rules themselves are tested on the fake backend.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.cache import Cache
from harness.optimizer import OptimizeConfig, OptimizeResult, optimize
from harness.records import LabelRequest, ModelOutput
from tests.conftest import copy_task

pytestmark = pytest.mark.model

ROWS = {"subjectivity": 60}


def config(task: str) -> OptimizeConfig:
    return OptimizeConfig(task=task, start="v2", teacher="local", budget_calls=400,
                          iterations=2, patience=2, seed=0, minibatch=16, confirm=1,
                          train_sample=16, errors_shown=4, min_effect=0.0, alpha=1.0)


class Counting:
    """Wraps the real backend to count the calls that reach the model, and to stop the run
    (as Ctrl-C would) after `interrupt_after` calls."""

    def __init__(self, inner, interrupt_after: int | None = None) -> None:
        self.inner, self.interrupt_after, self.calls = inner, interrupt_after, 0
        self.name = inner.name

    def identity(self):
        return self.inner.identity()

    def modes(self):
        return self.inner.modes()

    def close(self) -> None:
        pass

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]:
        for index, output in self.inner.complete(requests):
            if self.interrupt_after is not None and self.calls >= self.interrupt_after:
                raise KeyboardInterrupt
            self.calls += 1
            yield index, output


def run_optimizer(root: Path, task: str, backend, *, resume: bool = False) -> OptimizeResult:
    return optimize(config(task), root=root, backends=lambda name: backend,
                    cache=Cache(root / ".harness-cache", "record"),
                    report_dir=root / "reports", resume=resume)


def fingerprint(result: OptimizeResult) -> tuple:
    return (result.winner, [(c.proposer, c.instruction, c.demos) for c in result.candidates],
            [(e.candidate, e.stage, e.score) for e in result.evaluations],
            result.winner_test.score, result.charged)


@pytest.fixture(scope="module")
def optimized(tmp_path_factory, local_backend) -> dict[str, tuple[Path, OptimizeResult, int]]:
    runs = {}
    for task, rows in ROWS.items():
        root = copy_task(tmp_path_factory.mktemp(task), task, rows=rows)
        counting = Counting(local_backend)
        runs[task] = (root, run_optimizer(root, task, counting), counting.calls)
    return runs


def test_validation_score_never_drops_and_rises_on_a_shipped_task(optimized):
    gains = {}
    for task, (_, result, calls) in optimized.items():
        start, best = result.start_validation.score, result.winner_validation.score
        assert best.value >= start.value, task
        assert not start.beats(best), task
        assert calls == result.calls > 0
        assert result.charged <= result.config.budget_calls
        gains[task] = best.value - start.value
    assert max(gains.values()) > 0, gains


def test_every_candidate_is_logged_and_the_report_is_written(optimized):
    for task, (root, result, _) in optimized.items():
        log = [json.loads(line) for line in
               (result.directory / "log.jsonl").read_text(encoding="utf-8").splitlines()]
        candidates = [e for e in log if e["event"] == "candidate"]
        assert [c["id"] for c in candidates] == [c.id for c in result.candidates]
        assert candidates[0]["proposer"] == "start"
        assert {"teacher", "exemplars", "knn"} & {c["proposer"] for c in candidates[1:]}
        teacher = [e for e in log if e["event"] == "rejection" and e["proposer"] == "teacher"]
        assert len(teacher) + sum(c["proposer"] == "teacher" for c in candidates) >= 1
        assert all(e["calls"] >= 0 and "score" in e for e in log if e["event"] == "evaluation")
        assert json.loads((result.directory / "checkpoint.json").read_text())["status"] == "done"
        from harness.report import write_optimize_report
        html = write_optimize_report(result.directory, result).read_text(encoding="utf-8")
        assert '<svg id="trajectory-image"' in html and f"Candidate {result.winner}" in html


def test_written_version_extends_its_parent_and_passes_harness_eval(optimized):
    improved = [(task, root, r) for task, (root, r, _) in optimized.items() if r.written]
    assert improved
    for task, root, result in improved:
        source = result.written.read_text(encoding="utf-8")
        assert source.startswith('{% extends "v2.jinja" %}')
        for fact in ("parent: v2", "validation macro_f1", "test macro_f1", "on test", "seed: 0",
                     "teacher: local", f"run id: {result.run_id}"):
            assert fact in source, fact
        assert "{% block system %}" not in source and "{% block user %}" not in source
        version = result.written.stem
        done = subprocess.run([sys.executable, "-m", "harness.cli", "eval", task, "--version",
                               version, "--split", "validation", "--no-progress"], cwd=root,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 1), done.stderr  # 1 would be a missed threshold, not a crash
        # It renders exactly what was scored: every response comes from the cache.
        n = result.winner_validation.metrics.n
        assert f"0 model calls, {n} cached" in done.stderr
        assert f"{result.winner_validation.metrics.macro_f1:.3f}" in done.stdout


def test_deterministic_with_a_warm_cache(optimized, local_backend, tmp_path):
    root, first, _ = optimized["subjectivity"]
    again_root = tmp_path / "again"
    shutil.copytree(root, again_root, ignore=shutil.ignore_patterns("reports", "v3*"))
    counting = Counting(local_backend)
    second = run_optimizer(again_root, "subjectivity", counting)
    assert counting.calls == 0
    assert fingerprint(second) == fingerprint(first)


def test_resume_after_an_interrupted_run_repeats_no_call(optimized, local_backend, tmp_path):
    _, reference, reference_calls = optimized["subjectivity"]
    root = copy_task(tmp_path / "fresh", "subjectivity", rows=ROWS["subjectivity"])
    interrupted = Counting(local_backend, interrupt_after=reference_calls // 2)
    with pytest.raises(KeyboardInterrupt):
        run_optimizer(root, "subjectivity", interrupted)
    assert interrupted.calls == reference_calls // 2
    resumed = Counting(local_backend)
    result = run_optimizer(root, "subjectivity", resumed, resume=True)
    assert interrupted.calls + resumed.calls == reference_calls  # nothing asked twice
    assert fingerprint(result) == fingerprint(reference)
    assert (result.calls, result.tokens) == (reference.calls, reference.tokens)  # exact tallies
    assert (result.written is None) == (reference.written is None)
    assert json.loads((result.directory / "checkpoint.json").read_text())["status"] == "done"
