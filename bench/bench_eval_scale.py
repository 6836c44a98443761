"""`harness eval` at scale: a 10,000-example fixture x 3 prompt versions. What does the harness
itself cost (load, render, cache, metrics, classical baseline, report) next to the model, and how
much memory does it take?

The fixture is the 340 subjectivity texts repeated under new ids (said so: a 10k-example labeled
set of real text is not shipped). Per version:
  1. cold: the 340 distinct prompts through the model (cache on): the model's time per call;
  2. warm: all 10,000 examples, every answer from the cache: the harness's own time for 10,000
     examples, since no model call is made (a cache read per example stands in for the call);
the model time of a cold 10,000-example run is then extrapolated as 10,000 x the measured time
per call (a real cold run would take hours here), and the overhead ratio is warm / extrapolated.
v3 is v2 with another instruction (its prompts are new, so it pays its own cold calls).

    python bench/bench_eval_scale.py --examples 10000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

V3 = """{% extends "v2.jinja" %}
{% block instructions %}
Decide whether the sentence states a checkable fact (Objective) or a feeling or judgment
(Subjective). Answer with the label only.
{% endblock %}
"""


def harness(root: Path, *args: str) -> tuple[float, int, str]:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(root / "cache")}
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m",
                           "harness.cli", *args, "--no-progress"], cwd=root, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"harness {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    rss = int(re.findall(r"maxrss_kb=(\d+)", done.stderr)[-1]) // 1024
    return elapsed, rss, done.stdout


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-eval-scale-"))
    shutil.copytree(REPO / "prompts" / "subjectivity", root / "prompts" / "subjectivity")
    (root / "prompts" / "subjectivity" / "v3.jinja").write_text(V3, encoding="utf-8")
    (root / "datasets").mkdir()
    source = [json.loads(line) for line in
              (REPO / "datasets" / "subjectivity.jsonl").read_text(encoding="utf-8").splitlines()]
    shutil.copy(REPO / "datasets" / "subjectivity.jsonl", root / "datasets" / "small.jsonl")
    big = []
    for i in range(args.examples):
        row = dict(source[i % len(source)])
        row["id"] = f"{row['id']}-r{i // len(source)}"
        row.pop("critical", None)
        big.append(json.dumps(row, ensure_ascii=False))
    (root / "datasets" / "big.jsonl").write_text("\n".join(big) + "\n", encoding="utf-8")
    task = root / "prompts" / "subjectivity" / "task.yaml"
    original = task.read_text(encoding="utf-8")
    (root / "pyproject.toml").write_text('[tool.harness]\nreport_dir = "reports"\n',
                                         encoding="utf-8")
    print(f"root {root}; {args.examples} examples ({len(source)} distinct texts repeated), "
          f"threads: default")
    for version in ("v1", "v2", "v3"):
        task.write_text(original.replace("datasets/subjectivity.jsonl", "datasets/small.jsonl"),
                        encoding="utf-8")
        cold, cold_rss, _ = harness(root, "eval", "subjectivity", "--version", version,
                                    "--split", "all")
        again, _, _ = harness(root, "eval", "subjectivity", "--version", version,
                              "--split", "all")  # the same 340 from the cache: all but the model
        task.write_text(original.replace("datasets/subjectivity.jsonl", "datasets/big.jsonl"),
                        encoding="utf-8")
        warm, warm_rss, _ = harness(root, "eval", "subjectivity", "--version", version,
                                    "--split", "all")
        per_call = (cold - again) / len(source)  # the model's own time per example
        model = per_call * args.examples
        print(f"{version}: {len(source)} ex cold {cold:6.1f} s, warm {again:5.1f} s -> model "
              f"{per_call * 1000:4.0f} ms/ex (RSS {cold_rss} MB); {args.examples} ex warm "
              f"{warm:6.1f} s (RSS {warm_rss} MB); model time for {args.examples} extrapolated "
              f"{model:6.0f} s; harness overhead {warm / model:6.1%}")


if __name__ == "__main__":
    main()
