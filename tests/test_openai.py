"""The OpenAI backend against a real `llama_cpp.server` serving SmolLM2 on loopback, through a
fault-injecting proxy (tests/fault_proxy.py). Small limits: the machine has 2 cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import Session, load_settings
from harness.cache import Cache
from harness.errors import BackendError
from harness.metrics import metrics_for
from harness.models.openai import OpenAIBackend
from harness.models.base import BackendOptions
from harness.models.retry import RetryPolicy
from harness.records import INVALID, RunSpec
from harness.runner import run
from tests.helpers import default_sigint, make_project

pytestmark = pytest.mark.server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The 12-sentence demo task (tests/helpers.py): its prompt asks for a one-word answer,
    which SmolLM2 gives often enough through the chat API for every mode to be exercised."""
    root = make_project(tmp_path / "project")
    (root / "pyproject.toml").write_text("[tool.harness]\n", encoding="utf-8")
    return root

MODEL = "openai:smollm2"  # llama.cpp's server answers with its one model whatever the name
FAST = RetryPolicy(max_retries=5, base_s=0.05, cap_s=0.2)


def backend_for(url: str, *, concurrency: int = 4, retry: RetryPolicy = FAST,
                timeout_s: float = 60.0) -> OpenAIBackend:
    return OpenAIBackend("smollm2", BackendOptions(base_url=url, concurrency=concurrency,
                                                   timeout_s=timeout_s), retry=retry,
                         environ={})


def run_task(root: Path, backend: OpenAIBackend, *, mode: str = "score", limit: int = 6,
             cache: str = "off"):
    spec = RunSpec(task="demo", version="v1", model=MODEL, mode=mode, split="all",
                   limit=limit)
    return run(spec, root=root, backend=backend, cache=Cache(root / ".harness-cache", cache),
               progress=False)


def harness_cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


# --- the three modes, concurrently, through the real server --------------------------------------

def test_score_mode_reads_label_probabilities_from_logprobs(project, proxy):
    result = run_task(project, backend_for(proxy.url), limit=6)
    assert not result.errors
    for p in result.predictions:
        assert p.distribution is not None and set(p.distribution) == {"Objective", "Subjective"}
        assert sum(p.distribution.values()) == pytest.approx(1.0)
        assert p.confidence == max(p.distribution.values())
        assert p.usage.prompt_tokens > 0
    # Different sentences, different distributions (not a constant read from the wrong place).
    assert len({round(p.distribution["Objective"], 6) for p in result.predictions}) > 1
    assert proxy.max_in_flight >= 2  # concurrency > 1 really overlapped calls


def test_generate_and_constrained_modes(project, proxy):
    backend = backend_for(proxy.url)
    generated = run_task(project, backend, mode="generate", limit=4)
    assert not generated.errors
    assert all(p.predicted in ("Objective", "Subjective", INVALID) for p in generated.predictions)
    assert all(p.confidence is None and p.usage.completion_tokens > 0
               for p in generated.predictions)
    constrained = run_task(project, backend, mode="constrained", limit=4)
    assert not constrained.errors
    # Structured output: the server's grammar keeps every answer to a label.
    assert all(p.predicted in ("Objective", "Subjective") for p in constrained.predictions)


def test_session_runs_the_eval_and_writes_tokens_and_unknown_cost(project, proxy):
    settings = load_settings(project, {"model": MODEL, "base_url": proxy.url,
                                            "concurrency": 3, "split": "all", "limit": 5,
                                            "progress": False}, environ={})
    session = Session(settings)
    evaluation = session.evaluate("demo", "v1")
    session.close()
    spec = json.loads((evaluation.report_dir / "metrics.json").read_text())["spec"]
    assert spec["model_identity"]["base_url"] == proxy.url
    assert spec["model_calls"] == 5 and spec["prompt_tokens"] > 0
    assert spec["cost"]["usd_calls"] is None and "tool.harness.prices" in spec["cost"]["note"]
    rows = [json.loads(line) for line in (evaluation.report_dir / "results.jsonl").open()]
    assert all(row["cost_usd"] is None for row in rows)


def test_price_table_entry_gives_a_cost(project, proxy):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8")
                         + '[tool.harness.prices]\n"smollm2" = { input = 1.0, output = 2.0 }\n')
    settings = load_settings(project, {"model": MODEL, "base_url": proxy.url, "limit": 3,
                                            "split": "all", "progress": False}, environ={})
    session = Session(settings)
    result = session.evaluate("demo", "v1").result
    session.close()
    expected = sum(p.usage.prompt_tokens * 1.0 + p.usage.completion_tokens * 2.0
                   for p in result.predictions) / 1e6
    spec = json.loads((session.evaluations()[0].report_dir / "metrics.json").read_text())["spec"]
    assert spec["cost"]["usd_calls"] == pytest.approx(expected) and expected > 0
    assert spec["cost"]["price"]["source"] == "pyproject"


