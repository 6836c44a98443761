"""Benchmark: the optimizer on each shipped task, start vs optimized macro-F1 on test, with the
TF-IDF + logistic-regression baseline (trained on train) beside them, where the budget went
(start, train errors, teacher, screening split by verdict, full validation of contenders),
each candidate's fate with the paired test of every confirmation (was anything accepted without
a significant gain?), and the time estimate the start printed vs the whole run's duration.

    python bench/bench_optimize.py [--tasks subjectivity tickets] [--iterations 3] [--seed 0]
                                   [--budget-calls N] [--proposers teacher knn exemplars]
                                   [--rows N]

`--rows N` keeps the first N rows of each dataset (labels are interleaved in the shipped files;
splits are still assigned by the task's seeded stratified rule): a run that fits a busy machine.

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
from harness.optimizer import events as ev
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
    parser.add_argument("--proposers", nargs="+", default=list(DEFAULTS.proposers))
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()

    backend = get_backend("local")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "prompts", project / "prompts")
        shutil.copytree(ROOT / "datasets", project / "datasets")
        if args.rows:
            for path in (project / "datasets").glob("*.jsonl"):
                lines = path.read_text(encoding="utf-8").split("\n")
                path.write_text("\n".join(lines[:args.rows]) + "\n", encoding="utf-8")
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
                                    seed=args.seed, proposers=tuple(args.proposers))
            events: list = []

            def on_event(event) -> None:
                events.append(event)
                print(f"  [{time.perf_counter() - clock:6.0f} s] {describe(event)}", flush=True)

            clock = time.perf_counter()
            result = optimize(config, root=project, backends=lambda model: backend,
                              cache=Cache(project / ".harness-cache", "record"),
                              report_dir=project / "reports", on_event=on_event)
            wall = time.perf_counter() - clock
            report_fates(result, events, wall)
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


def report_fates(result, events, wall: float) -> None:
    """Each candidate's fate, the budget split with screening by verdict, estimate vs real."""
    print(f"  budget split (calls charged): {budget_split(result)}")
    screening: dict[str, int] = {}
    for e in result.evaluations:
        if e.stage == "screen":
            screening[e.verdict] = screening.get(e.verdict, 0) + e.charged
    print(f"  screening charged by verdict: {screening}")
    fates: dict[int, list[str]] = {c.id: [] for c in result.candidates}
    for e in result.evaluations:
        if e.candidate and e.stage in ("screen", "validation"):
            gain = f" ({e.gain.describe()})" if e.gain else ""
            fates[e.candidate].append(f"{e.stage}: {e.verdict}{gain}")
    for event in events:
        if isinstance(event, ev.NotScored):
            fates[event.candidate.id].append(f"{event.stage}: not scored ({event.reason})")
    for c in result.candidates[1:]:
        what = c.demos.describe() if c.demos else "instruction only"
        print(f"  candidate {c.id} ({c.proposer}, {what}): {'; '.join(fates[c.id]) or '-'}")
    for r in result.rejections:
        print(f"  rejected before scoring (iteration {r.iteration}, {r.proposer}): {r.reason}")
    accepted = [e for e in result.evaluations if e.verdict == "accepted"]
    unsupported = [e for e in accepted if e.gain is None or e.gain.delta < result.config.min_effect
                   or e.gain.pvalue > result.config.alpha]
    print(f"  accepted: {len(accepted)}; accepted without a significant gain >= "
          f"{result.config.min_effect}: {len(unsupported)}")
    estimate = next((e for e in events if isinstance(e, ev.TimeEstimate)), None)
    if estimate is not None:
        print(f"  time estimate at the start: {estimate.seconds:.0f} s for at most "
              f"{estimate.calls} calls ({estimate.seconds_per_call:.2f} s/call from "
              f"{estimate.sampled_calls} timed); real: {wall:.0f} s wall, {result.calls} calls, "
              f"run duration recorded {result.duration_s:.0f} s")


if __name__ == "__main__":
    main()
