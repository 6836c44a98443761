"""`harness matrix`: every (model x prompting strategy) on the same examples, one page."""

from __future__ import annotations

import argparse
import sys

import harness
from harness import MODES
from harness.cli._common import EXIT_ERRORS, add_strategy_options, run_overrides
from harness.config import SPLIT_CHOICES


def register(sub: argparse._SubParsersAction) -> None:
    mx = sub.add_parser(
        "matrix", help="compare models x prompting strategies on cost vs quality (one page)",
        description="Evaluate one prompt version of TASK with every --model and every "
                    "--strategy on the same examples (each an ordinary, cached evaluation with "
                    "its own report) and write one page: per cell the main metric with its "
                    "95%% CI, accuracy, calls, tokens, wall time and cost, a quality-vs-cost "
                    "plot with the Pareto front and the classical TF-IDF baseline.",
        epilog="Example:\n  harness matrix subjectivity --model local --strategy zero-shot "
               "--strategy few-shot:random:4 --strategy few-shot:knn:4 --limit 40",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mx.add_argument("task", help="task name: a folder prompts/<task>/ with task.yaml")
    mx.add_argument("--model", action="append", dest="models", metavar="MODEL",
                    help="model, repeatable (default from config: local)")
    add_strategy_options(mx, repeatable=True)
    mx.add_argument("--version", default=None, metavar="VN",
                    help="prompt version (default: the newest that is not retired)")
    mx.add_argument("--mode", choices=MODES, default=None, help="how labels are obtained")
    mx.add_argument("--split", choices=SPLIT_CHOICES, default=None,
                    help="fixture split (default: test)")
    mx.add_argument("--limit", type=int, default=None,
                    help="N examples of the split: a seeded, label-stratified sample")
    cache = mx.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", action="store_true", help="ignore the response cache")
    cache.add_argument("--cache-only", action="store_true",
                       help="replay recorded responses only; a miss is an error")
    mx.add_argument("--report-dir", default=None, help="where pages go (default: reports)")
    mx.add_argument("--out", default=None, help="the page's path (default: "
                                                "reports/matrix/<task>-<version>-<time>.html)")
    mx.add_argument("--no-progress", action="store_true", help="no progress bar")
    mx.set_defaults(run=_matrix)


def _matrix(args: argparse.Namespace) -> int:
    overrides = {**run_overrides(args), "model": None, "temperature": args.temperature}
    session = harness.Session(harness.load_settings(overrides=overrides))
    from pathlib import Path

    def progress(evaluation) -> None:
        r = evaluation.result
        print(f"{r.spec.model} · {r.spec.strategy}: {r.model_calls} model calls, "
              f"{r.cache_hits} cached", file=sys.stderr)

    try:
        matrix, path = session.matrix(args.task, models=args.models or (),
                                      strategies=args.strategies or (), version=args.version,
                                      out=Path(args.out) if args.out else None,
                                      on_cell=progress)
    finally:
        session.close()
    print(f"{matrix.task}/{matrix.version} on {matrix.n_examples} {matrix.split} examples, "
          f"main metric {matrix.metric}")
    print(f"{'model':<24} {'strategy':<22} {matrix.metric:>22} {'accuracy':>8} {'calls':>6} "
          f"{'tokens':>9} {'wall s':>7} {'cost $':>10}")
    for c in matrix.cells:
        cost = f"{c.cost_usd:.6f}" if c.cost_usd is not None else "unknown"
        star = " *" if c.pareto else ""
        print(f"{c.model:<24} {c.strategy:<22} {c.metric:>7.3f} [{c.low:.3f}, {c.high:.3f}] "
              f"{c.accuracy:>8.3f} {c.requests:>6} {c.tokens:>9} {c.wall_s:>7.2f} {cost:>10}"
              f"{star}")
    if matrix.classical is not None:
        print(f"{'classical baseline':<47} {matrix.classical:>7.3f}   ({matrix.classical_note})")
    print("* on the Pareto front (no other cell as cheap and at least as good)")
    print(f"page: {path}")
    return EXIT_ERRORS if any(c.errors for c in matrix.cells) else 0
