"""What every command shares: exit codes and option groups that map onto Settings."""

from __future__ import annotations

import argparse

from harness import MODES
from harness.config import SPLIT_CHOICES

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_ERRORS = 0, 1, 2, 3


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """--model/--mode/--split/--limit/cache/report options, as `harness eval` has them."""
    parser.add_argument("--model", default=None,
                        help="`local` (embedded SmolLM2-135M), `local:/path/model.gguf`, or "
                             "`openai:<model>` for OpenAI / any OpenAI-compatible server "
                             "(default from config: local)")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="score: label probabilities (confidence); generate: free text mapped "
                             "to a label or INVALID; constrained: answers limited to the labels "
                             "(guidance on local, JSON-schema structured output on openai) "
                             "(default: score)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default=None,
                        help="fixture split (default: test)")
    parser.add_argument("--limit", type=int, default=None,
                        help="N examples of the split: a seeded, label-stratified sample")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", action="store_true",
                       help="ignore and do not write the response cache")
    cache.add_argument("--cache-only", action="store_true",
                       help="replay recorded responses only; a miss is an error (CI without a model)")
    parser.add_argument("--report-dir", default=None,
                        help="where run folders are written (default: reports)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    remote = parser.add_argument_group("remote models (openai:<model>)")
    remote.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="calls in flight at once (default: 8; HARNESS_CONCURRENCY)")
    remote.add_argument("--base-url", default=None, metavar="URL",
                        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
                             "(default: OPENAI_BASE_URL, else https://api.openai.com/v1)")
    remote.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="name of the environment variable holding the API key "
                             "(default: OPENAI_API_KEY); the key itself is never a flag")
    remote.add_argument("--max-retries", type=int, default=None, metavar="N",
                        help="retries per call on 429/5xx/timeouts/connection errors (default: 5)")
    remote.add_argument("--timeout", type=float, default=None, metavar="S", dest="timeout_s",
                        help="seconds per attempt (default: 60)")


def run_overrides(args: argparse.Namespace) -> dict:
    """Settings overrides from the options add_run_options added (None = not given). A command
    that adds only some of them (e.g. `ls push`) leaves the others to config."""
    get = lambda name: getattr(args, name, None)  # noqa: E731
    cache = "off" if get("no_cache") else "replay" if get("cache_only") else None
    overrides = {name: get(name) for name in (
        "model", "mode", "split", "limit", "report_dir", "concurrency", "base_url", "api_key_env",
        "max_retries", "timeout_s")}
    return {**overrides, "cache": cache, "progress": False if get("no_progress") else None,
            "strict_baseline": True if get("strict_baseline") else None}


def add_strategy_options(parser: argparse.ArgumentParser, *, repeatable: bool) -> None:
    """--strategy (one, overriding what versions declare; or repeatable, for comparisons) and
    --temperature for self-consistency."""
    names = ("zero-shot, few-shot:random:K, few-shot:errors:K, few-shot:knn:K, cot, "
             "self-consistency:N")
    if repeatable:
        parser.add_argument("--strategy", action="append", dest="strategies", metavar="NAME",
                            help=f"prompting strategy, repeatable: {names} (default: what "
                                 f"the version declares)")
    else:
        parser.add_argument("--strategy", default=None, metavar="NAME",
                            help=f"run this prompting strategy instead of what each version "
                                 f"declares (exploration; reported as an override): {names}")
    parser.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="sampling temperature of self-consistency:N (default 0.7)")
