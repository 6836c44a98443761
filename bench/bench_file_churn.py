"""Benchmark: creating small files on the default temp folder vs /dev/shm, fresh and right after
deleting as many (what the test suite does all the time: a git repository, cache and report
folder per test, every atomic write replacing a file). Why tests/scratch.py puts the tests'
scratch files on /dev/shm.

    python bench/bench_file_churn.py [--files 5000] [--rounds 2] [--dirs /tmp /dev/shm]

On ext4 without a journal the kernel skips every inode deleted in the last minute when it
allocates a new one (`recently_deleted` in fs/ext4/ialloc.c), so creating files gets slower the
more were deleted recently. The machine is shared: compare the folders within a round.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def create(folder: Path, count: int) -> float:
    folder.mkdir()
    start = time.perf_counter()
    for i in range(count):
        (folder / f"f{i}").write_bytes(b"x")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dirs", nargs="+", default=[tempfile.gettempdir(), "/dev/shm"])
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        for base in args.dirs:
            root = Path(tempfile.mkdtemp(dir=base, prefix="churn-"))
            try:
                fresh = create(root / "a", args.files)
                shutil.rmtree(root / "a")
                after = create(root / "b", args.files)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            print(f"round {round_}  {base:<10} {args.files} files: {fresh * 1e3 / args.files:.3f} "
                  f"ms each fresh, {after * 1e3 / args.files:.3f} ms each right after deleting "
                  f"{args.files}", flush=True)


if __name__ == "__main__":
    main()
