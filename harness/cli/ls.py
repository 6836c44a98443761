"""`harness ls push|pull|import`: the Label Studio round trip (library: harness.labelstudio)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from harness import Session, UsageError, load_settings
from harness.cli._common import EXIT_GATE, EXIT_OK, run_overrides
from harness.labelstudio import (STRATEGIES, connect, fetch_tasks, fixture_rows, items_from_rows,
                                 items_from_run, merge, model_version, push, read_existing,
                                 read_export, read_unlabeled, resolve, resolve_project,
                                 uncertainty, write_fixture)
from harness.labelstudio.client import KEY_ENV, URL_ENV
from harness.prompts import list_versions
from harness.records import MODES
from harness.store import read_run
from harness.tasks import list_tasks, load_task

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
                        help="remove rows of the existing file that the pull does not have "
                             "(default: keep them)")


def _push(args: argparse.Namespace) -> int:
    overrides = run_overrides(argparse.Namespace(
        model=args.model, mode=args.mode, split=None, limit=None, no_cache=args.no_cache,
        cache_only=False, report_dir=None, no_progress=args.no_progress))
    settings = load_settings(overrides=overrides)
    task = load_task(settings.root, args.task)
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be a positive number of items, got {args.limit}")
    conn = connect(args.url, args.api_key)  # before the model runs: a bad key fails fast

    if args.run_dir:
        spec, rows = read_run(args.run_dir)
        spec = spec["spec"]
        if spec["task"] != task.name:
            raise UsageError(f"{args.run_dir} is a run of task {spec['task']!r}, not {task.name!r}")
        items = items_from_rows(rows, where=args.run_dir / "results.jsonl")[:args.limit]
        version = model_version(spec["task"], spec["version"], spec["model"])
    else:
        name = args.version or _default_version(task)
        session = Session(settings)
        try:
            fixture = read_unlabeled(task, args.input) if args.input else None
            result = session.predict(task.name, name, split="all" if fixture else args.split,
                                     limit=args.limit, fixture=fixture)
        finally:
            session.close()
        if result.errors:
            print(f"harness: {len(result.errors)} model call(s) errored; those items are pushed "
                  f"without a prediction (first: {result.errors[0].error})", file=sys.stderr)
        items = items_from_run(result)
        version = model_version(task.name, name, settings.model)

    outcome = push(conn, task, items, version=version, project=args.project,
                   only_uncertain=args.only_uncertain, strategy=args.strategy)
    project = outcome.project
    print(f"project {project.id} {project.title!r}{' (created)' if project.created else ''}: "
          f"{conn.url}/projects/{project.id}/data")
    print(f"model_version {version}; sampling: uncertainty (least certain first)")
    print(f"{len(outcome.created)} new task(s), {len(outcome.predictions_added)} existing task(s) "
          f"given this model version's prediction, {len(outcome.unchanged)} already there "
          f"unchanged, {len(outcome.without_prediction)} without a valid predicted label")
    ranked = {i.id: i for i in items}
    top = [ranked[i] for i in outcome.sent[:5] if ranked[i].distribution]
    if top:
        print(f"most uncertain ({args.strategy}): " + ", ".join(
            f"{i.id} ({i.predicted} {i.confidence:.2f}, u={uncertainty(i.distribution, args.strategy):.2f})"
            for i in top))
    return EXIT_OK


def _default_version(task) -> str:
    versions = [v for v in list_versions(task) if v not in task.retired] or list_versions(task)
    if not versions:
        raise UsageError(f"task {task.name!r} has no prompt versions (prompts/{task.name}/v1.jinja)")
    return versions[-1]


def _pull(args: argparse.Namespace) -> int:
    settings = load_settings()
    task = load_task(settings.root, args.task)
    conn = connect(args.url, args.api_key)
    project = resolve_project(conn, task, args.project, create=False)
    title, tasks = fetch_tasks(conn, task, project.id)
    pulled = resolve(task, tasks, project=project.id, project_title=title)
    return _write(args, task, pulled, settings.root)


def _import(args: argparse.Namespace) -> int:
    settings = load_settings()
    task, tasks = _task_for_export(settings.root, args)
    projects = sorted({t.project for t in tasks if t.project is not None})
    pulled = resolve(task, tasks, project=projects[0] if len(projects) == 1 else None,
                     project_title=f"export {args.export.name}")
    return _write(args, task, pulled, settings.root)


def _task_for_export(root: Path, args: argparse.Namespace):
    if args.task:
        task = load_task(root, args.task)
        return task, read_export(args.export, labels=task.label_names)
    fits, errors = [], []
    for name in list_tasks(root):
        task = load_task(root, name)
        try:
            tasks = read_export(args.export, labels=task.label_names)
        except UsageError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if all(all(f in t.data for f in task.input_fields) for t in tasks):
            fits.append((task, tasks))
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise UsageError(f"{args.export} fits no task (pass --task to see why):\n  " +
                         "\n  ".join(errors or ["no tasks under prompts/"]))
    raise UsageError(f"{args.export} fits several tasks ({', '.join(t.name for t, _ in fits)}); "
                     f"pass --task")


def _write(args: argparse.Namespace, task, pulled, root: Path) -> int:
    for line in pulled.summary():
        print(line)
    rows = fixture_rows(pulled, task)
    target = args.into or task.dataset
    shown = _relative(target, root)
    existing = read_existing(target)
    if existing is None and not rows:
        print(f"nothing to write: no task has a label yet; {shown} not created")
        return EXIT_OK
    if existing is None:
        write_fixture(target, rows, task)
        print(f"wrote {len(rows)} row(s) to {shown} (new file)")
        return EXIT_OK
    merged, diff = merge(existing, rows, drop_missing=args.drop_missing)
    print(f"against {shown}: " + "\n".join(diff.lines()))
    if not diff.has_changes:
        print(f"{shown} is up to date")
        return EXIT_OK
    if not args.write:
        print(f"not written: re-run with --write to update {shown}, or --into NEW.jsonl for a "
              f"new file", file=sys.stderr)
        return EXIT_GATE
    write_fixture(target, merged, task)
    print(f"updated {shown} ({len(merged)} rows)")
    return EXIT_OK


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
