"""No secret is ever written or printed (issue 13, items 7 and 12).

Every command that reads a key runs with distinctive fake secrets: the OpenAI key in its
variable, a key in the base URL's query string (`?api-key=`), a password in its userinfo
(`user:pw@`), the Label Studio token, and a server that echoes the Authorization header and the
request path (query included) back into answers and error messages (tests/fault_proxy.py). Then
every file under the project (cache, reports, logs, checkpoints, baselines, fixtures, prompts)
and all output are searched for each secret in the encodings it could take.

Real parts only: the OpenAI backend talks to the loopback llama.cpp server through the fault
proxy; Label Studio is the real server (conftest.py `label_studio`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.fault_proxy import FaultProxy
from tests.helpers import TASK, make_project

MODEL = "openai:smollm2"
KEY = "sk-pg-ENVKEY-" + uuid.uuid4().hex[:12]
QKEY = "pg-QUERYKEY-" + uuid.uuid4().hex[:12]
USER, PASSWORD = "pguser", "pg-USERPW-" + uuid.uuid4().hex[:12]

EVAL_MODULE = """\
import pytest

pytestmark = pytest.mark.harness_task("demo")


def test_meets_thresholds(harness_gate, prompt_version):
    harness_gate.check_thresholds(prompt_version)


def test_no_regression_against_baseline(harness_gate, prompt_version):
    harness_gate.check_baseline(prompt_version)
"""


def forms(secret: str) -> set[str]:
    """The ways a secret could end up in a file or a message."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            base64.b64encode(secret.encode()).decode()}


def leaks(root: Path, outputs: list[str], secrets: list[str]) -> list[str]:
    found = []
    needles = set().union(*(forms(s) for s in secrets))
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if n.encode() in data or n in str(path)]
    for number, text in enumerate(outputs):
        found += [f"output #{number}: {n}" for n in needles if n in text]
    return found


def cli(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPENAI_", "LABEL_STUDIO_", "HARNESS_"))}
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True,
                          timeout=600, env={**clean, **env})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "project")
    (root / "pyproject.toml").write_text("[tool.harness]\n", encoding="utf-8")
    (root / "evals").mkdir()
    (root / "evals" / "test_demo.py").write_text(EVAL_MODULE, encoding="utf-8")
    return root


@pytest.mark.server
def test_openai_commands_write_and_print_no_secret(project, proxy):
    query_url = f"{proxy.url}?api-key={QKEY}"
    userinfo_url = query_url.replace("http://", f"http://{USER}:{PASSWORD}@")
    env = {"OPENAI_API_KEY": KEY}
    harness = ["-m", "harness.cli"]
    base = [*harness, "eval", TASK, "--version", "v1", "--model", MODEL, "--split", "all",
            "--no-progress", "--max-retries", "0"]
    runs = []

    def run(*args: str, faults=(), extra_env=None) -> subprocess.CompletedProcess:
        proxy.faults.extend(faults)
        done = cli(project, *args, env={**env, **(extra_env or {})})
        runs.append(done)
        return done

    # Score mode; one answer echoes the Authorization header + path, one error does too.
    done = run(*base, "--base-url", query_url, "--limit", "3", "--concurrency", "1",
               faults=["echo_auth", ("echo_auth_status", 500)])
    assert done.returncode == 3, done.stderr
    assert "Authorization: Bearer ***" in (project / "reports").joinpath(
        _newest_run(project), "results.jsonl").read_text()
    # Generate mode with user:pw@ (httpx then sends Basic auth, base64 of user:pw).
    run(*base, "--base-url", userinfo_url, "--limit", "3", "--mode", "generate",
        faults=["echo_auth"] * 3)
    # A key the server rejects, echoed in the 401 body: the run stops with the message.
    rejected = run(*base, "--base-url", query_url, "--limit", "4", "--mode", "constrained",
                   faults=[("echo_auth_status", 401)] * 4)
    assert "HTTP 401" in rejected.stderr and "***" in rejected.stderr, rejected.stderr
    # Replay, the pytest gate (with baselines written), the optimizer, the cache listing.
    run(*base, "--base-url", query_url, "--limit", "3", "--cache-only")
    run("-m", "pytest", "evals", "-p", "no:cacheprovider", "--model", MODEL, "--model-base-url",
        query_url, "--split", "all", "--limit", "3", "--update-baseline",
        faults=["echo_auth"] * 3)
    assert list((project / "evals" / "baselines").rglob("*.json"))
    optimized = run(*harness, "optimize", TASK, "--from", "v1", "--model", MODEL, "--teacher",
                    MODEL, "--budget-calls", "40", "--iterations", "1", "--minibatch", "2",
                    "--proposer", "teacher", "--no-progress", faults=["echo_auth"] * 10,
                    extra_env={"OPENAI_BASE_URL": query_url, "HARNESS_MAX_RETRIES": "0"})
    assert optimized.returncode in (0, 3), optimized.stderr
    assert list((project / "reports").rglob("log.jsonl"))
    run(*harness, "cache", "stats")

    # The secrets were really in use and really echoed.
    assert f"Bearer {KEY}" in proxy.authorization
    assert f"Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}" in proxy.authorization
    assert any(f"api-key={QKEY}" in path for path in proxy.paths)
    outputs = [text for done in runs for text in (done.stdout, done.stderr)]
    assert not leaks(project, outputs, [KEY, QKEY, PASSWORD, f"{USER}:{PASSWORD}"])
    metrics = json.loads((project / "reports" / _newest_run(project, "metrics.json")
                          / "metrics.json").read_text())
    assert metrics["spec"]["model_identity"]["base_url"] == f"{proxy.url}?api-key=***"


