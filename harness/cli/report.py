"""`harness report compare` and `harness report index`."""

from __future__ import annotations

import argparse
from pathlib import Path

import harness
from harness import HarnessError, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="compare written runs; rebuild the reports index",
        description="Work with written reports (reports/<run-id>/). Nothing here runs a model.")
    actions = report.add_subparsers(dest="report_command", metavar="ACTION")

    compare = actions.add_parser(
        "compare", help="metrics side by side, flipped examples, McNemar exact test",
        description="Compare two or more runs of one task on the same examples: metrics and "
                    "per-label metrics side by side with deltas against the first run, the "
                    "examples each run fixed or broke, and McNemar's exact test on those flips. "
                    "Runs on different tasks, dataset contents or splits are refused.",
        epilog="Example:\n  harness report compare 20260101T120000-subjectivity-v1-score-test-ab12cd "
               "reports/20260101T120500-subjectivity-v2-score-test-ef34ab\n\n"
               "`ls reports/` or reports/index.html lists the run ids.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("runs", nargs="+", metavar="RUN",
                         help="a run folder, or a run id under the report dir; the first is the "
                              "reference")
    compare.add_argument("--out", type=Path, default=None,
                         help="where to write the page (default: <report-dir>/compare/"
                              "<task>-<versions>-<time>.html)")
    compare.add_argument("--report-dir", default=None,
                         help="where run ids are looked up (default: reports)")
    compare.set_defaults(run=_compare)

    index = actions.add_parser("index", help="rebuild <report-dir>/index.html from the runs on disk",
                               description="Rebuild <report-dir>/index.html (it is also rebuilt "
                                           "after every run).")
    index.add_argument("--report-dir", default=None, help="default: reports")
    index.set_defaults(run=_index)
    report.set_defaults(run=lambda args: _help(report))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _report_root(args: argparse.Namespace) -> Path:
    """The project's report dir; outside a project, --report-dir or ./reports (reports are
    plain folders and can be compared wherever they were copied)."""
    try:
        settings = load_settings(overrides={"report_dir": args.report_dir})
    except HarnessError:
        return Path(args.report_dir or "reports")
    return settings.resolve(settings.report_dir)


def _compare(args: argparse.Namespace) -> int:
    root = _report_root(args)
    path = harness.write_comparison(root, args.runs, out=args.out)
    if (root / "index.html").is_file() or any(root.glob("*/metrics.json")):
        harness.write_index(root)  # lists the new comparison
    print(path)
    return 0


def _index(args: argparse.Namespace) -> int:
    print(harness.write_index(_report_root(args)))
    return 0
