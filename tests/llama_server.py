"""Start and stop a real `llama_cpp.server` (via harness.models.llama_server, which applies the
llama.cpp buffer workaround) on a free loopback port, serving the embedded SmolLM2 GGUF."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaServer:
    def __init__(self, port: int | None = None, n_threads: int | None = None) -> None:
        self.port = port or free_port()
        self.n_threads = n_threads
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> LlamaServer:
        from harness.models.local import default_model_path

        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.models.llama_server",
                 "--model", str(default_model_path()), "--host", "127.0.0.1",
                 "--port", str(self.port), "--n_ctx", "2048",
                 *(["--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)]
                   if self.n_threads else [])],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}:\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as answer:
                    json.load(answer)
                    return self
            except OSError:
                time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s} s; log: {self.log}")

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)
