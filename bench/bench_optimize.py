"""Benchmark: the optimizer on each shipped task, start vs optimized macro-F1 on test, with the
TF-IDF + logistic-regression baseline (trained on train) beside them, where the budget went
(start, train errors, teacher, screening, full validation of contenders), and every
confirmation with its paired test (was anything accepted without a significant gain?).

    python bench/bench_optimize.py [--tasks subjectivity tickets] [--iterations 3] [--seed 0]

Defaults are OptimizeConfig's (what `harness optimize` uses). Runs on a temporary copy of the
project with an empty response cache, so every model call is real and timed; the repo's
prompts/ is not touched.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from harness.cache import Cache
from harness.cli.optimize import describe
from harness.classical import tfidf_logreg
from harness.datasets import load_fixture
from harness.metrics import classification_metrics
from harness.models import get_backend
from harness.optimizer import OptimizeConfig, optimize
from harness.report.optimize import budget_split
from harness.tasks import load_task

DEFAULTS = OptimizeConfig(task="")

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["subjectivity", "tickets"])
    parser.add_argument("--start", default="v2")
    parser.add_argument("--iterations", type=int, default=DEFAULTS.iterations)
    parser.add_argument("--budget-calls", type=int, default=DEFAULTS.budget_calls)
    parser.add_argument("--minibatch", type=int, default=DEFAULTS.minibatch)
    parser.add_argument("--train-sample", type=int, default=DEFAULTS.train_sample)
    parser.add_argument("--confirm", type=int, default=DEFAULTS.confirm)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    args = parser.parse_args()

    backend = get_backend("local")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "prompts", project / "prompts")
        shutil.copytree(ROOT / "datasets", project / "datasets")
        (project / "pyproject.toml").write_text("[tool.harness]\n", encoding="utf-8")
        for name in args.tasks:
            task = load_task(project, name)
            fixture = load_fixture(task)
            test = fixture.select("test")
            baseline = tfidf_logreg(fixture.select("train"), test, task.label_names,
                                    seed=args.seed)
            classical = classification_metrics([e.label for e in test], baseline.predictions,
                                               labels=task.label_names).macro_f1
            config = OptimizeConfig(task=name, start=args.start, budget_calls=args.budget_calls,
                                    iterations=args.iterations, minibatch=args.minibatch,
                                    train_sample=args.train_sample, confirm=args.confirm,
                                    seed=args.seed)
            clock = time.perf_counter()
            result = optimize(config, root=project, backends=lambda model: backend,
                              cache=Cache(project / ".harness-cache", "record"),
                              report_dir=project / "reports",
                              on_event=lambda event: print("  " + describe(event), flush=True))
            wall = time.perf_counter() - clock
            print(f"  budget split (calls charged): {budget_split(result)}")
            for e in result.evaluations:
                if e.gain is not None:
                    print(f"  confirmation: candidate {e.candidate} {e.verdict}: "
                          f"{e.gain.describe()}")
            print(f"  test: {result.test_gain.describe() if result.test_gain else 'no winner'}; "
                  f"holds on test: {result.holds_on_test}; whole run {result.duration_s:.0f} s")
            winner = result.candidates[result.winner]
            rows.append((name, result.start_test.metrics.macro_f1,
                         result.winner_test.metrics.macro_f1, classical,
                         result.start_validation.metrics.macro_f1,
                         result.winner_validation.metrics.macro_f1, result.calls, wall,
                         f"{winner.id} {winner.proposer}"
                         f"{' ' + winner.demos.describe() if winner.demos else ''}",
                         len(result.candidates), result.stop_reason))
    backend.close()
    print(f"\n{'task':<13} {'test F1 start':>13} {'optimized':>10} {'tfidf+LR':>9} "
          f"{'val start':>9} {'val best':>8} {'calls':>6} {'wall s':>7}  winner")
    for r in rows:
        print(f"{r[0]:<13} {r[1]:>13.3f} {r[2]:>10.3f} {r[3]:>9.3f} {r[4]:>9.3f} {r[5]:>8.3f} "
              f"{r[6]:>6} {r[7]:>7.0f}  {r[8]} ({r[9]} candidates; {r[10]})")


if __name__ == "__main__":
    main()
