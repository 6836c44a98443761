"""`harness ci`: check the prompt versions a change affects (base vs head, paired gate)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import harness
from harness.cli._common import EXIT_ERRORS, EXIT_GATE, EXIT_OK, add_run_options, run_overrides


def register(sub: argparse._SubParsersAction) -> None:
    ci = sub.add_parser(
        "ci", help="gate the prompt versions a change affects: base vs head on the same examples",
        description="Find the prompt versions a change affects (templates and everything that "
                    "extends/includes/imports them, sidecars, task.yaml, datasets), evaluate "
                    "the base version (read from git) and the head version on the same "
                    "examples, and run the paired gate plus the task.yaml thresholds. New "
                    "versions get the thresholds only; unaffected versions cost no model call. "
                    "Exit 0 pass, 1 regression or threshold missed, 2 bad input, 3 model calls "
                    "failed.")
    ci.add_argument("--base", default=None, metavar="REF",
                    help="base commit (default: the merge-base of HEAD with origin/main, else "
                         "main)")
    ci.add_argument("--summary", type=Path, default=None, metavar="FILE",
                    help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY)")
    ci.add_argument("--junit", type=Path, default=None, metavar="FILE",
                    help="write JUnit XML: a testcase per gate check and critical case")
    ci.add_argument("--strict-baseline", action="store_true",
                    help="point rule: any drop beyond the tolerance fails (no paired test)")
    add_run_options(ci)
    ci.set_defaults(run=_ci)


def _ci(args: argparse.Namespace) -> int:
    session = harness.Session(harness.load_settings(overrides=run_overrides(args)))
    try:
        report = harness.check_changes(session, args.base)
    finally:
        session.close()
    print(f"base {report.base[:12]} ({report.base_label}); model={report.model} "
          f"mode={report.mode} split={report.split}"
          + (f" limit={report.limit}" if report.limit else ""))
    for v in report.verdicts:
        print(f"{v.id:<28} {v.change:<9} {v.status.upper():<8} {v.model_calls:>5} calls  "
              f"{len([f for f in v.flips if not f.fixed])} broken, "
              f"{len([f for f in v.flips if f.fixed])} fixed  ({v.why})")
        for reason in v.reasons:
            print(f"    {reason}")
        for note in v.notes:
            print(f"    note: {note}")
    for change in report.unaffected:
        print(f"{change.id:<28} not affected (0 model calls)")
    for change in report.deleted:
        print(f"{change.id:<28} deleted ({change.reason})")
    markdown = harness.markdown_summary(report)
    if args.summary:
        args.summary.write_text(markdown, encoding="utf-8")
        print(f"summary: {args.summary}", file=sys.stderr)
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if args.junit:
        args.junit.write_text(harness.junit_xml(report), encoding="utf-8")
        print(f"junit: {args.junit}", file=sys.stderr)
    return {"fail": EXIT_GATE, "error": EXIT_ERRORS}.get(report.status, EXIT_OK)