# --- faults ------------------------------------------------------------------------------------

def test_429_500_drops_and_slow_answers_are_retried(project, proxy):
    # Record the server's answers first and replay them from the proxy, so that only the
    # injected delay (not the load on a shared CPU) can exceed the short timeout.
    proxy.memo = {}
    run_task(project, backend_for(proxy.url), limit=3)
    proxy.reset_counts()
    proxy.faults.extend([("status", 429, {"Retry-After": "1"}), ("status", 500), "drop",
                         ("delay", 3.0)])
    backend = backend_for(proxy.url, concurrency=1, timeout_s=1.5)
    result = run_task(project, backend, limit=3)
    assert not result.errors
    assert all(p.distribution is not None for p in result.predictions)
    assert proxy.forwarded >= 3
    # retry-after honoured: the request after the 429 came at least 1 s later.
    times = [t for t, what in proxy.events if what.startswith("request")]
    assert times[1] - times[0] >= 0.95
    assert backend.calls_sent == 3 + 4  # each fault cost exactly one retry


def test_exhausted_retries_are_errors_not_wrong_answers(project, proxy):
    proxy.faults.extend([("status", 503)] * 50)
    result = run_task(project, backend_for(proxy.url, concurrency=2,
                                                retry=RetryPolicy(max_retries=1, base_s=0.01)),
                      limit=3, cache="record")
    assert len(result.errors) == 3
    assert all(p.predicted is None for p in result.predictions)
    assert "HTTP 503 from " + proxy.url in result.errors[0].error
    assert "gave up after 2 attempt(s)" in result.errors[0].error
    metrics = metrics_for(result)
    assert metrics.n == 0 and metrics.n_errors == 3  # not counted as wrong answers
    assert Cache(project / ".harness-cache").stats()["entries"] == 0  # errors not cached


def test_missing_logprobs_leave_confidence_unavailable_not_invented(project, proxy):
    proxy.faults.extend(["strip_logprobs"] * 2)
    result = run_task(project, backend_for(proxy.url, concurrency=1), limit=3)
    stripped, kept = result.predictions[:2], result.predictions[2]
    assert all(p.distribution is None and p.confidence is None for p in stripped)
    assert all(p.predicted in ("Objective", "Subjective", INVALID) for p in stripped)
    assert kept.confidence is not None
    assert result.without_confidence == 2


def test_bad_key_stops_the_run_with_the_fix(project, proxy):
    proxy.faults.extend([("status", 401)] * 10)
    with pytest.raises(BackendError, match="HTTP 401 .*check the API key variable"):
        run_task(project, backend_for(proxy.url), limit=4)


def test_server_killed_mid_run_then_rerun_completes_from_cache(project, proxy):
    from tests.llama_server import LlamaServer

    own = LlamaServer().start()  # this test kills its own server, not the shared one
    second = None
    try:
        proxy.upstream_port = own.port
        proxy.after_forward = lambda count: own.kill() if count == 3 else None
        env = {"OPENAI_BASE_URL": proxy.url, "HARNESS_MAX_RETRIES": "1"}
        args = ("eval", "demo", "--version", "v1", "--model", MODEL, "--split", "all",
                "--limit", "8", "--concurrency", "2", "--no-progress")
        first = harness_cli(project, *args, env=env)
        assert first.returncode == 3, first.stderr
        assert f"cannot connect to {proxy.url} (model smollm2)" in first.stderr
        assert "re-run the same command to retry only those" in first.stderr
        done = Cache(project / ".harness-cache").stats()["entries"]
        assert 3 <= done < 8

        second = LlamaServer().start()
        proxy.after_forward = None
        proxy.upstream_port = second.port
        proxy.reset_counts()
        again = harness_cli(project, *args, env=env)
        assert again.returncode == 0, again.stderr
        assert proxy.forwarded == 8 - done  # only the missing calls were made
        assert f"{8 - done} model calls, {done} cached" in again.stderr
    finally:
        own.stop()
        if second is not None:
            second.stop()


# --- cache and secrets -------------------------------------------------------------------------

def test_cache_only_miss_names_the_prompt(project, proxy):
    done = harness_cli(project, "eval", "demo", "--version", "v1", "--model", MODEL,
                       "--base-url", proxy.url, "--split", "all", "--limit", "2",
                       "--cache-only", "--no-progress")
    assert done.returncode == 2
    assert "cache miss in replay mode for demo/v1 example" in done.stderr
    assert proxy.received == 0  # replay never touches the network


