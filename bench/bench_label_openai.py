"""`harness label` vs `harness eval` over the OpenAI backend against a latency-bound loopback
endpoint, at concurrency 1, 4 and 16 (issue 15: labeling beyond one machine).

The endpoint is the OpenAI bench's (bench/bench_openai.py): a real `llama_cpp.server`
(SmolLM2-135M) behind the tests' loopback proxy. Its answers are recorded once, then the proxy
replays them after a fixed latency without the server, so every call costs the latency alone, as
on a hosted API or a fleet behind a load balancer. Both commands run as a user runs them (own
process, `--no-cache`) on the same N rows: eval on a fixture of those rows (`--split all`), label
on a CSV of the same texts, so they send the same prompts.

    python bench/bench_label_openai.py --rows 48 --latency 0.5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import copy_task  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.llama_server import LlamaServer  # noqa: E402


def harness(root: Path, url: str, concurrency: int, *args: str) -> float:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-not-a-secret"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args, "--model", "openai:smollm2",
                           "--base-url", url, "--concurrency", str(concurrency), "--no-cache",
                           "--no-progress"], cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"harness {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per call")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp server threads")
    args = parser.parse_args()
    root = copy_task(Path(tempfile.mkdtemp(prefix="bench-label-openai-")) / "project",
                     rows=args.rows)
    rows = [json.loads(line) for line in
            (root / "datasets" / "subjectivity.jsonl").read_text(encoding="utf-8").splitlines()]
    with (root / "input.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([row["id"], row["text"]] for row in rows)
    label = ["label", "subjectivity", "--version", "v2", "--input", "input.csv"]
    evaluate = ["eval", "subjectivity", "--version", "v2", "--split", "all"]

    server = LlamaServer(n_threads=args.threads).start()
    proxy = FaultProxy(server.port).start()
    try:
        proxy.memo = {}  # record every answer once (both commands' prompts), then replay
        harness(root, proxy.url, 4, *evaluate)
        harness(root, proxy.url, 4, *label, "--out", "recorded.csv")
        recorded = len(proxy.memo)
        server.stop()  # from here on no call reaches a model: the cost is the latency
        proxy.latency_s = args.latency
        print(f"root {root}; {args.rows} rows, {recorded} recorded answers, latency "
              f"{args.latency:.2f} s per call, each command in its own process, --no-cache")
        for concurrency in (1, 4, 16):
            e = harness(root, proxy.url, concurrency, *evaluate)
            lab = harness(root, proxy.url, concurrency, *label, "--out", f"out-{concurrency}.csv")
            bound = args.rows * args.latency / concurrency
            print(f"concurrency {concurrency:>2}: eval {e:6.2f} s ({args.rows / e:5.2f} rows/s)  "
                  f"label {lab:6.2f} s ({args.rows / lab:5.2f} rows/s)  label/eval rows/s "
                  f"{e / lab:4.2f}x  (latency alone: {bound:5.2f} s)")
        print(f"answers replayed: {len(proxy.memo)} distinct requests (no new request reached "
              f"the server after recording: {len(proxy.memo) == recorded})")
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
