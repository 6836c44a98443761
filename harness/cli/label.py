"""`harness label TASK --input FILE --out FILE`: a prompt version over a whole data file
(library: harness.labeljob through Session.label)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness
from harness import UsageError, load_settings
from harness.cli._common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, run_overrides
from harness.cli.ls import KEY_ENV, URL_ENV

_EPILOG = f"""\
Examples:
  harness label subjectivity --input new.csv --out labeled.csv --accept-above 0.9
  harness label tickets --input mail.parquet --out labeled.parquet --map text=body
  harness label subjectivity --input new.jsonl --out labeled.csv --review-top 200 --push
      (--push needs {URL_ENV} and {KEY_ENV}, as `harness ls push`)

Formats by extension: .csv .tsv .jsonl .parquet (in and out). Added columns: label, confidence,
p_<label> per label, status (accepted/review/error), error, prompt_version, prompt_hash, model.
Interrupted (Ctrl-C, kill)? Run the same command again: finished rows come from the cache.
Exit status: 0 ok; 2 bad usage or some rows had unusable input (listed); 3 model calls failed.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label", help="label a whole data file (CSV/TSV/JSONL/Parquet) with a prompt version",
        description="Apply a prompt version to every row of a data file and write the rows "
                    "with the predicted label, its confidence and distribution and a status: "
                    "accepted, or review (for a person), or error (with the reason). Streams in "
                    "chunks; every answer is cached as it arrives, so a re-run continues.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", help="task name (prompts/<task>/task.yaml)")
    p.add_argument("--input", type=Path, required=True, metavar="FILE",
                   help="rows to label: .csv, .tsv, .jsonl or .parquet")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="where to write the labeled rows (format from the extension)")
    p.add_argument("--version", help="prompt version (default: the newest that is not retired)")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="read the task's input FIELD from COLUMN (repeatable); other columns "
                        "pass through untouched")
    route = p.add_mutually_exclusive_group()
    route.add_argument("--accept-above", type=float, metavar="P",
                       help="accept rows with confidence >= P; the others go to review")
    route.add_argument("--review-top", type=int, metavar="N",
                       help="send the N least certain rows to review; accept the rest")
    p.add_argument("--push", action="store_true",
                   help="send the review rows to Label Studio, least certain first "
                        "(project '<task> review' unless --project)")
    p.add_argument("--project", metavar="ID|TITLE", help="Label Studio project for --push")
    p.add_argument("--url", help=f"Label Studio URL (default: ${URL_ENV})")
    p.add_argument("--api-key", help=f"Label Studio token (default: ${KEY_ENV})")
    p.add_argument("--model", default=None, help="model backend (default from config: local)")
    p.add_argument("--mode", choices=harness.MODES, default=None,
                   help="score (default) gives confidences; routing needs them")
    p.add_argument("--no-cache", action="store_true",
                   help="ignore the response cache (a re-run then repeats every call)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="calls in flight at once for openai:<model> (default: 8)")
    p.add_argument("--base-url", default=None, metavar="URL",
                   help="OpenAI-compatible endpoint for openai:<model>")
    p.set_defaults(run=_label)


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise UsageError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map sentence=text")
        if field in mapping:
            raise UsageError(f"--map gives {field!r} twice")
        mapping[field] = column
    return mapping


def _label(args: argparse.Namespace) -> int:
    mapping = _mapping(args.map)
    if args.project and not args.push:
        raise UsageError("--project is for --push")
    session = harness.Session(load_settings(overrides=run_overrides(args)))
    try:
        # Before the model runs: a bad Label Studio URL or key fails fast.
        conn = harness.labelstudio.connect(args.url, args.api_key) if args.push else None
        done = session.label(args.task, args.input, args.out, version=args.version,
                             mapping=mapping, push_to=conn, project=args.project,
                             routing=harness.Routing(args.accept_above, args.review_top))
    finally:
        session.close()
    return _report(done, args)


def _report(done, args: argparse.Namespace) -> int:
    s = done.summary
    print(f"labeled {s.rows} row(s) of {args.input} with {done.task}/{done.version} "
          f"(prompt {done.prompt_hash[:12]}, model {done.model}) -> {args.out}")
    print(f"  accepted {s.accepted}, to review {s.review}, errors {s.errors}; "
          f"{s.model_calls} model call(s), {s.cache_hits} from the cache")
    if done.expected is not None:
        e = done.expected
        print(f"  expected accuracy of the accepted rows: "
              f"{'unknown' if e.accuracy is None else f'{e.accuracy:.1%}'} ({e.note})")
    for problem in s.problems:
        print(f"  {problem.place}: {problem.reason}", file=sys.stderr)
    if s.errors > len(s.problems):
        print(f"  ... and {s.errors - len(s.problems)} more error row(s) (status error in "
              f"{args.out})", file=sys.stderr)
    if done.pushed is not None:
        p = done.pushed
        print(f"  pushed {len(p.sent)} review row(s) to Label Studio project {p.project.id} "
              f"{p.project.title!r} ({len(p.created)} new), least certain first")
    elif args.push:
        print("  nothing to push: no row goes to review")
    if s.model_errors:
        print(f"harness: {s.model_errors} model call(s) failed; re-run the same command to "
              f"retry them (the rest comes from the cache)", file=sys.stderr)
        return EXIT_ERRORS
    if s.bad_rows:
        print(f"harness: {s.bad_rows} row(s) have unusable input (status error, listed above)",
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