def test_api_key_never_written_or_printed(project, proxy):
    key = "sk-promptgate-LEAKCHECK-7f3a9c1e55d2"
    env = {"OPENAI_BASE_URL": proxy.url, "OPENAI_API_KEY": key}
    base = ("eval", "demo", "--version", "v1", "--model", MODEL, "--split", "all",
            "--no-progress", "--max-retries", "0")
    outputs = []
    for extra in (("--limit", "3"), ("--limit", "3", "--mode", "generate"),
                  ("--limit", "3", "--cache-only"), ("--limit", "5")):
        if extra[-1] == "5":
            proxy.faults.extend([("status", 500)] * 5)  # the error path writes messages too
        done = harness_cli(project, *base, *extra, env=env)
        outputs += [done.stdout, done.stderr]
    assert outputs[-1] and "HTTP 500" in outputs[-1]
    assert f"Bearer {key}" in proxy.authorization  # the key was really in use
    stats = harness_cli(project, "cache", "stats", env=env)
    outputs += [stats.stdout, stats.stderr]
    assert "openai:smollm2: 6" in stats.stdout
    written = [p for p in project.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in written) and any(".harness-cache" in str(p)
                                                                for p in written)
    for path in written:
        assert key.encode() not in path.read_bytes(), path
        assert key not in str(path)
    assert not any(key in text for text in outputs)


def test_cache_stats_and_clear_commands(project, proxy):
    env = {"OPENAI_BASE_URL": proxy.url}
    harness_cli(project, "eval", "demo", "--version", "v1", "--model", MODEL,
                "--split", "all", "--limit", "2", "--no-progress", env=env)
    stats = harness_cli(project, "cache", "stats")
    assert stats.returncode == 0 and "2 entries" in stats.stdout
    (project / ".harness-cache" / "ab").mkdir(exist_ok=True)
    (project / ".harness-cache" / "ab" / ("ab" + "0" * 62 + ".json")).write_text("{not json")
    assert "1 corrupt" in harness_cli(project, "cache", "stats").stdout
    cleared = harness_cli(project, "cache", "clear", "--model", "local")
    assert "removed 0" in cleared.stdout
    cleared = harness_cli(project, "cache", "clear")
    assert cleared.returncode == 0 and "removed 3" in cleared.stdout
    assert "0 entries" in harness_cli(project, "cache", "stats").stdout


# --- errors reach the user distinctly (no server needed: nothing listens on the port) ----------

def test_unreachable_server_cli_exits_3_and_pytest_fails_distinctly(project, pytester,
                                                                    monkeypatch):
    from tests.llama_server import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    done = harness_cli(project, "eval", "demo", "--version", "v1", "--model", MODEL,
                       "--base-url", dead, "--split", "all", "--limit", "3", "--max-retries", "0",
                       "--no-progress")
    assert done.returncode == 3, done.stderr
    assert "3 of 3 model calls failed" in done.stderr and f"cannot connect to {dead}" in done.stderr

    make_project(pytester.path)
    monkeypatch.setenv("HARNESS_MAX_RETRIES", "0")
    pytester.makepyfile(test_gate="""
        import pytest
        pytestmark = pytest.mark.harness_task("demo")

        def test_meets_thresholds(harness_gate, prompt_version):
            harness_gate.check_thresholds(prompt_version)
    """)
    result = pytester.runpytest("--model", MODEL, "--model-base-url", dead, "--split", "all",
                                "--limit", "2", "-p", "no:cacheprovider",
                                "-o", "filterwarnings=ignore")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*demo/v1: 2 of 2 model calls failed (infrastructure errors, "
                                 "not wrong answers), so the gate was not evaluated*",
                                 "*demo/v1: 2 of 2 model calls failed (infrastructure, not wrong answers*"])


def test_ctrl_c_keeps_finished_calls_and_the_rerun_makes_only_the_rest(project, proxy):
    import signal

    env = {**os.environ, "OPENAI_BASE_URL": proxy.url}
    args = [sys.executable, "-m", "harness.cli", "eval", "demo", "--version", "v1", "--model",
            MODEL, "--split", "all", "--limit", "8", "--concurrency", "2", "--no-progress"]
    proxy.latency_s = 0.3
    process = subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    proxy.after_forward = lambda count: process.send_signal(signal.SIGINT) if count == 3 else None
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "interrupted; finished calls are cached" in stderr
    assert "Traceback" not in stderr and "Event loop is closed" not in stderr
    done = Cache(project / ".harness-cache").stats()["entries"]
    # The signal races the third answer: at least the first is cached, never all of them.
    assert 1 <= done < 8

    proxy.after_forward = None
    proxy.latency_s = 0.0
    proxy.reset_counts()
    again = harness_cli(project, *args[3:], env={"OPENAI_BASE_URL": proxy.url})
    assert again.returncode == 0, again.stderr
    assert proxy.forwarded == 8 - done
