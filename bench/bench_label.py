"""`harness label` at scale: N generated rows (the 340 subjectivity fixture texts, repeated, so
most rows hit the response cache once each text was asked; a sample of rows gets unique texts and
a cold cache), against `harness eval` of the same prompts.

Measures, each command in its own process (peak RSS from /usr/bin/time):
  1. model only: `harness eval --limit 1` with the cache off (the model's own footprint);
  2. eval, cache warm: `harness eval subjectivity --version v2 --split all` (340 prompts);
  3. label, cache warm: the same 340 texts as a CSV through `harness label` (same prompts);
  4. eval vs label, cold: SAMPLE unique new texts (the model dominates);
  5. label of N rows (N - SAMPLE repeated fixture texts + SAMPLE cold ones) to CSV.

    python bench/bench_label.py --rows 100000 --sample 40
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
PY = str(REPO / ".venv" / "bin" / "python")


def harness(root: Path, *args: str, cache: str = "cache") -> tuple[float, int, str]:
    """(seconds, peak RSS in MB, stdout) of `harness ARGS` in its own process."""
    env = {**os.environ, "HARNESS_THREADS": os.environ.get("HARNESS_THREADS", "1"),
           "HARNESS_CACHE_DIR": str(root / cache)}
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", PY, "-m", "harness.cli", *args,
                           "--no-progress"], cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"harness {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    rss = int(re.search(r"maxrss_kb=(\d+)", done.stderr).group(1)) // 1024
    return elapsed, rss, done.stdout


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=40, help="rows with a cold cache")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-label-"))
    shutil.copytree(REPO / "prompts" / "subjectivity", root / "prompts" / "subjectivity")
    (root / "datasets").mkdir()
    shutil.copy(REPO / "datasets" / "subjectivity.jsonl", root / "datasets")
    (root / "pyproject.toml").write_text('[tool.harness]\nreport_dir = "reports"\n')
    texts = [json.loads(line)["text"] for line in
             (REPO / "datasets" / "subjectivity.jsonl").read_text().splitlines()]
    cold = [f"{texts[i % len(texts)]} (batch {i})" for i in range(args.sample)]

    def csv_of(name: str, rows: list[str]) -> None:
        import csv
        with (root / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "source"])
            writer.writerows((f"r{i}", text, f"shop-{i % 7}") for i, text in enumerate(rows))

    csv_of("fixture.csv", texts)
    csv_of("cold.csv", cold)
    big = [texts[i % len(texts)] for i in range(args.rows - args.sample)] + cold
    csv_of("big.csv", big)
    cold_fixture = root / "datasets" / "cold.jsonl"
    cold_fixture.write_text("".join(json.dumps({"id": f"c{i}", "text": t, "label": "Objective"})
                                    + "\n" for i, t in enumerate(cold)))
    print(f"root {root}; rows={args.rows} (fixture texts repeated; {args.sample} cold); "
          f"HARNESS_THREADS={os.environ.get('HARNESS_THREADS', '1')}")

    t, rss_model, _ = harness(root, "eval", "subjectivity", "--version", "v2", "--limit", "1",
                              "--no-cache")
    print(f"model only (eval --limit 1, no cache): {t:7.2f} s  peak RSS {rss_model} MB")
    harness(root, "eval", "subjectivity", "--version", "v2", "--split", "all")  # fill the cache
    t_eval, rss, _ = harness(root, "eval", "subjectivity", "--version", "v2", "--split", "all")
    print(f"eval warm   {len(texts)} ex : {t_eval:7.2f} s  {len(texts) / t_eval:8.1f} rows/s  "
          f"peak RSS {rss} MB")
    t_label, rss, out = harness(root, "label", "subjectivity", "--version", "v2", "--input",
                                "fixture.csv", "--out", "fixture-out.csv")
    print(f"label warm  {len(texts)} rows: {t_label:7.2f} s  {len(texts) / t_label:8.1f} rows/s  "
          f"peak RSS {rss} MB  (label/eval rows/s = {t_eval / t_label:.2f}x)")
    assert f"0 model call(s), {len(texts)} from the cache" in out, out

    # Cold: a fresh cache each, the same new texts.
    task_yaml = root / "prompts" / "subjectivity" / "task.yaml"
    original = task_yaml.read_text()
    task_yaml.write_text(original.replace("datasets/subjectivity.jsonl", "datasets/cold.jsonl"))
    t_ec, _, _ = harness(root, "eval", "subjectivity", "--version", "v2", "--split", "all",
                         cache="cold-eval")
    task_yaml.write_text(original)
    t_lc, _, _ = harness(root, "label", "subjectivity", "--version", "v2", "--input", "cold.csv",
                         "--out", "cold-out.csv", cache="cold-label")
    print(f"cold {args.sample} rows : eval {t_ec:6.2f} s ({args.sample / t_ec:.1f} rows/s), "
          f"label {t_lc:6.2f} s ({args.sample / t_lc:.1f} rows/s); label/eval rows/s = "
          f"{t_ec / t_lc:.2f}x")

    t_big, rss_big, out = harness(root, "label", "subjectivity", "--version", "v2", "--input",
                                  "big.csv", "--out", "big-out.csv", "--review-top", "100")
    print(f"label {args.rows} rows ({args.rows - args.sample} warm, {args.sample} cold): "
          f"{t_big:7.2f} s  {args.rows / t_big:8.1f} rows/s  peak RSS {rss_big} MB "
          f"(model only {rss_model} MB: +{rss_big - rss_model} MB)")
    print("   " + out.strip().replace("\n", "\n   "))
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
