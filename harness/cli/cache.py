"""`harness cache stats|clear`: look at and empty the response cache."""

from __future__ import annotations

import argparse

import harness


def register(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser(
        "cache", help="show or clear the model response cache",
        description="The response cache (.harness-cache/ or [tool.harness] cache_dir) holds one "
                    "file per model answer, keyed by model, base URL, rendered messages, mode and "
                    "decoding params. Commit it to replay a run in CI with --cache-only (no model, "
                    "no key).")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    stats = actions.add_parser("stats", help="entries, size and entries per model")
    stats.set_defaults(run=_stats)
    clear = actions.add_parser("clear", help="delete cached answers")
    clear.add_argument("--model", default=None,
                       help="only this model's answers, as given to --model (e.g. openai:gpt-4o-mini)")
    clear.set_defaults(run=_clear)


def _cache():
    return harness.Session(harness.load_settings()).cache


def _stats(args: argparse.Namespace) -> int:
    cache = _cache()
    stats = cache.stats()
    print(f"{cache.directory}: {stats['entries']} entries, {stats['bytes'] / 1024:.1f} KiB"
          + (f", {stats['corrupt']} corrupt (ignored on read)" if stats["corrupt"] else ""))
    for model, count in stats["by_model"].items():
        print(f"  {model}: {count}")
    return 0


def _clear(args: argparse.Namespace) -> int:
    cache = _cache()
    removed = cache.clear(model=args.model)
    which = f" of {args.model}" if args.model else ""
    print(f"removed {removed} cached answer(s){which} from {cache.directory}")
    return 0
