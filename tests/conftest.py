"""Shared fixtures: a small copy of the shipped subjectivity task (real prompts, real rows), the
real llama.cpp server with a fault proxy, and a real Label Studio server."""

from __future__ import annotations

import functools
import gc
import os
import secrets
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.scratch import use_tmpfs_scratch

REPO = Path(__file__).resolve().parent.parent

# Scratch files on /dev/shm where it is a tmpfs with room and TMPDIR is unset (tests/scratch.py):
# here, before pytest picks its temp root, so tmp_path, xdist's workers and every subprocess agree.
use_tmpfs_scratch()

# One BLAS thread: the tests' scikit-learn fits are tiny (20-300 examples), and after each BLAS
# call OpenBLAS's other threads spin-wait, which under `pytest -n 2` on two cores takes CPU from
# the other worker (fast suite: ~4 s less CPU, bench/RESULTS.md, session 11). Read when NumPy
# loads, which is later (the root conftest imports nothing heavy); a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The cyclic GC less often: with scikit-learn, SciPy and pandas loaded, each full collection
# walks millions of objects (~150 ms), and Python's default (700, 10, 10) ran ~10 of them and
# ~1,100 young ones per worker, 1.8-2.1 s of each worker's fast suite; at 7,000 it was 0.8 s
# (bench/RESULTS.md, session 11). Garbage is still collected, in fewer, larger passes.
gc.set_threshold(7000, 10, 10)


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


# A pytester run is a user's project: it loads plugins by their entry points, as pip installed
# them, and so it also loaded the ones in this venv that no test here uses (label-studio-sdk's
# dependencies bring Faker, requests-mock, typeguard, ...). Because pytester drops what each run
# imported and assertion rewriting cannot cache under PYTHONDONTWRITEBYTECODE, every run re-parsed
# and recompiled ~1,000 of their modules (~1.2 s a run). Its runs block every installed plugin
# but the ones inner projects use (tests/test_xdist.py runs `pytest -n 2`).
INNER_RUNS_USE = ("harness", "xdist", "xdist.looponfail")


@functools.lru_cache(maxsize=1)
def _unused_entry_point_plugins() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group="pytest11")} - set(INNER_RUNS_USE))


@pytest.fixture(scope="session")
def _loaded_outside_inner_runs() -> None:
    """pytester drops every module first imported inside its runs (and anything imported while
    the test using it runs), so what its runs import is loaded here, in the test process, before
    the first pytester is made (a session fixture is set up before a test's own):

    - scikit-learn (the reports' classical baseline): imported inside each run, it was imported
      again by every one, ~1.5 s each; and a library with C extensions does not survive being
      imported twice in one process (a half re-imported matplotlib broke with `'Figure' object
      has no attribute 'items'` when the reports still used it);
    - anyio (the openai SDK's transport): anyio 4.16 resolves `anyio.EndOfStream` lazily and
      caches it on the package. With the package loaded outside (a Label Studio test) but its
      exceptions module first inside a run, the run dropped that module, the asyncio backend
      re-imported it later, and its EndOfStream was a second class that neither the SDK's
      `except anyio.EndOfStream` nor anything else matched: a dropped connection in
      test_openai.py's fault test ended as "unexpected EndOfStream", in full runs only.

    Here and not at the top of this file: xdist's controller process imports conftest too,
    before it starts the workers, and needs none of this (~3 s)."""
    import anyio._backends._asyncio  # noqa: F401
    import harness.api  # noqa: F401
    import harness.report  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.pipeline  # noqa: F401


@pytest.fixture
def pytester(_loaded_outside_inner_runs: None, pytester: pytest.Pytester,
             monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own fixture: what its runs import loaded first, and without the installed
    plugins they do not use (above)."""
    left_out = [f"-p no:{name}" for name in _unused_entry_point_plugins()]
    monkeypatch.setenv("PYTEST_ADDOPTS",
                       " ".join([os.environ.get("PYTEST_ADDOPTS", ""), *left_out]).strip())
    return pytester


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    return copy_task(tmp_path / "project")


@pytest.fixture
def fake_model(monkeypatch):
    """Install tests/fake_backend.py's FakeBackend as a model for this test only: the `fake`
    prefix is added to the static backend table (harness.models.base.BACKENDS) and removed after
    the test. `fake_model(backend, name="default")` returns the model name ("fake:default") to
    give to --model / Settings; CLI, plugin (pytester, in-process) and Session then build it the
    way they build `local`."""
    from harness.models.base import BACKENDS
    from tests import fake_backend

    monkeypatch.setitem(BACKENDS, "fake", ("tests.fake_backend", "a test double (tests/)"))
    monkeypatch.setattr(fake_backend, "INSTALLED", {})

    def install(backend: fake_backend.FakeBackend, name: str = "default") -> str:
        fake_backend.INSTALLED[name] = backend
        return f"fake:{name}"
    return install


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


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """(url, api key) of a running Label Studio: the one at $LABEL_STUDIO_URL (with
    $LABEL_STUDIO_API_KEY) when it answers; otherwise one started from .ls-venv with
    scripts/label-studio and stopped at the end; otherwise a skip naming the setup command."""
    url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if url and key and _healthy(url):
        yield url.rstrip("/"), key
        return
    venv = Path(os.environ.get("LS_VENV") or REPO / ".ls-venv")
    script = REPO / "scripts" / "label-studio"
    if not (venv / "bin" / "label-studio").exists():
        pytest.skip(f"no Label Studio server: none answers at LABEL_STUDIO_URL and {venv} is "
                    f"missing; run `scripts/label-studio install` (the tests then start one), "
                    f"or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")
    state = tmp_path_factory.mktemp("label-studio")
    token = secrets.token_hex(20)
    env = {**os.environ, "LS_STATE_DIR": str(state), "LABEL_STUDIO_USER_TOKEN": token}
    started = subprocess.run([str(script), "start"], env=env, capture_output=True, text=True,
                             timeout=420)
    if started.returncode != 0:
        subprocess.run([str(script), "stop"], env=env, capture_output=True, timeout=60)
        pytest.fail(f"scripts/label-studio start failed:\n{started.stderr}", pytrace=False)
    port = (state / "port").read_text().strip()
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        subprocess.run([str(script), "stop"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def browser():
    """One real headless Chromium for every page this test process opens (tests/browser.py);
    skips with the reason when chromium is not installed."""
    from tests.browser import CHROMIUM, SKIP_REASON, Browser

    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    chromium = Browser()
    yield chromium
    chromium.close()
