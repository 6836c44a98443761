"""`harness` command line: a thin shell over harness.api.

Exit status: 0 ok; 1 a gate failed (with --check); 2 bad input or usage (message names the place);
3 some model calls errored (infrastructure), results are partial.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import HarnessError, Session, load_settings, metrics_table
from harness.config import SPLIT_CHOICES
from harness.records import MODES

EXIT_GATE, EXIT_USAGE, EXIT_ERRORS = 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluate versioned classification prompts (prompts/<task>/vN.jinja) against "
                    "ground-truth fixtures (datasets/) on a model, and write reports.",
        epilog="Examples:\n  harness list\n  harness eval subjectivity\n"
               "  harness eval tickets --version v2 --mode generate --split all\n\n"
               "Defaults come from [tool.harness] in pyproject.toml and HARNESS_* variables.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="list tasks, their labels and prompt versions",
                   description="List tasks, their labels and prompt versions.")

    ev = sub.add_parser(
        "eval", help="score prompt versions of a task on its fixtures, print metrics, write reports",
        description="Score prompt versions of TASK on its fixtures; print a metrics table; write "
                    "reports/<run-id>/ (results.jsonl, metrics.json, index.html).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("task", help="task name: a folder prompts/<task>/ with task.yaml")
    ev.add_argument("--version", action="append", dest="versions", metavar="VN",
                    help="prompt version(s) to run, repeatable (default: every version on disk)")
    ev.add_argument("--model", default=None,
                    help="`local` (embedded SmolLM2-135M) or `local:/path/model.gguf` "
                         "(default from config: local)")
    ev.add_argument("--mode", choices=MODES, default=None,
                    help="score: label probabilities (confidence); generate: free text mapped to "
                         "a label or INVALID; constrained: guidance select (default: score)")
    ev.add_argument("--split", choices=SPLIT_CHOICES, default=None, help="fixture split (default: test)")
    ev.add_argument("--limit", type=int, default=None, help="only the first N examples of the split")
    cache = ev.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", action="store_true", help="ignore and do not write the response cache")
    cache.add_argument("--cache-only", action="store_true",
                       help="replay recorded responses only; a miss is an error (CI without a model)")
    ev.add_argument("--report-dir", default=None, help="where run folders are written (default: reports)")
    ev.add_argument("--check", action="store_true",
                    help="exit 1 when a version misses a task.yaml threshold")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "list":
            return _list()
        return _eval(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("harness: interrupted; finished calls are cached, re-run to continue",
              file=sys.stderr)
        return 130


def _list() -> int:
    session = Session(load_settings())
    from harness.tasks import load_task
    for name in session.tasks():
        task = load_task(session.settings.root, name)
        print(f"{name}: {', '.join(task.label_names)}  versions: "
              f"{', '.join(session.versions(name)) or '(none)'}  dataset: {task.dataset.name}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    cache = "off" if args.no_cache else "replay" if args.cache_only else None
    settings = load_settings(overrides={
        "model": args.model, "mode": args.mode, "split": args.split, "limit": args.limit,
        "cache": cache, "report_dir": args.report_dir,
        "progress": False if args.no_progress else None})
    session = Session(settings)
    versions = args.versions or session.versions(args.task)
    if not versions:
        print(f"harness: error: task {args.task!r} has no prompt versions (prompts/{args.task}/v1.jinja)",
              file=sys.stderr)
        return EXIT_USAGE
    rows, failed, errored = [], False, False
    try:
        for version in versions:
            evaluation = session.evaluate(args.task, version)
            gate = evaluation.thresholds
            status = "pass" if gate.passed else "FAIL " + "; ".join(c.name for c in gate.failures)
            rows.append((f"{args.task}/{version}", evaluation.metrics, status))
            failed |= not gate.passed
            errored |= evaluation.metrics.n_errors > 0
            print(f"{args.task}/{version}: {evaluation.result.model_calls} model calls, "
                  f"{evaluation.result.cache_hits} cached -> {evaluation.report_dir}/index.html",
                  file=sys.stderr)
    finally:
        session.close()
    print(f"model={settings.model} mode={settings.mode} split={settings.split}")
    print(metrics_table(rows))
    if errored:
        return EXIT_ERRORS
    return EXIT_GATE if (failed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
