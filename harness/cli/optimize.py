"""`harness optimize`: improve a prompt version on the task's fixtures and write the winner as
the next version (prompts/<task>/vN.jinja) plus a trajectory report. The library reports typed
events (harness.optimizer.events); this module words them (by event type name: the CLI goes
through the public API only)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

import harness
from harness import OptimizeConfig, load_settings
from harness.cli._common import EXIT_ERRORS, EXIT_OK

DEFAULTS = OptimizeConfig(task="")
FLAGS = {"budget_calls": "--budget-calls", "iterations": "--iterations",
         "patience": "--patience", "target": "--target"}


def register(sub: argparse._SubParsersAction) -> None:
    op = sub.add_parser(
        "optimize", help="propose better instructions/demonstrations, keep the best on "
                         "validation, write it as the next prompt version",
        description="Optimize a prompt version of TASK. Candidate 0 is the start version; "
                    "candidates (teacher rewrites of the instruction, training errors as "
                    "demonstrations, kNN demonstrations) are screened on a validation minibatch; "
                    "only those strictly better there are scored on the full validation split, "
                    "and one replaces the incumbent only for a real gain (at least --min-effect "
                    "and a paired test with p <= --alpha). Test is scored once at the end. "
                    "Writes prompts/<task>/vN.jinja (extends the start version) and "
                    "reports/<run-id>/{index.html,log.jsonl,checkpoint.json,calls.jsonl}. "
                    "Exit 3 when model calls failed (resume once the model answers again).",
        epilog="Examples:\n  harness optimize subjectivity --from v2\n"
               "  harness optimize tickets --from v2 --budget-calls 1500 --iterations 3\n"
               "  harness optimize tickets --resume                # continue a killed run\n"
               "  harness optimize tickets --resume --budget-calls 2000   # ... with more budget\n"
               "  harness optimize subjectivity --teacher openai:gpt-4o",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    op.add_argument("task", help="task name: a folder prompts/<task>/ with task.yaml")
    op.add_argument("--from", dest="start", default=None, metavar="VN",
                    help=f"the start version (candidate 0); its template needs the blocks "
                         f"`instructions` and `demonstrations` (default: {DEFAULTS.start})")
    op.add_argument("--teacher", default=None,
                    help="model that rewrites instructions, in generate mode: `local` (embedded, "
                         "weak) or e.g. `openai:gpt-4o` (default: local)")
    op.add_argument("--model", default=None,
                    help="the model the prompt is optimized for (default from config: local)")
    op.add_argument("--budget-calls", type=int, default=None, metavar="N",
                    help=f"most model calls the search may charge; each distinct prompt counts "
                         f"once, cached or not (default: {DEFAULTS.budget_calls})")
    op.add_argument("--iterations", type=int, default=None, metavar="N",
                    help=f"most proposal rounds (default: {DEFAULTS.iterations})")
    op.add_argument("--patience", type=int, default=None, metavar="N",
                    help=f"stop after N rounds without a better candidate "
                         f"(default: {DEFAULTS.patience})")
    op.add_argument("--target", type=float, default=None, metavar="X",
                    help="stop once the validation metric reaches X")
    op.add_argument("--seed", type=int, default=None,
                    help=f"seed for every sample the loop draws (default: {DEFAULTS.seed})")
    op.add_argument("--minibatch", type=int, default=None, metavar="N",
                    help=f"validation examples a candidate is screened on "
                         f"(default: {DEFAULTS.minibatch})")
    op.add_argument("--min-effect", type=float, default=None, metavar="X", dest="min_effect",
                    help=f"smallest validation gain that replaces the incumbent "
                         f"(default: {DEFAULTS.min_effect})")
    op.add_argument("--alpha", type=float, default=None, metavar="P",
                    help=f"the paired test on validation must give p <= P "
                         f"(default: {DEFAULTS.alpha})")
    op.add_argument("--proposer", action="append", dest="proposers",
                    choices=("teacher", "exemplars", "knn"),
                    help="proposers to use, repeatable (default: all three)")
    op.add_argument("--resume", action="store_true",
                    help="continue the newest unfinished run of TASK with its own settings; "
                         "--budget-calls/--iterations/--patience/--target given with it "
                         "change them; finished calls are not repeated")
    op.add_argument("--report-dir", default=None, help="where run folders go (default: reports)")
    op.add_argument("--no-progress", action="store_true", help="no progress bars")
    op.set_defaults(run=_optimize)


def _optimize(args: argparse.Namespace) -> int:
    settings = load_settings(overrides={"model": args.model, "report_dir": args.report_dir,
                                        "progress": False if args.no_progress else None})
    given = {f.name: getattr(args, f.name) for f in fields(OptimizeConfig)
             if getattr(args, f.name, None) is not None}
    if "proposers" in given:
        given["proposers"] = tuple(dict.fromkeys(given["proposers"]))
    config = OptimizeConfig(**{**given, "task": args.task, "model": settings.model,
                               "mode": settings.mode})
    session = harness.Session(settings)
    try:
        result = session.optimize(config, resume=args.resume, explicit=frozenset(given),
                                  on_event=lambda event: print(
                                      describe(event), file=sys.stderr, flush=True))
    except harness.CallsFailed as exc:
        print(f"harness: error: {exc}. These are infrastructure errors, not wrong answers; no "
              f"candidate was judged on part of its examples. Finished calls are cached: fix "
              f"the cause, then `harness optimize {args.task} --resume`", file=sys.stderr)
        return EXIT_ERRORS
    finally:
        session.close()
    print(summary(result, settings.root))
    return EXIT_OK


# -- wording ------------------------------------------------------------------------------------
SCREENED = {"better": "better: confirming on the full validation split",
            "not-confirmed": "better, but not among the best this iteration: not confirmed",
            "tie": "tie with the incumbent: not confirmed",
            "worse": "worse than the incumbent: dropped"}


def describe(event) -> str:
    """One line (or two) for an event of harness.optimizer.events."""
    match type(event).__name__:
        case "Started":
            teacher = f"teacher {event.teacher}" if event.teacher else "no teacher"
            return (f"optimizing {event.task}/{event.start} for {event.objective} on validation "
                    f"({event.n_validation} examples); train {event.n_train}, test "
                    f"{event.n_test}; {teacher}, seed {event.seed}\n"
                    f"budget {event.budget_calls} calls charged at most (each distinct prompt "
                    f"once, cached or not); the search needs up to {event.search_calls}, the "
                    f"final test scoring {event.test_calls} more (not charged)")
        case "Resumed":
            kept = ", ".join(f"{n} {_value(v)}" for n, v in event.kept)
            text = (f"resuming {event.run_id} after iteration {event.after_iteration} "
                    f"({event.charged} calls charged, {event.calls} made so far)")
            if event.changed:
                text += "; changed: " + ", ".join(f"{n} {_value(old)} -> {_value(new)}"
                                                   for n, old, new in event.changed)
            if kept:
                flags = "/".join(FLAGS[n] for n, _ in event.kept)
                text += f"; kept as the run was started: {kept} (pass {flags} to change)"
            return text
        case "TimeEstimate":
            if not event.sampled_calls:
                return "no time estimate: the sampled calls were all answered from the cache"
            return (f"estimated time: about {_duration(event.seconds)} for up to {event.calls} "
                    f"more calls at {event.seconds_per_call:.2f} s per call (measured on "
                    f"{event.sampled_calls} calls; a teacher rewrite takes longer, a cached "
                    f"call almost nothing)")
        case "StartScored":
            return f"start: validation {event.score.value:.3f}{_feasible(event.score)}"
        case "Proposed":
            c = event.candidate
            return f"  candidate {c.id} ({c.proposer}): {c.rationale}"
        case "ProposalRejected":
            r = event.rejection
            return f"  {r.proposer} proposal rejected: {r.reason}"
        case "Screened":
            c = event.candidate
            return (f"  candidate {c.id} ({c.proposer}): screening {event.score.value:.3f} vs "
                    f"incumbent {event.against.value:.3f} on {event.score.n} examples: "
                    f"{SCREENED[event.verdict]}")
        case "Confirmed":
            c, g = event.candidate, event.gain
            verdict = {"accepted": "accepted: the new incumbent",
                       "not-better": "not better: not accepted",
                       "small": "gain below the minimum effect: not accepted",
                       "not-significant": "not significant: not accepted"}[event.verdict]
            return (f"  candidate {c.id} ({c.proposer}): validation {event.score.value:.3f}"
                    f"{_feasible(event.score)} vs incumbent {event.against.value:.3f} "
                    f"({g.delta:+.3f}, 95% CI [{g.low:+.3f}, {g.high:+.3f}], p={g.pvalue:.3g}): "
                    f"{verdict}")
        case "NotScored":
            c = event.candidate
            return f"  candidate {c.id} ({c.proposer}): not scored on {event.stage}: {event.reason}"
        case "IterationDone":
            c = event.incumbent
            return (f"iteration {event.iteration}/{event.iterations}: best {event.best.value:.3f} "
                    f"(candidate {c.id}, {c.proposer}; start {event.start.value:.3f})"
                    f"{' NEW' if event.accepted else ''}; {event.charged}/{event.budget_calls} "
                    f"calls charged, {event.calls} made")
        case "Stopped":
            return f"stopped: {event.reason}"
        case "FinalScoring":
            return f"scoring test once, for the start and the winner ({event.calls} examples)"
    return str(event)


def summary(result, root) -> str:
    start = result.config.start
    rejected = f" ({len(result.rejections)} proposals rejected)" if result.rejections else ""
    lines = [f"{result.config.task}: stopped: {result.stop_reason}; {len(result.candidates)} "
             f"candidates{rejected}, {result.charged} calls charged, {result.calls} model calls "
             f"made, {_duration(result.duration_s)} in all",
             f"{'split':<11} {'start ' + start:>12} {'best':>7} {'delta':>7}  "
             f"{'95% CI of delta':<17} {'p':>6}   ({result.metric})"]
    rows = [("validation", result.start_validation, result.winner_validation,
             result.validation_gain), ("test", result.start_test, result.winner_test,
                                       result.test_gain)]
    for split, s, w, g in rows:
        ci = f"[{g.low:+.3f}, {g.high:+.3f}]" if g else ""
        p = f"{g.pvalue:.3g}" if g else ""
        lines.append(f"{split:<11} {s.score.value:>12.3f} {w.score.value:>7.3f} "
                     f"{w.score.value - s.score.value:>+7.3f}  {ci:<17} {p:>6}")
    winner = result.candidates[result.winner]
    if result.written:
        written = _shown(result.written, root)
        if result.holds_on_test:
            lines.append("the gain holds on test")
        else:
            lines.append("the gain does NOT hold on test (not significantly better there): it "
                         "may be noise or fitted to validation; review it before accepting")
        lines.append(f"best: candidate {winner.id} ({winner.proposer}); written to {written}")
        parent = _shown(result.written.with_name(f"{start}.jinja"), root)
        lines.append(f"review it: git diff --no-index {parent} {written}   then: harness eval "
                     f"{result.config.task} --version {result.written.stem}")
    else:
        lines.append(f"no candidate showed a real gain over {start} on validation (at least "
                     f"{result.config.min_effect:g} and p <= {result.config.alpha:g}); no "
                     f"version written")
    lines.append(f"report: {_shown(result.directory / 'index.html', root)}")
    return "\n".join(lines)


def _feasible(score) -> str:
    return "" if score.feasible else f" (misses a constraint by {score.violation:.3f})"


def _value(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _shown(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
