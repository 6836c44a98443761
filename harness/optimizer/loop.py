"""The optimizer loop: candidate 0 is the start version; each iteration samples the incumbent's
training errors, asks the proposers for candidates, screens them on a validation minibatch
against the incumbent on the same examples, scores the best few on the full validation split,
and replaces the incumbent only with a strictly better one. Test is scored once, at the end.

The budget counts requests charged to this run: each distinct rendered prompt once, whether or
not the response cache already held it, so a run takes the same path on a cold or warm cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.cache import Cache
from harness.datasets import load_fixture
from harness.errors import UsageError
from harness.metrics import metrics_for
from harness.models.base import Backend
from harness.optimizer import checkpoint, objective, proposers
from harness.optimizer.candidates import as_version, write_version
from harness.optimizer.checkpoint import State
from harness.optimizer.records import (PROPOSERS, Candidate, CandidateEval, IterationLog,
                                       OptimizeConfig, OptimizeResult, Outcome, Score)
from harness.optimizer.sampling import rng, sample_errors, splits, stratified_sample
from harness.prompts import Renderer, load_version, next_version
from harness.records import Example, PromptVersion, RunSpec, TaskSpec
from harness.runner import run
from harness.tasks import load_task

Echo = Callable[[str], None]


class _OverBudget(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Scored:
    outcome: Outcome
    record: CandidateEval


def estimate_calls(config: OptimizeConfig, n_train: int, n_validation: int) -> int:
    """Upper bound of the calls the search charges (before the budget caps it)."""
    batch = min(config.minibatch, n_validation)
    screening = batch < n_validation
    proposals = len(config.proposers)
    per_iteration = (min(config.train_sample, n_train) + ("teacher" in config.proposers)
                     + proposals * batch + (batch if screening else 0)
                     + (min(config.confirm, proposals) * n_validation if screening else 0))
    return n_validation + config.iterations * per_iteration


class Optimizer:
    def __init__(self, config: OptimizeConfig, *, root: Path, backend: Backend,
                 teacher: Callable[[], Backend], cache: Cache, report_dir: Path,
                 echo: Echo = lambda line: None, progress: bool = False) -> None:
        self.config, self.root, self.backend, self.cache = config, root, backend, cache
        self._teacher_factory, self._teacher = teacher, None
        self.report_dir, self.echo, self.progress = report_dir, echo, progress
        self.task: TaskSpec = load_task(root, config.task)
        self.start: PromptVersion = load_version(self.task, config.start)
        fixture = load_fixture(self.task)
        self.parts = splits(self.task, fixture)
        self._check(config)
        self._versions: dict[int, PromptVersion] = {}
        self._instructions: dict[int, str] = {}

    def _check(self, config: OptimizeConfig) -> None:
        unknown = sorted(set(config.proposers) - set(PROPOSERS))
        if unknown or not config.proposers:
            raise UsageError(f"unknown proposer {unknown[0] if unknown else '(none)'!r}; "
                             f"choose from {', '.join(PROPOSERS)}")
        if config.mode not in self.backend.modes():
            raise UsageError(f"model {config.model!r} does not support mode {config.mode!r}")
        n_validation = len(self.parts["validation"])
        if config.budget_calls < n_validation:
            raise UsageError(f"--budget-calls {config.budget_calls} is smaller than one "
                             f"evaluation: scoring the start version on the validation split "
                             f"takes {n_validation} calls; give at least {n_validation}")
        for name in ("iterations", "minibatch", "confirm", "train_sample"):
            if getattr(config, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(config, name)}")
        if config.patience < 1:
            raise UsageError(f"--patience must be at least 1, got {config.patience}")

    # -- evaluation ---------------------------------------------------------------------------
    def version(self, state: State, cid: int) -> PromptVersion:
        if cid not in self._versions:
            self._versions[cid] = as_version(self.task, state.target_version, self.config.start,
                                             state.candidates[cid], self.parts["train"])
        return self._versions[cid]

    def instruction(self, state: State, cid: int) -> str:
        if cid not in self._instructions:
            renderer = Renderer(self.task, self.version(state, cid))
            self._instructions[cid] = renderer.render_block("instructions",
                                                            self.parts["train"][0])
        return self._instructions[cid]

    def evaluate(self, state: State, cid: int, examples: Sequence[Example], stage: str,
                 iteration: int, *, charge: bool = True) -> _Scored:
        version = self.version(state, cid)
        hashes = {Renderer(self.task, version).render(e).hash for e in examples}
        new = hashes - state.seen
        if charge and state.charged + len(new) > self.config.budget_calls:
            raise _OverBudget
        spec = RunSpec(task=self.task.name, version=version.name, model=self.config.model,
                       mode=self.config.mode, split=stage)
        result = run(spec, root=self.root, backend=self.backend, cache=self.cache,
                     progress=self.progress, prompt=version, examples=examples)
        metrics = metrics_for(result)
        score = objective.score(self.task, metrics)
        if charge:
            state.charged += len(new)
            state.seen |= new
        tokens = sum(p.usage.prompt_tokens + p.usage.completion_tokens
                     for p in result.predictions)
        state.calls += result.model_calls
        state.tokens += tokens
        record = CandidateEval(cid, iteration, stage, score, result.model_calls,
                               len(new) if charge else 0, tokens)
        return _Scored(Outcome(result, metrics, score), record)

    def _log_eval(self, directory: Path, state: State, record: CandidateEval) -> None:
        state.evaluations.append(record)
        checkpoint.append_log(directory, "evaluation", record)

    def validation_score(self, state: State, cid: int) -> Score | None:
        found = [e.score for e in state.evaluations
                 if e.candidate == cid and e.stage == "validation"]
        return found[-1] if found else None

    # -- proposing ----------------------------------------------------------------------------
    @property
    def teacher(self) -> Backend:
        if self._teacher is None:
            self._teacher = self._teacher_factory()
            if "generate" not in self._teacher.modes():
                raise UsageError(f"teacher {self.config.teacher!r} cannot generate text "
                                 f"(modes: {', '.join(self._teacher.modes())})")
        return self._teacher

    def _teach(self, state: State, incumbent: Candidate,
               errors: list, rejected: list[str]) -> proposers.Proposal | None:
        history = [(self.instruction(state, c.id), score) for c in state.candidates
                   if (score := self.validation_score(state, c.id)) is not None]
        request = proposers.teacher_request(self.task, self.instruction(state, incumbent.id),
                                            errors, history, self.task.optimize_metric)
        key = Cache.key(self.teacher.identity(), request)
        if key not in state.seen and state.charged + 1 > self.config.budget_calls:
            raise _OverBudget
        output = self.cache.get(key, describe="teacher rewrite")
        if output is None:
            _, output = next(iter(self.teacher.complete([request])))
            self.cache.put(key, output)
            state.calls += 1
            state.tokens += output.usage.prompt_tokens + output.usage.completion_tokens
        if key not in state.seen:
            state.charged += 1
            state.seen.add(key)
        if output.error is not None:
            rejected.append(f"teacher: call failed: {output.error}")
            return None
        tried = [self.instruction(state, c.id) for c in state.candidates]
        text, why = proposers.clean_instruction(output.raw, self.task, tried)
        if text is None:
            rejected.append(f"teacher: {why}")
            return None
        return proposers.Proposal("teacher", text, incumbent.demos,
                                  f"teacher {self.config.teacher} rewrote the instruction from "
                                  f"{len(errors)} sampled errors")

    def propose(self, state: State, iteration: int, errors: list,
                rejected: list[str]) -> list[proposers.Proposal]:
        incumbent = state.candidates[state.incumbent]
        tried = {c.signature() for c in state.candidates}
        found: list[proposers.Proposal | None] = []
        for name in self.config.proposers:
            if name == "teacher":
                found.append(self._teach(state, incumbent, errors, rejected))
            elif name == "exemplars":
                found.append(proposers.exemplars(incumbent, errors, len(self.task.labels),
                                                 self.config.max_demos))
            elif name == "knn":
                found.append(proposers.knn(incumbent, tried))
        unique = []
        for proposal in found:
            if proposal is None:
                continue
            if (proposal.instruction, proposal.demos) in tried:
                rejected.append(f"{proposal.proposer}: same as an earlier candidate")
                continue
            tried.add((proposal.instruction, proposal.demos))
            unique.append(proposal)
        return unique

    # -- the loop -----------------------------------------------------------------------------
    def run(self, *, resume: bool = False) -> OptimizeResult:
        clock = time.perf_counter()
        config = self.config
        if resume:
            directory, state = checkpoint.find_resumable(self.report_dir, config)
            state.config = config
            checkpoint.rewrite_log(directory, state)
            self.echo(f"resuming {state.run_id} after iteration {len(state.iterations)} "
                      f"({state.charged} calls charged so far)")
        else:
            started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
            run_id = f"{started}-optimize-{config.task}-{config.start}-s{config.seed}"
            directory = self.report_dir / run_id
            state = State(run_id=run_id, config=config, target_version=next_version(self.task))
            checkpoint.save(directory, state)  # resumable from the first call on
        n_val, n_test = len(self.parts["validation"]), len(self.parts["test"])
        estimate = min(estimate_calls(config, len(self.parts["train"]), n_val),
                       config.budget_calls)
        self.echo(f"optimizing {config.task}/{config.start} for {objective.describe(self.task)} "
                  f"on validation ({n_val} examples); train {len(self.parts['train'])}, "
                  f"test {n_test}; teacher {config.teacher}, seed {config.seed}")
        self.echo(f"estimated model calls: up to {estimate} for the search (budget "
                  f"{config.budget_calls}) + {2 * n_test} for the final test scoring; cached "
                  f"responses cost none")

        if not state.candidates:
            state.candidates.append(Candidate(0, 0, None, "start", None, None,
                                              f"the start version {config.start}"))
            checkpoint.append_log(directory, "candidate", state.candidates[0])
            scored = self.evaluate(state, 0, self.parts["validation"], "validation", 0)
            self._log_eval(directory, state, scored.record)
            checkpoint.save(directory, state)
            self.echo(f"start {config.start}: validation {self.task.optimize_metric} "
                      f"{scored.record.score.value:.3f}")

        while state.status == "running":
            reason = self._stop_reason(state)
            if reason:
                state.stop_reason = reason
                break
            self._iteration(directory, state, len(state.iterations) + 1)
            checkpoint.save(directory, state)
        return self._finish(directory, state, time.perf_counter() - clock)

    def _stop_reason(self, state: State) -> str:
        best = self.validation_score(state, state.incumbent)
        if self.config.target is not None and best is not None and best.feasible and \
                best.value >= self.config.target:
            return f"reached the target {self.config.target:g}"
        if state.stop_reason:
            return state.stop_reason
        if len(state.iterations) >= self.config.iterations:
            return f"ran {self.config.iterations} iterations"
        if state.stale >= self.config.patience:
            return f"no improvement for {state.stale} iterations (patience)"
        return ""

    def _iteration(self, directory: Path, state: State, it: int) -> None:
        seed, config = self.config.seed, self.config
        rejected: list[str] = []
        incumbent = state.candidates[state.incumbent]
        best = self.validation_score(state, state.incumbent)
        assert best is not None
        try:
            sample = stratified_sample(self.parts["train"], config.train_sample,
                                       rng(seed, "train"))
            on_train = self.evaluate(state, incumbent.id, sample, "train", it)
            self._log_eval(directory, state, on_train.record)
            result = on_train.outcome.result
            errors = sample_errors(result.examples, result.predictions, config.errors_shown,
                                   rng(seed, "errors", it))
            found = self.propose(state, it, errors, rejected)
        except _OverBudget:
            state.stop_reason = "call budget spent"
            return
        ids = []
        for proposal in found:
            candidate = Candidate(len(state.candidates), it, incumbent.id, proposal.proposer,
                                  proposal.instruction, proposal.demos, proposal.rationale)
            state.candidates.append(candidate)
            checkpoint.append_log(directory, "candidate", candidate)
            ids.append(candidate.id)

        promoted, out_of_budget = self._screen(directory, state, it, incumbent.id, ids)
        accepted = None
        for cid in promoted:
            try:
                scored = self.evaluate(state, cid, self.parts["validation"], "validation", it)
            except _OverBudget:
                out_of_budget = True
                continue
            self._log_eval(directory, state, scored.record)
            if scored.record.score.beats(best):
                best, accepted = scored.record.score, cid
        if accepted is not None:
            state.incumbent, state.stale = accepted, 0
        else:
            state.stale += 1
        if out_of_budget:
            state.stop_reason = "call budget spent"
            rejected.append("some candidates were not scored: call budget spent")
        log = IterationLog(it, state.incumbent, best, tuple(ids), tuple(promoted), accepted,
                           tuple(rejected), state.charged, state.calls)
        state.iterations.append(log)
        checkpoint.append_log(directory, "iteration", log)
        start = self.validation_score(state, 0)
        winner = state.candidates[state.incumbent]
        self.echo(f"iteration {it}/{config.iterations}: proposed "
                  f"{', '.join(state.candidates[i].proposer for i in ids) or 'nothing'}"
                  f"{'; rejected ' + str(len(rejected)) if rejected else ''}; confirmed "
                  f"{len(promoted)}; best {self.task.optimize_metric} {best.value:.3f} "
                  f"(candidate {winner.id}, {winner.proposer}; start {start.value:.3f})"
                  f"{' NEW' if accepted is not None else ''}; "
                  f"{state.charged}/{config.budget_calls} calls charged, {state.calls} made")

    def _screen(self, directory: Path, state: State, it: int, incumbent: int,
                ids: list[int]) -> tuple[list[int], bool]:
        """Candidates worth the full validation split: screened on a minibatch against the
        incumbent on the same examples; at most `confirm`, none worse than the incumbent."""
        validation = self.parts["validation"]
        batch = stratified_sample(validation, self.config.minibatch, rng(self.config.seed,
                                                                          "screen", it))
        if len(batch) >= len(validation) or not ids:
            return ids, False
        try:
            against = self.evaluate(state, incumbent, batch, "screen", it).record.score
        except _OverBudget:
            return [], True
        screened, out_of_budget = [], False
        for cid in ids:
            try:
                scored = self.evaluate(state, cid, batch, "screen", it)
            except _OverBudget:
                out_of_budget = True
                continue
            record = replace(scored.record, against=against)
            self._log_eval(directory, state, record)
            if not against.beats(record.score):
                screened.append((record.score.key(), -cid, cid))
        screened.sort(reverse=True)
        return [cid for *_, cid in screened[: self.config.confirm]], out_of_budget

    def _finish(self, directory: Path, state: State, duration: float) -> OptimizeResult:
        config, winner = self.config, state.incumbent
        outcomes = {}
        for cid in sorted({0, winner}):
            for split in ("validation", "test"):
                # Not charged: validation is cached from the search; test runs once, here.
                outcomes[(cid, split)] = self.evaluate(state, cid, self.parts[split], split,
                                                       len(state.iterations),
                                                       charge=False).outcome
        start_test, winner_test = outcomes[(0, "test")], outcomes[(winner, "test")]
        start_val, winner_val = outcomes[(0, "validation")], outcomes[(winner, "validation")]
        written = None
        if winner != 0:
            metric = self.task.optimize_metric
            candidate = state.candidates[winner]
            facts = {
                "parent": config.start,
                f"validation {metric}": f"{start_val.score.value:.3f} ({config.start}) -> "
                                        f"{winner_val.score.value:.3f}",
                f"test {metric}": f"{start_test.score.value:.3f} ({config.start}) -> "
                                  f"{winner_test.score.value:.3f} (scored once, not used to "
                                  f"select)",
                "candidate": f"{winner} by {candidate.proposer}: {candidate.rationale}",
                "model": f"{config.model} ({config.mode} mode)",
                "teacher": config.teacher, "seed": config.seed, "run id": state.run_id,
                "report": _relative(directory / "index.html", self.root),
            }
            written = write_version(self.task, state.target_version, config.start, candidate,
                                    self.parts["train"], facts).path
        state.status = "done"
        checkpoint.save(directory, state)
        n_candidates = len(state.candidates)
        return OptimizeResult(
            run_id=state.run_id, config=config, directory=directory,
            candidates=tuple(state.candidates), evaluations=tuple(state.evaluations),
            iterations=tuple(state.iterations), winner=winner,
            sources={c.id: self.version(state, c.id).source for c in state.candidates},
            instructions={c.id: self.instruction(state, c.id) for c in state.candidates},
            start_validation=start_val, winner_validation=winner_val, start_test=start_test,
            winner_test=winner_test, written=written, stop_reason=state.stop_reason,
            charged=state.charged, calls=state.calls, tokens=state.tokens, duration_s=duration,
            metric=objective.describe(self.task),
            written_source=written.read_text(encoding="utf-8") if written else "",
            notes=(f"{n_candidates} candidates",))

    def close(self) -> None:
        if self._teacher is not None and self._teacher is not self.backend:
            self._teacher.close()


def optimize(config: OptimizeConfig, *, root: Path, backend: Backend,
             teacher: Callable[[], Backend], cache: Cache, report_dir: Path,
             resume: bool = False, echo: Echo = lambda line: None,
             progress: bool = False) -> OptimizeResult:
    """Run (or resume) an optimization; see the module docstring."""
    optimizer = Optimizer(config, root=root, backend=backend, teacher=teacher, cache=cache,
                          report_dir=report_dir, echo=echo, progress=progress)
    try:
        return optimizer.run(resume=resume)
    finally:
        optimizer.close()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
