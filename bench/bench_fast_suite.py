"""Benchmark: the fast suite (`-m "not model and not server and not labelstudio"`) under
`pytest -n 2`, for one or more source trees, interleaved so each round shares the machine's state.

    python bench/bench_fast_suite.py [--rounds 4] [--tree /path/to/other/checkout ...]

The current checkout is always measured; each `--tree` (a `git worktree add` of an older commit)
runs with `PYTHONPATH=<tree>` and this interpreter, so only the source differs. Before every run
pytest's temp root is removed, under /tmp and /dev/shm (where tests/scratch.py puts it): pytest
deletes its 4th-oldest run folder at start, a cost a fresh machine does not pay. `--keep-temp`
leaves that to pytest, as in a developer's loop (on ext4 without a journal, deleting many files
makes the next minute's file creations slower: tests/scratch.py). Prints one line per run: wall
time, the CPU time the machine was busy during it (/proc/stat, every process: a forkserver the
run leaves behind included), the 1-minute load average before the run, and the pass count pytest
reported. The machine is shared: read ratios within a round, not absolute times across rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
MARKS = "not model and not server and not labelstudio"


def _busy_seconds() -> float | None:
    """CPU time this machine spent busy, all processes (/proc/stat: user, nice, system, irq,
    softirq; not idle, iowait or steal). Unlike the children's rusage it counts what the run
    left behind, e.g. a multiprocessing forkserver, which is never waited for."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def run_once(tree: Path, keep_temp: bool = False) -> tuple[float, float, str]:
    roots = () if keep_temp else {tempfile.gettempdir(), "/dev/shm"}  # see tests/scratch.py
    for root in roots:
        shutil.rmtree(Path(root) / f"pytest-of-{os.environ.get('USER', 'root')}",
                      ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = _busy_seconds()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-m", MARKS, "tests",
                           "-p", "no:cacheprovider"], cwd=tree, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    busy_after = _busy_seconds()
    if busy is not None and busy_after is not None:
        cpu = busy_after - busy
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = re.findall(r"^=*\s*(\d+ passed.*?) in [\d.]+s", done.stdout, re.M)
    return wall, cpu, summary[-1] if summary else f"exit {done.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="another checkout to interleave with this one")
    parser.add_argument("--keep-temp", action="store_true",
                        help="leave pytest's earlier run folders to pytest (a developer's loop)")
    args = parser.parse_args()
    trees = [HERE, *(tree.resolve() for tree in args.tree)]
    for round_ in range(1, args.rounds + 1):
        for tree in trees:
            load = os.getloadavg()[0]
            wall, cpu, summary = run_once(tree, args.keep_temp)
            print(f"round {round_}  {time.strftime('%H:%M:%S', time.gmtime())} UTC  "
                  f"{tree.name:<12} wall {wall:5.1f} s  cpu {cpu:5.1f} s  load {load:4.2f}  "
                  f"{summary}", flush=True)


if __name__ == "__main__":
    main()
