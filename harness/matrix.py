"""Cost vs quality, side by side: one cell per (model x prompting strategy), all on the same
examples, with the main metric and its bootstrap interval, calls, tokens, wall time and cost, the
Pareto front (best metric for the cost) and the classical TF-IDF baseline as a reference.
Plain records computed once here; harness.report.matrix only lays them out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.classical import tfidf_logreg
from harness.errors import HarnessError
from harness.metrics import Metrics, classification_metrics
from harness.records import Example, RunResult
from harness.stats import bootstrap_intervals


@dataclass(frozen=True, slots=True)
class Cell:
    model: str
    strategy: str
    strategy_note: str
    metric: float
    low: float  # bootstrap interval of the main metric
    high: float
    accuracy: float
    requests: int  # one per example (a self-consistency request holds all its samples)
    model_calls: int  # of those, not answered from the cache
    prompt_tokens: int  # of every prediction, cached or not: what the cell costs to run cold
    completion_tokens: int
    wall_s: float  # this run's time (cache hits take ~0: a warm cell is fast, not cheap)
    cost_usd: float | None  # None: the model's price is unknown (never a made-up zero)
    errors: int
    report: str = ""  # the cell's run report, relative to the matrix page
    pareto: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Matrix:
    task: str
    version: str
    split: str
    n_examples: int
    metric: str
    models: tuple[str, ...]
    strategies: tuple[str, ...]
    cells: tuple[Cell, ...]
    cost_axis: str  # "cost_usd" when every cell has a price (not all $0), else "tokens"
    classical: float | None  # the TF-IDF + logistic regression baseline's main metric
    classical_note: str = ""

    def cell(self, model: str, strategy: str) -> Cell:
        return next(c for c in self.cells if c.model == model and c.strategy == strategy)


def make_cell(result: RunResult, metrics: Metrics, *, report: str = "", seed: int = 0) -> Cell:
    metric = result.task.metric
    answered = [p for p in result.predictions if p.error is None]
    intervals = bootstrap_intervals([p.expected for p in answered],
                                    [p.predicted for p in answered],
                                    labels=result.task.label_names, seed=seed)
    interval = intervals.overall[metric]
    price = result.price
    return Cell(
        model=result.spec.model, strategy=result.spec.strategy,
        strategy_note=result.spec.strategy_note, metric=float(getattr(metrics, metric)),
        low=interval.low, high=interval.high, accuracy=metrics.accuracy,
        requests=len(result.predictions), model_calls=result.model_calls,
        prompt_tokens=sum(p.usage.prompt_tokens for p in result.predictions),
        completion_tokens=sum(p.usage.completion_tokens for p in result.predictions),
        wall_s=result.duration_s,
        cost_usd=None if price is None else sum(price.cost(p.usage) for p in result.predictions),
        errors=len(result.errors), report=report)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (cost, quality) points: True where no other point is at most as costly and at least
    as good, and strictly better in one of the two."""
    return [not any(c2 <= c and q2 >= q and (c2 < c or q2 > q) for c2, q2 in points)
            for c, q in points]


def build(task: str, version: str, cells: Sequence[Cell], *, metric: str, split: str,
          examples: Sequence[Example], train: Sequence[Example], labels: Sequence[str],
          seed: int = 0) -> Matrix:
    # Dollars when every cell has a price and something costs; else tokens (the local model
    # is priced at $0, which would put every cell on one vertical line).
    priced = all(c.cost_usd is not None for c in cells) and any(c.cost_usd for c in cells)
    axis = "cost_usd" if priced else "tokens"
    front = pareto_front([(c.cost_usd if priced else c.tokens, c.metric) for c in cells])  # type: ignore[misc]
    from dataclasses import replace
    cells = [replace(c, pareto=on) for c, on in zip(cells, front)]
    classical, note = _classical(train, examples, labels, metric, seed)
    return Matrix(task=task, version=version, split=split, n_examples=len(examples),
                  metric=metric, models=tuple(dict.fromkeys(c.model for c in cells)),
                  strategies=tuple(dict.fromkeys(c.strategy for c in cells)),
                  cells=tuple(cells), cost_axis=axis, classical=classical, classical_note=note)


def _classical(train, examples, labels, metric, seed) -> tuple[float | None, str]:
    try:
        fitted = tfidf_logreg(train, examples, labels, seed=seed)
    except (HarnessError, ValueError) as exc:
        return None, f"classical baseline skipped: {exc}"
    scores = classification_metrics([e.label for e in examples], list(fitted.predictions),
                                    labels=labels)
    return float(getattr(scores, metric)), (f"{fitted.name}, trained on {fitted.n_train} train "
                                            f"examples")
