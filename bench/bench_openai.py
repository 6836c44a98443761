"""Throughput of the OpenAI backend at concurrency 1, 4 and 16 against a latency-bound endpoint,
and the cached re-run.

A real `llama_cpp.server` (SmolLM2-135M) serves the calls through the tests' loopback proxy, which
adds a fixed latency to every call (hosted APIs take ~0.3-2 s per call). The server decodes one
request at a time, so the best possible speed-up at concurrency c is
min(c, (latency + service) / service): the script measures the service time first (concurrency 1,
no added latency) and prints that bound next to each result.

    python bench/bench_openai.py --limit 32 --latency 1.0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.cache import Cache  # noqa: E402
from harness.models.base import BackendOptions  # noqa: E402
from harness.models.openai import OpenAIBackend  # noqa: E402
from harness.records import RunSpec  # noqa: E402
from harness.runner import run  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.llama_server import LlamaServer  # noqa: E402


def timed(spec: RunSpec, url: str, concurrency: int, cache: Cache) -> tuple[float, int]:
    backend = OpenAIBackend("smollm2", BackendOptions(base_url=url, concurrency=concurrency),
                            environ={})
    start = time.perf_counter()
    result = run(spec, root=REPO, backend=backend, cache=cache, progress=False)
    elapsed = time.perf_counter() - start
    assert not result.errors, result.errors[0].error
    return elapsed, result.model_calls


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds added per call")
    parser.add_argument("--mode", default="score")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp server threads")
    args = parser.parse_args()
    spec = RunSpec(task="subjectivity", version="v2", model="openai:smollm2", mode=args.mode,
                   split="all", limit=args.limit)
    server = LlamaServer(n_threads=args.threads).start()
    proxy = FaultProxy(server.port).start()
    off = Cache(Path(tempfile.mkdtemp()), "off")
    try:
        timed(spec, proxy.url, 1, off)  # warm-up: loads pages, fills the server's prefix cache
        service, _ = timed(spec, proxy.url, 1, off)
        per_call = service / args.limit
        print(f"server threads={args.threads}; task=subjectivity/v2 mode={args.mode} examples={args.limit} "
              f"added latency={args.latency:.2f} s")
        print(f"service time (concurrency 1, no added latency): {per_call * 1000:.0f} ms/call")
        proxy.latency_s = args.latency
        results = {}
        for concurrency in (1, 4, 16):
            elapsed, calls = timed(spec, proxy.url, concurrency, off)
            results[concurrency] = elapsed
            bound = min(concurrency, (args.latency + per_call) / per_call)
            print(f"real server + latency, concurrency {concurrency:>2}: {elapsed:7.2f} s  {calls / elapsed:6.2f} calls/s  "
                  f"speed-up {results[1] / elapsed:5.2f}x  (bound {bound:.1f}x)")
        # The same calls against a latency-bound endpoint: the proxy answers each request with
        # the server's recorded answer after the added latency (all requests were recorded
        # above), so the service time is ~0, as on a hosted API with many replicas.
        proxy.latency_s = 0.0
        proxy.memo = {}
        timed(spec, proxy.url, 1, off)  # record every answer once
        proxy.latency_s = args.latency
        bound_free = {}
        for concurrency in (1, 4, 16):
            elapsed, calls = timed(spec, proxy.url, concurrency, off)
            bound_free[concurrency] = elapsed
            print(f"latency-bound endpoint, concurrency {concurrency:>2}: {elapsed:7.2f} s  "
                  f"{calls / elapsed:6.2f} calls/s  speed-up {bound_free[1] / elapsed:5.2f}x  "
                  f"(bound {concurrency}x)")
        proxy.memo = None
        record = Cache(Path(tempfile.mkdtemp()), "record")
        first, _ = timed(spec, proxy.url, 16, record)
        cached, calls = timed(spec, proxy.url, 16, record)
        assert calls == 0
        print(f"cached re-run: {cached:.3f} s (first run at concurrency 16: {first:.2f} s; "
              f"{first / cached:.0f}x; {results[1] / cached:.0f}x vs sequential)")
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
