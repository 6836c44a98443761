"""`harness` command line: a thin shell over harness.api.

Each command group lives in its own module exposing `register(subparsers)`, which adds its parser
and sets `run=<function(args) -> int>`. Exit status: 0 ok; 1 a gate failed (with --check);
2 bad input or usage (the message names the place); 3 some model calls errored (infrastructure),
results are partial; 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

from harness import HarnessError
from harness.errors import format_warning, strict_warnings
from harness.cli import cache, ci, evaluate, label, ls, matrix, optimize, report
from harness.cli._common import EXIT_USAGE

COMMANDS = (evaluate, matrix, ci, report, optimize, cache, ls, label)


@functools.lru_cache(maxsize=1)  # built once per process (~10 ms); parsing leaves it unchanged
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluate versioned classification prompts (prompts/<task>/vN.jinja) against "
                    "ground-truth fixtures (datasets/) on a model, and write reports.",
        epilog="Examples:\n  harness list\n  harness eval subjectivity\n"
               "  harness eval tickets --version v2 --mode generate --split all\n"
               "  harness eval subjectivity --model openai:gpt-4o-mini --concurrency 16\n"
               "  harness matrix subjectivity --strategy zero-shot --strategy few-shot:knn:4\n"
               "  harness report compare RUN_A RUN_B\n"
               "  harness optimize subjectivity --from v2 --iterations 3\n"
               "  harness cache stats\n"
               "  harness label subjectivity --input new.csv --out labeled.csv --accept-above 0.9\n\n"
               "Defaults come from [tool.harness] in pyproject.toml and HARNESS_* variables.\n"
               "`harness COMMAND --help` explains each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    for command_parser in _subcommand_parsers(parser):
        # After the command too (`harness eval T --strict`); SUPPRESS keeps an earlier
        # `harness --strict eval T` from being reset by the subcommand's default.
        command_parser.add_argument("--strict", action="store_true", default=argparse.SUPPRESS,
                                    help=STRICT_HELP)
    return parser


STRICT_HELP = ("treat warnings about the inputs (unknown keys in task.yaml or fixture rows, "
               "most likely typos) as errors")


def _subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
                yield child
                yield from _subcommand_parsers(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    warnings.formatwarning = format_warning
    try:
        with strict_warnings() if args.strict else nullcontext():
            return args.run(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("harness: interrupted; finished calls are cached, re-run to continue",
              file=sys.stderr)
        return 130
