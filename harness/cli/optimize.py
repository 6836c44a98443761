"""`harness optimize`: improve a prompt version on the task's fixtures and write the winner as
the next version (prompts/<task>/vN.jinja) plus a trajectory report."""

from __future__ import annotations

import argparse
import sys

import harness
from harness import OptimizeConfig, load_settings
from harness.cli._common import EXIT_OK

DEFAULTS = OptimizeConfig(task="")


def register(sub: argparse._SubParsersAction) -> None:
    op = sub.add_parser(
        "optimize", help="propose better instructions/demonstrations, keep the best on "
                         "validation, write it as the next prompt version",
        description="Optimize a prompt version of TASK. Candidate 0 is the start version; "
                    "candidates (teacher rewrites of the instruction, training errors as "
                    "demonstrations, kNN demonstrations) are screened on a validation minibatch, "
                    "confirmed on the full validation split, and replace the incumbent only when "
                    "strictly better. Test is scored once at the end. Writes "
                    "prompts/<task>/vN.jinja (extends the start version) and "
                    "reports/<run-id>/{index.html,log.jsonl,checkpoint.json}.",
        epilog="Examples:\n  harness optimize subjectivity --from v2\n"
               "  harness optimize tickets --from v2 --budget-calls 1500 --iterations 3\n"
               "  harness optimize tickets --from v2 --resume   # continue a killed run\n"
               "  harness optimize subjectivity --teacher openai:gpt-4o",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    op.add_argument("task", help="task name: a folder prompts/<task>/ with task.yaml")
    op.add_argument("--from", dest="start", default=DEFAULTS.start, metavar="VN",
                    help=f"the start version (candidate 0) (default: {DEFAULTS.start})")
    op.add_argument("--teacher", default=DEFAULTS.teacher,
                    help="model that rewrites instructions, in generate mode: `local` (embedded, "
                         "weak) or e.g. `openai:gpt-4o` (default: local)")
    op.add_argument("--model", default=None,
                    help="the model the prompt is optimized for (default from config: local)")
    op.add_argument("--budget-calls", type=int, default=DEFAULTS.budget_calls, metavar="N",
                    help=f"most model calls the search may charge; each distinct prompt counts "
                         f"once, cached or not (default: {DEFAULTS.budget_calls})")
    op.add_argument("--iterations", type=int, default=DEFAULTS.iterations, metavar="N",
                    help=f"most proposal rounds (default: {DEFAULTS.iterations})")
    op.add_argument("--patience", type=int, default=DEFAULTS.patience, metavar="N",
                    help=f"stop after N rounds without a better candidate "
                         f"(default: {DEFAULTS.patience})")
    op.add_argument("--target", type=float, default=None, metavar="X",
                    help="stop once the validation metric reaches X")
    op.add_argument("--seed", type=int, default=DEFAULTS.seed,
                    help=f"seed for every sample the loop draws (default: {DEFAULTS.seed})")
    op.add_argument("--minibatch", type=int, default=DEFAULTS.minibatch, metavar="N",
                    help=f"validation examples a candidate is screened on "
                         f"(default: {DEFAULTS.minibatch})")
    op.add_argument("--proposer", action="append", dest="proposers",
                    choices=("teacher", "exemplars", "knn"),
                    help="proposers to use, repeatable (default: all three)")
    op.add_argument("--resume", action="store_true",
                    help="continue the newest unfinished run of TASK with the same settings; "
                         "finished calls are not repeated")
    op.add_argument("--report-dir", default=None, help="where run folders go (default: reports)")
    op.add_argument("--no-progress", action="store_true", help="no progress bars")
    op.set_defaults(run=_optimize)


def _optimize(args: argparse.Namespace) -> int:
    settings = load_settings(overrides={"model": args.model, "report_dir": args.report_dir,
                                        "progress": False if args.no_progress else None})
    config = OptimizeConfig(
        task=args.task, start=args.start, teacher=args.teacher, model=settings.model,
        mode=settings.mode, budget_calls=args.budget_calls, iterations=args.iterations,
        patience=args.patience, target=args.target, seed=args.seed, minibatch=args.minibatch,
        proposers=tuple(dict.fromkeys(args.proposers)) if args.proposers else
        DEFAULTS.proposers)
    session = harness.Session(settings)
    try:
        result = session.optimize(config, resume=args.resume,
                                  echo=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        session.close()
    metric = result.metric.split()[0]
    rows = [("validation", result.start_validation, result.winner_validation),
            ("test", result.start_test, result.winner_test)]
    print(f"{args.task}: stopped: {result.stop_reason}; {len(result.candidates)} candidates, "
          f"{result.charged} calls charged, {result.calls} model calls made, "
          f"{result.duration_s:.0f} s")
    winner = result.candidates[result.winner]
    print(f"{'split':<11} {'start ' + args.start:>12} {'best':>8} {'delta':>7}   ({metric})")
    for split, start, best in rows:
        print(f"{split:<11} {start.score.value:>12.3f} {best.score.value:>8.3f} "
              f"{best.score.value - start.score.value:>+7.3f}")
    if result.written:
        written = _shown(result.written, settings.root)
        print(f"best: candidate {winner.id} ({winner.proposer}); written to {written}")
        parent = _shown(result.written.with_name(f"{args.start}.jinja"), settings.root)
        print(f"review it: git diff --no-index {parent} {written}   then: harness eval "
              f"{args.task} --version {result.written.stem}")
    else:
        print(f"no candidate beat {args.start} on validation; no version written")
    print(f"report: {_shown(result.directory / 'index.html', settings.root)}")
    return EXIT_OK


def _shown(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
