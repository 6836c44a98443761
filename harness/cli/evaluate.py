"""`harness list` and `harness eval`."""

from __future__ import annotations

import argparse
import sys

from harness import Session, collapse_note, load_settings, metrics_table
from harness.cli._common import EXIT_ERRORS, EXIT_GATE, EXIT_USAGE, add_run_options, run_overrides


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
    ev.add_argument("--check", action="store_true",
                    help="exit 1 when a version misses a task.yaml threshold")
    ev.set_defaults(run=_eval)


def _list(args: argparse.Namespace) -> int:
    session = Session(load_settings())
    from harness.tasks import load_task
    for name in session.tasks():
        task = load_task(session.settings.root, name)
        print(f"{name}: {', '.join(task.label_names)}  versions: "
              f"{', '.join(session.versions(name)) or '(none)'}  dataset: {task.dataset.name}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    settings = load_settings(overrides=run_overrides(args))
    session = Session(settings)
    versions = args.versions or session.versions(args.task)
    if not versions:
        print(f"harness: error: task {args.task!r} has no prompt versions (prompts/{args.task}/v1.jinja)",
              file=sys.stderr)
        return EXIT_USAGE
    rows, failed, errored, notes = [], False, False, []
    try:
        for version in versions:
            evaluation = session.evaluate(args.task, version)
            gate = evaluation.thresholds
            status = "pass" if gate.passed else "FAIL " + "; ".join(c.name for c in gate.failures)
            if evaluation.metrics.n_errors:  # a gate on partial answers would be a guess
                status = f"not judged: {evaluation.metrics.n_errors} calls failed"
            rows.append((f"{args.task}/{version}", evaluation.metrics, status))
            failed |= not gate.passed
            errored |= evaluation.metrics.n_errors > 0
            result = evaluation.result
            print(f"{args.task}/{version}: {result.model_calls} model calls, "
                  f"{result.cache_hits} cached, {_usage_and_cost(result)} -> "
                  f"{evaluation.report_dir}/index.html", file=sys.stderr)
            notes += _notes(f"{args.task}/{version}", result, collapse_note(evaluation.metrics))
        for path in session.compare_session_versions():
            print(f"comparison of the versions -> {path}", file=sys.stderr)
    finally:
        session.close()
    print(f"model={settings.model} mode={settings.mode} split={settings.split}")
    print(metrics_table(rows))
    print(f"all runs: {session.report_root / 'index.html'}")
    for note in notes:
        print(note, file=sys.stderr)
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


def _notes(name: str, result, collapsed: str | None = None) -> list[str]:
    """What a reader of the table must know: failed calls, missing confidences, a collapse."""
    notes = [f"harness: {name}: {collapsed}"] if collapsed else []
    if result.errors:
        notes.append(f"harness: {name}: {len(result.errors)} of {len(result.predictions)} model "
                     f"calls failed (infrastructure, not wrong answers; metrics cover the "
                     f"answered ones): {result.errors[0].error}\n  re-run the same command to "
                     f"retry only those; finished calls are cached")
    if result.without_confidence:
        notes.append(f"harness: {name}: confidence unavailable for {result.without_confidence} "
                     f"answers (the server gave no usable logprobs for them); none was invented")
    return notes