def _newest_run(root: Path, marker: str = "results.jsonl") -> str:
    runs = sorted((p.parent for p in (root / "reports").glob(f"*/{marker}")),
                  key=lambda p: p.stat().st_mtime)
    return runs[-1].name


@pytest.mark.server
@pytest.mark.labelstudio
def test_label_studio_commands_write_and_print_no_secret(project, proxy, label_studio):
    from harness.labelstudio import connect

    url, token = label_studio
    assert len(token) >= 8  # distinctive enough to search for
    title = f"harness secrets {uuid.uuid4().hex[:8]}"
    env = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": token, "OPENAI_API_KEY": KEY,
           "OPENAI_BASE_URL": f"{proxy.url}?api-key={QKEY}"}
    harness = ["-m", "harness.cli", "ls"]
    runs = []
    conn = connect(url, token)
    port = int(url.rsplit(":", 1)[1])
    echo = FaultProxy(port).start()  # a Label Studio that echoes the token in an error
    try:
        proxy.faults.extend(["echo_auth"] * 4)
        pushed = cli(project, *harness, "push", TASK, "--version", "v1", "--model", MODEL,
                     "--limit", "4", "--project", title, "--no-progress", env=env)
        runs.append(pushed)
        assert pushed.returncode == 0, pushed.stderr
        (project_id,) = [p.id for p in conn.sdk.projects.list(title=title)]
        first = next(iter(conn.sdk.tasks.list(project=project_id, page=1, page_size=10).items))
        conn.sdk.annotations.create(first.id, result=[{
            "from_name": "label", "to_name": "text", "type": "choices",
            "value": {"choices": ["Objective"]}}])
        runs.append(cli(project, *harness, "pull", TASK, "--project", str(project_id),
                        "--into", "datasets/pulled.jsonl", env=env))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert (project / "datasets" / "pulled.jsonl").exists()
        # The token as a flag, a password in the URL, and a server echoing the token back.
        with_userinfo = url.replace("http://", f"http://{USER}:{PASSWORD}@")
        runs.append(cli(project, *harness, "pull", TASK, "--project", str(project_id),
                        "--url", with_userinfo, "--api-key", token, env={}))
        echo.faults.append(("echo_auth_status", 400))  # 5xx: the SDK retries
        echoed = cli(project, *harness, "pull", TASK, "--url", echo.url.removesuffix("/v1"),
                     env=env)
        runs.append(echoed)
        assert echoed.returncode == 2 and "HTTP 400" in echoed.stderr, echoed.stderr
        assert "Authorization: Token ***" in echoed.stderr
        assert f"Token {token}" in echo.authorization  # the token was really sent and echoed
    finally:
        echo.stop()
        for project_ in conn.sdk.projects.list(title=title):
            conn.sdk.projects.delete(project_.id)
    outputs = [text for done in runs for text in (done.stdout, done.stderr)]
    assert not leaks(project, outputs, [token, KEY, QKEY, PASSWORD, f"{USER}:{PASSWORD}"])
