"""The optimizer loop. Candidate 0 is the start version, scored on validation. Each iteration:

1. run the incumbent on a train sample and sample its errors across confusion cells;
2. ask each proposer for one candidate (a degenerate teacher instruction is rejected, with
   the reason);
3. screen the candidates on a validation minibatch next to the incumbent on the same examples;
   only those strictly better (at most `confirm`) get the full validation split;
4. replace the incumbent only with a real gain there (selection.py).

It stops on the call budget, the iteration limit, patience or the target. Test is scored once,
at the end, for the start and the winner, and never used to select. Model calls that fail stop
the run (CallsFailed); `resume` continues from the last finished iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timezone
from pathlib import Path

from harness.cache import Cache
from harness.config import shown_path
from harness.datasets import load_fixture
from harness.errors import UsageError
from harness.models.base import Backend
from harness.optimizer import objective
from harness.optimizer import events as ev
from harness.optimizer.budget import Budget, OverBudget
from harness.optimizer.candidates import write_version
from harness.optimizer.preflight import check_blocks, check_config, estimate_calls
from harness.optimizer.evaluation import Evaluator, Scored, TeacherLine
from harness.optimizer.journal import CHECKPOINT, Journal, State, find_resumable, \
    resumed_config
from harness.optimizer.proposers import Context, Proposal, make_proposers
from harness.optimizer.records import (Candidate, CandidateEval, IterationLog,
                                       OptimizeConfig, OptimizeResult, Outcome, Rejection)
from harness.optimizer.sampling import rng, sample_errors, splits, stratified_sample
from harness.optimizer.selection import accept_verdict, gain, screen_verdict
from harness.prompts import load_version, next_version
from harness.tasks import load_task

TIMING_SAMPLE = 8  # validation examples of the start version timed for the estimate
# (after one untimed call that loads the model)
BUDGET_SPENT = "call budget spent"


class Optimizer:
    def __init__(self, config: OptimizeConfig, *, root: Path, backends: Callable[[str], Backend],
                 cache: Cache, report_dir: Path, resume: bool = False,
                 explicit: Collection[str] = (), on_event: ev.OnEvent = lambda e: None,
                 progress: bool = False) -> None:
        self.root, self.emit = root, on_event
        journal = None
        if resume:  # the run's own settings, unless a limit is explicitly changed
            directory = find_resumable(report_dir, config.task)
            journal = Journal.resume(directory)
            config, self._kept, self._changed = resumed_config(
                journal.state.config, config, frozenset(explicit), directory / CHECKPOINT)
        self.config = config
        self.task = load_task(root, config.task)
        self.start = load_version(self.task, config.start)
        fixture = load_fixture(self.task)
        self.parts = splits(self.task, fixture)
        check_config(config, len(self.parts["validation"]))
        check_blocks(self.task, self.start, config.proposers)
        backend = backends(config.model)
        if config.mode not in backend.modes():
            raise UsageError(f"model {config.model!r} does not support mode {config.mode!r}")
        teacher = backends(config.teacher) if "teacher" in config.proposers else None
        if teacher is not None and "generate" not in teacher.modes():
            raise UsageError(f"teacher {config.teacher!r} cannot generate text "
                             f"(modes: {', '.join(teacher.modes())})")
        if journal is None:  # everything checked: only now does a run folder appear
            started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
            run_id = f"{started}-optimize-{config.task}-{config.start}-s{config.seed}"
            journal = Journal.create(report_dir, State(
                run_id=run_id, config=config, target_version=next_version(self.task),
                budget=Budget(config.budget_calls)))
        journal.state.config = config
        journal.state.budget.limit = config.budget_calls
        self.journal, self.state, self.budget = journal, journal.state, journal.state.budget
        self.resumed = resume
        self.evaluator = Evaluator(
            self.task, fixture, target=self.state.target_version, start=config.start,
            model=config.model, mode=config.mode, train=self.parts["train"], root=root,
            backend=backend, cache=cache, budget=self.budget, on_call=journal.call,
            progress=progress)
        ask = TeacherLine(teacher, cache, self.budget, journal.call).ask if teacher else None
        self.proposers = make_proposers(config.proposers, teacher=config.teacher,
                                        max_demos=config.max_demos, ask=ask)  # type: ignore

    # -- the algorithm -------------------------------------------------------------------------
    def run(self) -> OptimizeResult:
        config, state = self.config, self.state
        n_val, n_test = len(self.parts["validation"]), len(self.parts["test"])
        search = min(estimate_calls(config, len(self.parts["train"]), n_val), config.budget_calls)
        self.emit(ev.Started(config.task, config.start, objective.describe(self.task),
                             len(self.parts["train"]), n_val, n_test,
                             config.teacher if "teacher" in config.proposers else None,
                             config.seed, config.budget_calls, search,
                             2 * n_test))
        if self.resumed:
            self.emit(ev.Resumed(state.run_id, len(state.iterations), self.budget.charged,
                                 self.journal.calls, self._kept, self._changed))
        if not state.candidates:
            self._score_start(search + 2 * n_test)
            self.journal.save()
        while not (reason := self._stop_reason()):
            self._iteration(len(state.iterations) + 1)
            self.journal.save()
        state.stop_reason = reason
        self.emit(ev.Stopped(reason))
        return self._finish()

    def _score_start(self, ahead: int) -> None:
        start = Candidate(0, 0, None, "start", None, None, f"the start version {self.config.start}")
        self.journal.candidate(start)
        validation = self.parts["validation"]
        # The first call loads the model (seconds to minutes on a busy machine, once): it is
        # made before the clock starts, so the estimate times only calls like the ones ahead.
        warm = self.evaluator.evaluate(start, validation[:1], "validation")
        timed, seconds = self.evaluator.timed_calls, self.evaluator.timed_seconds
        sample = self.evaluator.evaluate(start, validation[:1 + TIMING_SAMPLE], "validation")
        timed = self.evaluator.timed_calls - timed
        seconds = self.evaluator.timed_seconds - seconds
        per_call = seconds / timed if timed else 0.0
        charged = warm.charged + sample.charged
        self.emit(ev.TimeEstimate(timed, per_call, ahead - charged, per_call * (ahead - charged)))
        full = self.evaluator.evaluate(start, validation, "validation")
        self.journal.evaluation(CandidateEval(0, 0, "validation", full.score,
                                              warm.calls + sample.calls + full.calls,
                                              charged + full.charged, full.tokens,
                                              verdict="start"))
        self.emit(ev.StartScored(full.score))

    def _stop_reason(self) -> str:
        config, state = self.config, self.state
        best = self._validation_record(state.incumbent).score
        if config.target is not None and best.feasible and best.value >= config.target:
            return f"reached the target {config.target:g}"
        if state.stop_reason:
            return state.stop_reason
        if len(state.iterations) >= config.iterations:
            return f"ran {config.iterations} iterations"
        if state.stale >= config.patience:
            return f"no improvement for {state.stale} iterations (patience)"
        return ""

    def _iteration(self, it: int) -> None:
        config, state = self.config, self.state
        incumbent = state.candidates[state.incumbent]
        try:
            sample = stratified_sample(self.parts["train"], config.train_sample,
                                       rng(config.seed, "train"))
            on_train = self.evaluator.evaluate(incumbent, sample, "train")
        except OverBudget:
            state.stop_reason = BUDGET_SPENT
            return
        self._record(incumbent, it, "train", on_train, verdict="errors")
        errors = sample_errors(sample, on_train.predictions, config.errors_shown,
                               rng(config.seed, "errors", it))
        proposals, out_of_budget = self._propose(it, incumbent, errors)
        candidates = []
        for proposal in proposals:
            candidate = Candidate(len(state.candidates), it, incumbent.id, proposal.proposer,
                                  proposal.instruction, proposal.demos, proposal.rationale)
            self.journal.candidate(candidate)
            self.emit(ev.Proposed(candidate))
            candidates.append(candidate)
        promoted, spent = self._screen(it, incumbent, candidates)
        best, accepted = self._confirm(it, incumbent, promoted)
        if accepted is not None:
            state.incumbent, state.stale = accepted.id, 0
        else:
            state.stale += 1
        if out_of_budget or spent:
            state.stop_reason = BUDGET_SPENT
        self.journal.iteration(IterationLog(
            it, state.incumbent, best, tuple(c.id for c in candidates),
            tuple(c.id for c in promoted), accepted.id if accepted else None,
            sum(r.iteration == it for r in state.rejections), self.budget.charged))
        self.emit(ev.IterationDone(it, config.iterations, state.candidates[state.incumbent],
                                   best, self._validation_record(0).score, accepted is not None,
                                   self.budget.charged, config.budget_calls, self.journal.calls))

    def _propose(self, it: int, incumbent: Candidate, errors) -> tuple[list[Proposal], bool]:
        state = self.state
        history = tuple((self.evaluator.instruction(c), record.score) for c in state.candidates
                        if (record := self._validation_record(c.id, missing_ok=True)))
        context = Context(self.task, it, incumbent, self.evaluator.instruction(incumbent),
                          tuple(errors), history,
                          frozenset(c.signature() for c in state.candidates),
                          tuple(self.evaluator.instruction(c) for c in state.candidates))
        found, tried, out_of_budget = [], set(context.tried), False
        for proposer in self.proposers:
            try:
                proposal = proposer.propose(context)
            except OverBudget:
                out_of_budget = True
                self._reject(Rejection(it, proposer.name, f"not asked: {BUDGET_SPENT}"))
                continue
            if isinstance(proposal, Rejection):
                self._reject(proposal)
            elif proposal is not None and (proposal.instruction, proposal.demos) in tried:
                self._reject(Rejection(it, proposal.proposer, "same as an earlier candidate"))
            elif proposal is not None:
                tried.add((proposal.instruction, proposal.demos))
                found.append(proposal)
        return found, out_of_budget

    def _screen(self, it: int, incumbent: Candidate,
                candidates: list[Candidate]) -> tuple[list[Candidate], bool]:
        """The candidates that get the full validation split, and whether the budget ran out."""
        validation = self.parts["validation"]
        batch = stratified_sample(validation, self.config.minibatch,
                                  rng(self.config.seed, "screen", it))
        if len(batch) >= len(validation) or not candidates:
            return candidates, False  # the minibatch would be the whole split: no screening
        try:
            against = self.evaluator.evaluate(incumbent, batch, "screen")
        except OverBudget:
            for candidate in candidates:
                self.emit(ev.NotScored(it, candidate, "screen", BUDGET_SPENT))
            return [], True
        self._record(incumbent, it, "screen", against, verdict="incumbent")
        scored: dict[int, Scored] = {}
        spent = False
        for candidate in candidates:
            try:
                scored[candidate.id] = self.evaluator.evaluate(candidate, batch, "screen")
            except OverBudget:
                spent = True
                self.emit(ev.NotScored(it, candidate, "screen", BUDGET_SPENT))
        better = sorted((s.score.key(), -cid) for cid, s in scored.items()
                        if screen_verdict(s.score, against.score) == "better")
        top = {-negative for _, negative in better[::-1][: self.config.confirm]}
        for candidate in candidates:
            if candidate.id not in scored:
                continue
            s = scored[candidate.id]
            verdict = screen_verdict(s.score, against.score)
            if verdict == "better" and candidate.id not in top:
                verdict = "not-confirmed"
            self._record(candidate, it, "screen", s, against=against.score, verdict=verdict)
            self.emit(ev.Screened(it, candidate, s.score, against.score, verdict))
        return [c for c in candidates if c.id in top], spent

    def _confirm(self, it: int, incumbent: Candidate, promoted: list[Candidate]):
        """Full validation for the promoted; returns (best score, accepted candidate or None)."""
        if not promoted:
            return self._validation_record(incumbent.id).score, None
        validation = self.parts["validation"]
        best = self.evaluator.evaluate(incumbent, validation, "validation")  # charged before
        accepted = None
        for candidate in promoted:
            try:
                scored = self.evaluator.evaluate(candidate, validation, "validation")
            except OverBudget:
                self.emit(ev.NotScored(it, candidate, "validation", BUDGET_SPENT))
                continue
            change = self._gain(best, scored)
            verdict = accept_verdict(scored.score, best.score, change, self.config)
            self._record(candidate, it, "validation", scored, against=best.score,
                         verdict=verdict, change=change)
            self.emit(ev.Confirmed(it, candidate, scored.score, best.score, change, verdict))
            if verdict == "accepted":
                best, accepted = scored, candidate
        return best.score, accepted

    def _finish(self) -> OptimizeResult:
        config, state, evaluator = self.config, self.state, self.evaluator
        winner = state.candidates[state.incumbent]
        finalists = [state.candidates[0]] + ([winner] if winner.id else [])
        self.emit(ev.FinalScoring(len(finalists) * len(self.parts["test"])))
        outcomes: dict[tuple[int, str], Scored] = {}
        for candidate in finalists:
            for split in ("validation", "test"):
                # Not charged: validation is known from the search; test runs once, here.
                outcomes[(candidate.id, split)] = evaluator.evaluate(
                    candidate, self.parts[split], split, charge=False)
            self._record(candidate, len(state.iterations), "test",
                         outcomes[(candidate.id, "test")], verdict="final")
        start_val, start_test = outcomes[(0, "validation")], outcomes[(0, "test")]
        winner_val = outcomes[(winner.id, "validation")]
        winner_test = outcomes[(winner.id, "test")]
        validation_gain = self._gain(start_val, winner_val) if winner.id else None
        test_gain = self._gain(start_test, winner_test) if winner.id else None
        written, source = None, ""
        if winner.id:
            holds = test_gain.delta > 0 and test_gain.pvalue <= config.alpha
            facts = {
                "parent": config.start,
                f"validation {self.task.optimize_metric}": validation_gain.describe(),
                f"test {self.task.optimize_metric}": f"{test_gain.describe()}; "
                f"{'holds' if holds else 'does NOT hold'} on test (scored once, never used "
                f"to select)",
                "candidate": f"{winner.id} by {winner.proposer}: {winner.rationale}",
                "model": f"{config.model} ({config.mode} mode)",
                "teacher": config.teacher, "seed": config.seed, "run id": state.run_id,
                "report": shown_path(self.journal.directory / "index.html", self.root),
            }
            written = write_version(self.task, state.target_version, config.start, winner,
                                    self.parts["train"], facts).path
            source = written.read_text(encoding="utf-8")
        state.status = "done"
        self.journal.save()
        return OptimizeResult(
            run_id=state.run_id, config=config, directory=self.journal.directory,
            candidates=tuple(state.candidates), evaluations=tuple(state.evaluations),
            rejections=tuple(state.rejections), iterations=tuple(state.iterations),
            winner=winner.id,
            instructions={c.id: evaluator.instruction(c) for c in state.candidates},
            start_validation=_outcome(start_val), winner_validation=_outcome(winner_val),
            start_test=_outcome(start_test), winner_test=_outcome(winner_test),
            validation_gain=validation_gain, test_gain=test_gain, written=written,
            written_source=source, stop_reason=state.stop_reason, charged=self.budget.charged,
            calls=self.journal.calls, tokens=self.journal.tokens,
            duration_s=self.journal.elapsed_s, metric=self.task.optimize_metric,
            objective=objective.describe(self.task))

    # -- helpers -------------------------------------------------------------------------------
    def _record(self, candidate: Candidate, it: int, stage: str, scored: Scored, *,
                against=None, verdict: str = "", change=None) -> None:
        self.journal.evaluation(CandidateEval(candidate.id, it, stage, scored.score,
                                              scored.calls, scored.charged, scored.tokens,
                                              against, verdict, change))

    def _reject(self, rejection: Rejection) -> None:
        self.journal.rejection(rejection)
        self.emit(ev.ProposalRejected(rejection))

    def _gain(self, before: Scored, after: Scored):
        return gain(before.predictions, after.predictions, labels=self.task.label_names,
                    metric=self.task.optimize_metric, seed=self.config.seed)

    def _validation_record(self, cid: int, *, missing_ok: bool = False):
        found = [e for e in self.state.evaluations
                 if e.candidate == cid and e.stage == "validation"]
        if not found and not missing_ok:
            raise AssertionError(f"candidate {cid} has no validation score")
        return found[-1] if found else None


def optimize(config: OptimizeConfig, *, root: Path, backends: Callable[[str], Backend],
             cache: Cache, report_dir: Path, resume: bool = False,
             explicit: Collection[str] = (), on_event: ev.OnEvent = lambda e: None,
             progress: bool = False) -> OptimizeResult:
    """Run (or `resume`) an optimization; see the module docstring. `backends(name)` gives the
    backend of a model name (the caller owns and closes them). On `resume`, the run's own
    settings apply; only the names in `explicit` (limits: budget_calls, iterations, patience,
    target) override them."""
    return Optimizer(config, root=root, backends=backends, cache=cache, report_dir=report_dir,
                     resume=resume, explicit=explicit, on_event=on_event,
                     progress=progress).run()


def _outcome(scored: Scored) -> Outcome:
    return Outcome(scored.metrics, scored.score)

