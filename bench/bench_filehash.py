"""Benchmark: the local model's SHA-256 (part of every local cache key), hashed vs read from the
memo in a cache folder (harness/models/filehash.py).

    python bench/bench_filehash.py [--repeat 3] [--model /path/to/model.gguf]

Each round hashes the whole file, then makes sure the memo exists and reads the digest from it
with the in-process cache cleared (what the next process does). The file is in the page cache
after the first read, so the hash rate is the CPU's, not the disk's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.models import filehash
from harness.models.local import default_model_path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    model = (args.model or default_model_path()).resolve()
    size_mb = model.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as memo_dir:
        for _ in range(args.repeat):
            start = time.perf_counter()
            filehash._hash(model)
            hashed = time.perf_counter() - start
            filehash.file_sha256(model, Path(memo_dir))
            filehash._sha256.cache_clear()
            start = time.perf_counter()
            filehash.file_sha256(model, Path(memo_dir))
            memo = time.perf_counter() - start
            print(f"{model.name} ({size_mb:.0f} MB): hashed in {hashed:.3f} s "
                  f"({size_mb / hashed:.0f} MB/s); from the memo in {memo * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
