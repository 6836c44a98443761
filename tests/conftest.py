"""Shared fixtures: a small copy of the shipped subjectivity task (real prompts, real rows)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# The library loads numpy, scikit-learn and matplotlib lazily. pytester's in-process runs drop
# every module first imported inside them, and a half re-imported matplotlib then breaks
# (`'Figure' object has no attribute 'items'`): load them once here, outside any inner run.
import harness.api  # noqa: F401,E402
import harness.report  # noqa: F401,E402

REPO = Path(__file__).resolve().parent.parent


def copy_task(root: Path, task: str = "subjectivity", rows: int = 24) -> Path:
    """Copy prompts/<task>/ and the first `rows` fixture rows into `root`; returns root."""
    shutil.copytree(REPO / "prompts" / task, root / "prompts" / task)
    (root / "datasets").mkdir(exist_ok=True)
    lines = (REPO / "datasets" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
    (root / "datasets" / f"{task}.jsonl").write_text("\n".join(lines[:rows]) + "\n",
                                                     encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.harness]\ncache_dir = ".harness-cache"\nreport_dir = "reports"\n', encoding="utf-8")
    return root


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    return copy_task(tmp_path / "project")


@pytest.fixture(scope="session")
def local_backend():
    from harness.models import get_backend

    backend = get_backend("local")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def llama_server():
    """A real `python -m llama_cpp.server` on loopback serving the embedded SmolLM2 GGUF."""
    from tests.llama_server import LlamaServer

    server = LlamaServer().start()
    yield server
    server.stop()


@pytest.fixture
def proxy(llama_server):
    """A fault-injecting proxy in front of the session's llama.cpp server (fresh per test)."""
    from tests.fault_proxy import FaultProxy

    fault_proxy = FaultProxy(llama_server.port).start()
    yield fault_proxy
    fault_proxy.stop()
