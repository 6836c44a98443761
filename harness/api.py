"""The library API the CLI and the pytest plugin are thin shells over.

    session = Session(load_settings())
    evaluation = session.evaluate("subjectivity", "v2")
    evaluation.metrics.macro_f1, evaluation.thresholds.passed
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.analysis import analyze
from harness.cache import Cache
from harness.config import Settings, load_settings
from harness.datasets import load_fixture
from harness.errors import HarnessError, UsageError
from harness.fsutil import atomic_write_json
from harness.metrics import Metrics, metrics_for
from harness.models import Backend, BackendOptions, get_backend
from harness.optimizer import OptimizeConfig, OptimizeResult, optimize
from harness.prices import price_for
from harness.prompts import list_versions, load_version
from harness.gate import GateResult, check_paired, check_rules
from harness.labeljob import (Expected, Job, LabelSummary, Routing, expected_accuracy, label_file,
                              label_records)
from harness.labelstudio import Connection, PushItem, PushResult, model_version, push
from harness.records import Fixture, PromptVersion, RunResult, RunSpec, TaskSpec
from harness.report import write_comparison, write_index, write_optimize_report, write_run_report
from harness.report.matrix import write_matrix_report
from harness.matrix import Matrix, build as build_matrix, make_cell
from harness.runner import git_info, run
from harness.store import accept_baseline, baseline_mismatch, baseline_path, to_stored, write_run
from harness.stored import Baseline, StoredRun, list_runs, read_baseline, read_run
from harness.strategies import Applied, apply_strategy
from harness.strategy import Strategy, parse_strategy
from harness.tasks import list_tasks, load_task


@dataclass(frozen=True, slots=True)
class Evaluation:
    result: RunResult
    metrics: Metrics
    thresholds: GateResult
    baseline: GateResult
    baseline_record: Baseline | None = None
    report_dir: Path | None = field(default=None)

    @property
    def name(self) -> str:
        return f"{self.result.spec.task}/{self.result.spec.version}"

    @property
    def retired(self) -> bool:
        return self.result.spec.version in self.result.task.retired

    def stored(self) -> StoredRun:
        """This run as the typed record it is written as (per-example outcomes, environment)."""
        return to_stored(self.result, self.metrics)

    def to_pandas(self):  # -> pandas.DataFrame
        """One row per example (see StoredRun.to_pandas)."""
        return self.stored().to_pandas()


@dataclass(frozen=True, slots=True)
class Labeling:
    """What `Session.label` did: the summary, the expected accuracy of the accepted rows (None
    when nothing was accepted), and the Label Studio push of the review rows when asked."""

    summary: LabelSummary
    expected: Expected | None
    task: str
    version: str
    prompt_hash: str
    model: str
    out: Path | None = None
    pushed: PushResult | None = None


class Session:
    """Holds what is expensive to make (backends, the cache) and memoizes what it loads (tasks,
    fixtures, git info) and runs, so a pytest session evaluates each (task, version, split)
    once and shares it with every test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = Cache(settings.resolve(settings.cache_dir), settings.cache)
        self._backends: dict[str, Backend] = {}
        self._evaluations: dict[tuple, Evaluation] = {}
        self._tasks: dict[str, TaskSpec] = {}
        self._fixtures: dict[str, Fixture] = {}
        self._git: dict[str, str] | None = None

    def backend(self, model: str | None = None) -> Backend:
        model = model or self.settings.model
        if model not in self._backends:
            s = self.settings
            self._backends[model] = get_backend(model, BackendOptions(
                concurrency=s.concurrency, base_url=s.base_url, api_key_env=s.api_key_env,
                max_retries=s.max_retries, timeout_s=s.timeout_s,
                cache_dir=self.cache.directory))
        return self._backends[model]

    def tasks(self) -> list[str]:
        return list_tasks(self.settings.root)

    def task(self, name: str) -> TaskSpec:
        if name not in self._tasks:
            self._tasks[name] = load_task(self.settings.root, name)
        return self._tasks[name]

    def fixture(self, task: str) -> Fixture:
        if task not in self._fixtures:
            self._fixtures[task] = load_fixture(self.task(task))
        return self._fixtures[task]

    def versions(self, task: str) -> list[str]:
        return list_versions(self.task(task))

    def default_version(self, task: str) -> str:
        """The newest version that is not retired (the newest of all when every one is)."""
        spec = self.task(task)
        versions = self.versions(task)
        if not versions:
            raise UsageError(f"task {task!r} has no prompt versions "
                             f"(prompts/{task}/v1.jinja)")
        return ([v for v in versions if v not in spec.retired] or versions)[-1]

    def critical_cases(self, task: str) -> list[str]:
        return [e.id for e in self.fixture(task).select("critical")]

    def git(self) -> dict[str, str]:
        if self._git is None:
            self._git = git_info(self.settings.root)
        return self._git

    def _run(self, spec: RunSpec, *, strategy: str | None = None, **loaded) -> RunResult:
        """`strategy`: run this prompting strategy instead of what the version declares (else
        the settings' --strategy, else the declaration); the spec records which and why."""
        s = self.settings
        if "prompt" not in loaded:  # an unknown version is named before the dataset is read
            loaded["prompt"] = load_version(self.task(spec.task), spec.version)
        loaded.setdefault("fixture", self.fixture(spec.task))
        applied, spec = self.apply_strategy(spec, loaded["prompt"], strategy)
        loaded["prompt"] = applied.version
        return run(spec, root=s.root, backend=self.backend(spec.model), cache=self.cache,
                   progress=s.progress, price=price_for(spec.model, s.prices),
                   task=self.task(spec.task), git=self.git(),
                   requests=lambda examples: applied.requests(examples, spec.mode, spec.params),
                   **loaded)

    def strategy_for(self, prompt: PromptVersion,
                     override: str | None = None) -> tuple[Strategy, str, str]:
        """(strategy, source, note): `override` (or --strategy) when given, else what the
        version declares; source is `override`, `declared` or `default`."""
        declared = parse_strategy(prompt.strategy)
        name = override if override is not None else self.settings.strategy
        where = f"declared in {prompt.strategy_from}" if prompt.strategy_from else ""
        if name is None or str(parse_strategy(name)) == str(declared):
            return declared, ("declared" if prompt.strategy_from else "default"), where
        chosen = parse_strategy(name)
        return chosen, "override", (f"--strategy {chosen} instead of the declared {declared} "
                                    f"({where})" if where else
                                    f"--strategy {chosen} (the version declares none: zero-shot)")

    def apply_strategy(self, spec: RunSpec, prompt: PromptVersion,
                       override: str | None = None) -> tuple[Applied, RunSpec]:
        strategy, source, note = self.strategy_for(prompt, override)
        task = self.task(spec.task)
        if strategy.reasoning and not getattr(self.backend(spec.model), "supports_reasoning",
                                              False):
            raise UsageError(f"strategy {strategy}: model {spec.model!r} cannot answer with a "
                             f"reasoning first (its backend does not support `reasoning` "
                             f"requests yet); use a few-shot or zero-shot strategy")
        train = self.fixture(spec.task).select("train")
        wrong, wrong_note = None, ""
        if strategy.few_shot and strategy.selection == "errors":
            wrong, wrong_note = self._wrong_train_examples(spec, prompt, train)
        applied = apply_strategy(task, prompt, strategy, train=train, seed=spec.params.seed,
                                 wrong=wrong, wrong_note=wrong_note,
                                 temperature=self.settings.temperature)
        note = "; ".join(part for part in (note, applied.note) if part)
        return applied, replace(spec, strategy=str(strategy), strategy_source=source,
                                strategy_note=note)

    def _wrong_train_examples(self, spec: RunSpec, prompt: PromptVersion, train) -> tuple:
        """The train examples `prompt` (zero-shot, same model and mode) got wrong: from its
        newest stored run that covers train examples, else from a fresh train-split run
        (through the cache, not written as a report). The note says which."""
        by_id = {e.id: e for e in train}
        for directory, info, _ in list_runs(self.report_root):
            if (info.task, info.version, info.prompt_hash, info.model, info.mode,
                    info.strategy) != (spec.task, spec.version, prompt.content_hash, spec.model,
                                       spec.mode, "zero-shot"):
                continue
            outcomes = [o for o in read_run(directory).outcomes if o.id in by_id]
            if outcomes:
                wrong = [by_id[o.id] for o in outcomes if not o.correct and o.error is None]
                return wrong, (f"from its last stored run {info.run_id} ({len(outcomes)} train "
                               f"examples)")
        fresh = run(RunSpec(task=spec.task, version=spec.version, model=spec.model,
                            mode=spec.mode, split="train", params=spec.params),
                    root=self.settings.root, backend=self.backend(spec.model), cache=self.cache,
                    progress=self.settings.progress, task=self.task(spec.task),
                    fixture=self.fixture(spec.task), prompt=prompt, git=self.git())
        wrong = [e for e, p in zip(fresh.examples, fresh.predictions)
                 if p.error is None and not p.correct]
        return wrong, (f"from a fresh zero-shot train-split run ({len(fresh.examples)} examples, "
                       f"{fresh.model_calls} model calls, {fresh.cache_hits} cached; no stored "
                       f"run of this version covers train examples)")

    def evaluate(self, task: str, version: str, *, split: str | None = None,
                 limit: int | None = None, write: bool = True, model: str | None = None,
                 strategy: str | None = None) -> Evaluation:
        """`strategy` (or the settings' --strategy) replaces what the version declares; the
        run records it as an override."""
        s = self.settings
        split = split or s.split
        limit = limit if limit is not None else (s.limit if split != "critical" else None)
        model = model or s.model
        key = (task, version, model, s.mode, split, limit, strategy)
        if key not in self._evaluations:
            spec = RunSpec(task=task, version=version, model=model, mode=s.mode, split=split,
                           limit=limit)
            result = self._run(spec, strategy=strategy)
            metrics = metrics_for(result)
            evaluation = Evaluation(
                result=result, metrics=metrics,
                thresholds=check_rules(metrics, result.task.rules),
                **self._compare_with_baseline(result, metrics))
            if write and split != "critical":
                evaluation = self.write_report(evaluation)
            self._evaluations[key] = evaluation
        return self._evaluations[key]

    def evaluate_prompt(self, prompt: PromptVersion, *, split: str | None = None,
                        limit: int | None = None, label: str | None = None) -> Evaluation:
        """An in-memory version (e.g. a pull request's base, read from git) on the same
        examples `evaluate` would use; no report, no baseline comparison."""
        s = self.settings
        spec = RunSpec(task=prompt.task, version=label or prompt.name, model=s.model,
                       mode=s.mode, split=split or s.split,
                       limit=limit if limit is not None else s.limit)
        result = self._run(spec, prompt=prompt)
        metrics = metrics_for(result)
        return Evaluation(result, metrics, check_rules(metrics, result.task.rules),
                          GateResult((), skipped="not compared"))

    def predict(self, task: str, version: str, *, split: str = "all", limit: int | None = None,
                fixture: Fixture | None = None) -> RunResult:
        """Predictions only (no metrics, no report): for items without trusted labels, such as
        new data to pre-label for review. `fixture` replaces the task's dataset."""
        s = self.settings
        spec = RunSpec(task=task, version=version, model=s.model, mode=s.mode, split=split,
                       limit=limit)
        return self._run(spec, **({"fixture": fixture} if fixture is not None else {}))

    def label(self, task: str, source: Path, out: Path, *, version: str | None = None,
              mapping: Mapping[str, str] | None = None, routing: Routing = Routing(),
              push_to: Connection | None = None, project: str | None = None,
              chunk_rows: int = 256) -> Labeling:
        """Label every row of `source` (CSV/TSV/JSONL/Parquet) into `out` (any of them) with
        `version` (default: the newest not retired); `mapping`: input field -> column. With
        `push_to`, the review rows go to Label Studio, least certain first."""
        job = self._label_job(task, version, mapping)
        summary = label_file(job, Path(source), Path(out), routing=routing,
                             chunk_rows=chunk_rows, progress=self.settings.progress)
        pushed = None
        if push_to is not None and summary.review_items:
            pushed = push(push_to, job.task, [
                PushItem(i.id, dict(i.inputs), i.predicted, i.confidence,
                         dict(i.distribution) if i.distribution else None)
                for i in summary.review_items],
                version=model_version(task, job.version.name, job.model), project=project)
        return self._labeling(job, summary, routing, Path(out), pushed)

    def label_dataframe(self, frame, task: str, *, version: str | None = None,
                        mapping: Mapping[str, str] | None = None, routing: Routing = Routing(),
                        chunk_rows: int = 256):
        """`frame` (a pandas DataFrame) with the columns `label` adds, same index."""
        import pandas as pd

        job = self._label_job(task, version, mapping)
        records = frame.reset_index(drop=True)
        chunks = ([(start + i + 1, row, None) for i, row in enumerate(
            records.iloc[start:start + chunk_rows].to_dict("records"))]
            for start in range(0, len(records), chunk_rows))
        rows, summary = label_records(job, chunks, routing=routing,
                                      progress=self.settings.progress, total=len(records),
                                      columns=[str(c) for c in frame.columns])
        result = pd.DataFrame(rows, columns=list(summary.columns), index=frame.index)
        result.attrs["harness"] = self._labeling(job, summary, routing, None, None)
        return result

    def _label_job(self, task: str, version: str | None,
                   mapping: Mapping[str, str] | None) -> Job:
        spec = self.task(task)
        unknown = [f for f in (mapping or {}) if f not in spec.input_fields]
        if unknown:
            raise UsageError(f"--map {unknown[0]}=...: {unknown[0]!r} is not an input field of "
                             f"{task} (task.yaml inputs: {', '.join(spec.input_fields)})")
        name = version or self.default_version(task)
        s = self.settings
        return Job(task=spec, version=load_version(spec, name), backend=self.backend(),
                   cache=self.cache, model=s.model, mode=s.mode, mapping=dict(mapping or {}))

    def _labeling(self, job: Job, summary: LabelSummary, routing: Routing, out: Path | None,
                  pushed: PushResult | None) -> Labeling:
        expected = None
        if summary.threshold is not None:  # something was accepted
            # --accept-above P: the curve at P; otherwise at the least confident accepted row.
            threshold = routing.accept_above if routing.accept_above is not None \
                else summary.threshold
            expected = expected_accuracy(self.report_root, task=job.task.name,
                                         version=job.version.name,
                                         prompt_hash=job.version.content_hash, model=job.model,
                                         threshold=threshold)
        return Labeling(summary, expected, job.task.name, job.version.name,
                        job.version.content_hash, job.model, out, pushed)

    def evaluations(self) -> list[Evaluation]:
        """Every evaluation of this session, in run order (critical-case runs left out)."""
        return [e for e in self._evaluations.values() if e.result.spec.split != "critical"]

    def _compare_with_baseline(self, result: RunResult, metrics: Metrics) -> dict:
        path = self.baseline_file(result.spec.task, result.spec.version)
        try:
            record = read_baseline(path)
        except UsageError as exc:  # an old or malformed baseline: the gate says so
            return {"baseline": GateResult((), skipped=f"invalid baseline: {exc}")}
        shown = self.settings.shown(path)
        if record is None:
            return {"baseline": GateResult((), skipped=f"no baseline at {shown}; record one with "
                                                       f"--update-baseline")}
        mismatch = baseline_mismatch(record, result)
        if mismatch:
            return {"baseline": GateResult((), skipped=f"{mismatch} ({shown}); not compared"),
                    "baseline_record": record}
        inputs = {e.id: e.inputs for e in result.examples}
        gate = check_paired(record.run.outcomes, to_stored(result, metrics).outcomes,
                            task=result.task, inputs=inputs, strict=self.settings.strict_baseline
                            or None, seed=result.spec.params.seed)
        return {"baseline": gate, "baseline_record": record}

    def baseline_file(self, task: str, version: str) -> Path:
        return baseline_path(self.settings.resolve(self.settings.baseline_dir), task, version)

    def baseline(self, task: str, version: str) -> Baseline | None:
        return read_baseline(self.baseline_file(task, version))

    def update_baseline(self, evaluation: Evaluation, critical: Evaluation | None) -> Path:
        path = self.baseline_file(evaluation.result.spec.task, evaluation.result.spec.version)
        accept_baseline(path, evaluation.result, evaluation.metrics,
                        critical.result if critical else None)
        return path

    @property
    def report_root(self) -> Path:
        return self.settings.resolve(self.settings.report_dir)

    def write_report(self, evaluation: Evaluation) -> Evaluation:
        """reports/<run-id>/: results.jsonl + .csv, metrics.json, analysis.json, index.html; then
        the reports/index.html of every run is regenerated."""
        result = evaluation.result
        directory = self.report_root / result.run_id
        write_run(result, evaluation.metrics, directory)
        # The classical baseline trains on the fixture's train split (the run holds only the
        # evaluated examples), so it is computed here, where the fixture is at hand.
        train = self.fixture(result.spec.task).select("train")
        analysis = analyze(result, train=train, seed=result.spec.params.seed)
        atomic_write_json(directory / "analysis.json", analysis.as_dict())
        write_run_report(directory, result, evaluation.metrics, evaluation.thresholds,
                         evaluation.baseline, analysis=analysis, parents=_parents(result))
        write_index(self.report_root)
        return Evaluation(result, evaluation.metrics, evaluation.thresholds,
                          evaluation.baseline, evaluation.baseline_record, directory)

    def write_index(self) -> Path:
        return write_index(self.report_root)

    def compare(self, runs: list[str | Path], *, out: Path | None = None) -> Path:
        """Write a comparison page of written runs (run folders or run ids under the report
        dir); the first run is the reference. Refuses runs of different tasks/datasets/splits."""
        path = write_comparison(self.report_root, runs, out=out)
        write_index(self.report_root)
        return path

    def compare_session_versions(self) -> list[Path]:
        """One comparison per task that this session evaluated in several versions (same model,
        mode, split and limit), in version order."""
        groups: dict[tuple, list[Evaluation]] = {}
        for e in self.evaluations():
            if e.report_dir is not None:
                s = e.result.spec
                groups.setdefault((s.task, s.model, s.mode, s.split, s.limit), []).append(e)
        paths = []
        for evaluations in groups.values():
            if len({e.result.spec.version for e in evaluations}) > 1:
                paths.append(self.compare([e.report_dir for e in evaluations]))
        return paths

    def matrix(self, task: str, *, models: Collection[str], strategies: Collection[str],
               version: str | None = None, out: Path | None = None,
               on_cell=lambda evaluation: None) -> tuple[Matrix, Path]:
        """Every (model x strategy) of one version on the same examples (the settings' split
        and limit), each an ordinary evaluation (cached, with its own report), then one page
        comparing them: reports/matrix/<task>-<version>-<time>.html (or `out`)."""
        import os
        from datetime import datetime, timezone

        version = version or self.default_version(task)
        models = list(dict.fromkeys(models or [self.settings.model]))
        names = list(dict.fromkeys(strategies or ["zero-shot"]))
        for name in names:  # every name checked before the first model call
            parse_strategy(name)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = out or self.report_root / "matrix" / f"{task}-{version}-{stamp}.html"
        cells, examples = [], None
        for model in models:
            for name in names:
                evaluation = self.evaluate(task, version, model=model, strategy=name)
                on_cell(evaluation)
                result = evaluation.result
                examples = examples or result.examples
                link = (os.path.relpath(evaluation.report_dir / "index.html", path.parent)
                        if evaluation.report_dir else "")
                cells.append(make_cell(result, evaluation.metrics, report=Path(link).as_posix(),
                                       seed=result.spec.params.seed))
        spec = self.task(task)
        matrix = build_matrix(task, version, cells, metric=spec.metric, split=self.settings.split,
                              examples=examples or (), train=self.fixture(task).select("train"),
                              labels=spec.label_names)
        return matrix, write_matrix_report(path, matrix)

    def optimize(self, config: OptimizeConfig, *, resume: bool = False,
                 explicit: Collection[str] = (), on_event=lambda event: None) -> OptimizeResult:
        """Run (or `resume`) the optimizer loop; writes the new prompt version (when a candidate
        beat the start), the run log and checkpoint, and the trajectory report under
        report_dir/<run-id>/. `on_event` gets harness.optimizer.events as they happen; on
        resume only the limits named in `explicit` replace the run's own."""
        s = self.settings
        result = optimize(config, root=s.root, backends=self.backend, cache=self.cache,
                          report_dir=s.resolve(s.report_dir), resume=resume, explicit=explicit,
                          on_event=on_event, progress=s.progress)
        write_optimize_report(result.directory, result)
        return result

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()


def label_dataframe(frame, *, task: str, version: str | None = None,
                    settings: Settings | None = None, mapping: Mapping[str, str] | None = None,
                    accept_above: float | None = None, review_top: int | None = None):
    """A labeled copy of `frame` for notebooks: the columns `harness label` adds (label,
    confidence, p_<label>, status, error, prompt_version, prompt_hash, model); the summary
    (a Labeling) is in `result.attrs["harness"]`."""
    session = Session(settings or load_settings())
    try:
        return session.label_dataframe(frame, task, version=version, mapping=mapping,
                                       routing=Routing(accept_above, review_top))
    finally:
        session.close()


def _parents(result: RunResult) -> list[PromptVersion]:
    """The templates a version extends, nearest first (for the report's prompt section)."""
    parents, version, seen = [], result.prompt, {result.prompt.name}
    while version.parent and version.parent not in seen:
        try:
            version = load_version(result.task, version.parent)
        except HarnessError:
            break  # the run already rendered with it; a vanished parent only shortens the page
        seen.add(version.name)
        parents.append(version)
    return parents
