"""`harness ls push|pull|import`: the Label Studio round trip (library: harness.labelstudio)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import harness
from harness import MODES, UsageError, load_settings
from harness.cli._common import EXIT_GATE, EXIT_OK, run_overrides

# Repeated from harness.labelstudio (checked by a test) so `harness --help` stays light.
STRATEGIES = ("least-confidence", "margin", "entropy")
URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"

_EPILOG = f"""\
Examples:
  export {URL_ENV}=http://127.0.0.1:8080 {KEY_ENV}=...
  harness ls push subjectivity --version v2 --only-uncertain 100
  harness ls push subjectivity --input new_sentences.jsonl        # pre-label new data
  harness ls pull subjectivity                                    # diff against the fixture
  harness ls pull subjectivity --write                            # then replace it
  harness ls import export.json --task subjectivity --into datasets/reviewed.jsonl

A local server for trying it: scripts/label-studio install && scripts/label-studio start
"""


def register(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser(
        "ls", help="Label Studio: push predictions for review, pull annotations as fixtures",
        description=_wrap("Label Studio round trip: push the model's predictions (with confidence) for "
                    "people to review least-certain first, then pull their answers back as "
                    "fixture rows with provenance."),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.set_defaults(run=lambda args: (ls.print_help(), 2)[1])
    commands = ls.add_subparsers(dest="ls_command", metavar="push|pull|import")

    p = commands.add_parser(
        "push", help="send items and the model's predictions to a Label Studio project",
        description=_wrap("Run a prompt version over the task's fixture (or --input JSONL, or reuse a "
                    "stored --run) and import the items into a Label Studio project, each with "
                    "the predicted label, score = confidence and model_version = "
                    "task/version/model. The project is created from task.yaml when missing "
                    "and set to uncertainty sampling. Pushing again adds no duplicates."),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", help="task name (prompts/<task>/task.yaml)")
    p.add_argument("--version", help="prompt version (default: the newest that is not retired)")
    _project_option(p)
    p.add_argument("--only-uncertain", type=int, metavar="N",
                   help="send only the N items the model is least sure about")
    p.add_argument("--strategy", choices=STRATEGIES, default="least-confidence",
                   help="uncertainty measure for ordering and --only-uncertain: least-confidence "
                        "(lowest top probability), margin (smallest gap between the two best "
                        "labels), entropy (default: least-confidence)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path, metavar="JSONL",
                        help="unlabeled items to pre-label: rows with `id` and the task's input "
                             "fields (default: the task's fixture)")
    source.add_argument("--run", type=Path, metavar="DIR", dest="run_dir",
                        help="push a stored run (reports/<run-id>/) instead of running the model")
    p.add_argument("--split", choices=("train", "validation", "test", "all"), default="all",
                   help="fixture split to push (default: all)")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--model", help="model backend (default from config: local)")
    p.add_argument("--mode", choices=MODES, help="score gives confidences (default from config)")
    p.add_argument("--no-cache", action="store_true", help="ignore the response cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _server_options(p)
    p.set_defaults(run=_push)

    q = commands.add_parser(
        "pull", help="read reviewed annotations back into a fixture file",
        description=_wrap("Read a project's annotations: cancelled ones are skipped, a ground-truth "
                    "annotation wins, otherwise the majority (ties are listed, not written). "
                    "Writes fixture rows with provenance; an existing file is never replaced "
                    "without --write (a diff is shown and the exit status is 1)."),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("task", help="task name (prompts/<task>/task.yaml)")
    _project_option(q)
    _output_options(q)
    _server_options(q)
    q.set_defaults(run=_pull)

    i = commands.add_parser(
        "import", help="read a Label Studio JSON export file (offline) into a fixture file",
        description=_wrap("Like pull, from a file made with Export > JSON in Label Studio."),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("export", type=Path, help="the export file (JSON list of tasks)")
    i.add_argument("--task", help="task name (default: the only task whose labels fit)")
    _output_options(i)
    i.set_defaults(run=_import)


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88)


def _project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", metavar="ID|TITLE",
                        help="project id, or exact title (default: '<task> review')")


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"Label Studio URL (default: ${URL_ENV})")
    parser.add_argument("--api-key", help=f"API token (default: ${KEY_ENV}; prefer the variable: "
                                          f"arguments are visible to other local users)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--into", type=Path, metavar="JSONL",
                        help="fixture file to write (default: the task's dataset)")
    parser.add_argument("--write", action="store_true",
                        help="replace an existing file after showing the diff")
    parser.add_argument("--drop-missing", action="store_true",
                        help="remove rows of the existing file whose id the project (export) "
                             "does not have at all; unanswered and tied items are kept "
                             "(default: keep every row)")


def _push(args: argparse.Namespace) -> int:
    ls = harness.labelstudio
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be a positive number of items, got {args.limit}")
    settings = load_settings(overrides=run_overrides(args) | {"split": None, "limit": None})
    session = harness.Session(settings)
    try:
        task = session.task(args.task)
        conn = ls.connect(args.url, args.api_key)  # before the model runs: a bad key fails fast
        if args.run_dir:
            source = ls.stored_items(task, args.run_dir, limit=args.limit)
        else:
            source = ls.predicted_items(session, task, args.version, input_path=args.input,
                                        split=args.split, limit=args.limit)
    finally:
        session.close()
    if source.errored:
        print(f"harness: {len(source.errored)} model call(s) errored; those items are pushed "
              f"without a prediction (first: {source.first_error})", file=sys.stderr)
    outcome = ls.push(conn, task, source.items, version=source.version, project=args.project,
                      only_uncertain=args.only_uncertain, strategy=args.strategy)
    project = outcome.project
    print(f"project {project.id} {project.title!r}{' (created)' if project.created else ''}: "
          f"{conn.url}/projects/{project.id}/data")
    print(f"model_version {source.version}; sampling: uncertainty (least certain first)")
    print(f"{len(outcome.created)} new task(s), {len(outcome.predictions_added)} existing task(s) "
          f"given this model version's prediction, {len(outcome.unchanged)} already there "
          f"unchanged, {len(outcome.without_prediction)} without a valid predicted label")
    ranked = {i.id: i for i in source.items}
    top = [ranked[i] for i in outcome.sent[:5] if ranked[i].distribution]
    if top:
        print(f"most uncertain ({args.strategy}): " + ", ".join(
            f"{i.id} ({i.predicted} {i.confidence:.2f}, "
            f"u={ls.uncertainty(i.distribution, args.strategy):.2f})" for i in top))
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    session = harness.Session(load_settings())
    task = session.task(args.task)
    conn = harness.labelstudio.connect(args.url, args.api_key)
    return _write(args, session, task, harness.labelstudio.pull_project(conn, task, args.project))


def _import(args: argparse.Namespace) -> int:
    session = harness.Session(load_settings())
    task, pulled = harness.labelstudio.import_export(
        args.export, lambda: [session.task(name) for name in session.tasks()],
        session.task(args.task) if args.task else None)
    return _write(args, session, task, pulled)


def _write(args: argparse.Namespace, session, task, pulled) -> int:
    for line in pulled.summary():
        print(line)
    target = args.into or task.dataset
    shown = session.settings.shown(target)
    outcome = harness.labelstudio.write_pulled(
        pulled, task, target, shown=shown, write=args.write, drop_missing=args.drop_missing)
    for line in outcome.lines:
        print(line)
    if outcome.conflicts:  # a label reviewed on other inputs is never applied
        print(f"harness: {outcome.conflicts} reviewed label(s) not applied: the reviewed inputs "
              f"differ from the fixture rows (listed above)", file=sys.stderr)
    if outcome.pending:
        print(f"not written: re-run with --write to update {shown}, or --into NEW.jsonl for a "
              f"new file", file=sys.stderr)
    if outcome.pending or outcome.conflicts:
        return EXIT_GATE
    return EXIT_OK

