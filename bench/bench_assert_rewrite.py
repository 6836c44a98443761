"""Benchmark: what pytest's assertion rewriting costs each process that collects tests/ (with
PYTHONDONTWRITEBYTECODE set, nothing is cached, so every xdist worker pays it).

    python bench/bench_assert_rewrite.py

Parses every tests/test_*.py, then parses and rewrites their asserts as pytest does, then adds
the compile of the rewritten tree; and, for comparison, compiles the plain sources.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

from _pytest.assertion.rewrite import rewrite_asserts

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    sources = [(str(p), p.read_bytes()) for p in sorted(TESTS.glob("test_*.py"))]

    def parse():
        for name, source in sources:
            ast.parse(source, filename=name)

    def rewrite(compile_too: bool):
        for name, source in sources:
            tree = ast.parse(source, filename=name)
            rewrite_asserts(tree, source, name, None)
            if compile_too:
                compile(tree, name, "exec", dont_inherit=True)

    def plain():
        for name, source in sources:
            compile(source, name, "exec", dont_inherit=True)

    print(f"{len(sources)} test modules: parse {_timed(parse):.2f} s, parse + rewrite "
          f"{_timed(lambda: rewrite(False)):.2f} s, + compile {_timed(lambda: rewrite(True)):.2f} s; "
          f"plain compile {_timed(plain):.2f} s")


if __name__ == "__main__":
    main()
