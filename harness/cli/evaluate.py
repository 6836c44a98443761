"""`harness list` and `harness eval`."""

from __future__ import annotations

import argparse
import sys

import harness
from harness import wording
from harness.cli._common import (EXIT_ERRORS, EXIT_GATE, EXIT_USAGE, add_run_options,
                                 add_strategy_options, run_overrides)


def register(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("list", help="list tasks, their labels and prompt versions",
                        description="List tasks, their labels and prompt versions.")
    ls.set_defaults(run=_list)

    ev = sub.add_parser(
        "eval", help="score prompt versions of a task on its fixtures, print metrics, write reports",
        description="Score prompt versions of TASK on its fixtures; print a metrics table; write "
                    "reports/<run-id>/ (results.jsonl, metrics.json, index.html).")
    ev.add_argument("task", help="task name: a folder prompts/<task>/ with task.yaml")
    ev.add_argument("--version", action="append", dest="versions", metavar="VN",
                    help="prompt version(s) to run, repeatable (default: every version on disk)")
    add_run_options(ev)
    add_strategy_options(ev, repeatable=False)
    ev.add_argument("--check", action="store_true",
                    help="exit 1 when a version misses a task.yaml threshold")
    ev.add_argument("--strict-baseline", action="store_true",
                    help="compare with the baseline by the point rule (any drop beyond the "
                         "tolerance) instead of the paired test")
    ev.add_argument("--update-baseline", action="store_true",
                    help="accept this run as evals/baselines/<task>/<version>.json (with the "
                         "task's critical cases)")
    ev.set_defaults(run=_eval)


def _list(args: argparse.Namespace) -> int:
    session = harness.Session(harness.load_settings())
    for name in session.tasks():
        task = session.task(name)
        print(f"{name}: {', '.join(task.label_names)}  versions: "
              f"{', '.join(session.versions(name)) or '(none)'}  dataset: {task.dataset.name}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    settings = harness.load_settings(overrides={**run_overrides(args),
                                                "strategy": args.strategy,
                                                "temperature": args.temperature})
    session = harness.Session(settings)
    versions = args.versions or session.versions(args.task)
    if not versions:
        print(f"harness: error: task {args.task!r} has no prompt versions (prompts/{args.task}/v1.jinja)",
              file=sys.stderr)
        return EXIT_USAGE
    rows, failed, errored, notes = [], False, False, []
    try:
        for version in versions:
            evaluation = session.evaluate(args.task, version)
            rows.append((evaluation.name, evaluation.metrics, wording.status(evaluation)))
            failed |= not evaluation.thresholds.passed and not evaluation.retired
            errored |= evaluation.metrics.n_errors > 0
            result = evaluation.result
            print(f"{evaluation.name}: {result.model_calls} model calls, "
                  f"{result.cache_hits} cached, {_usage_and_cost(result)} -> "
                  f"{evaluation.report_dir}/index.html", file=sys.stderr)
            if args.update_baseline and not evaluation.metrics.n_errors:
                critical = session.evaluate(args.task, version, split="critical")
                notes.append(f"baseline written: {session.update_baseline(evaluation, critical)}")
            else:
                notes.append(wording.baseline_status(evaluation))
            notes += wording.notes(evaluation)
        for path in session.compare_session_versions():
            print(f"comparison of the versions -> {path}", file=sys.stderr)
    finally:
        session.close()
    print(f"model={settings.model} mode={settings.mode} split={settings.split}"
          + (f" strategy={settings.strategy} (override)" if settings.strategy else ""))
    print(harness.metrics_table(rows))
    print(f"all runs: {session.report_root / 'index.html'}")
    for note in notes:
        print(f"harness: {note}", file=sys.stderr)
    if errored:
        return EXIT_ERRORS
    return EXIT_GATE if (failed and args.check) else 0


def _usage_and_cost(result) -> str:
    tokens = sum(p.usage.prompt_tokens + p.usage.completion_tokens
                 for p in result.predictions if not p.cached)
    if result.price is None:
        return f"{tokens} tokens, cost unknown (no price for {result.spec.model!r} in " \
               f"[tool.harness.prices])"
    spent = sum(result.price.cost(p.usage) for p in result.predictions if not p.cached)
    return f"{tokens} tokens, ${spent:.4f}"
