"""Frozen records passed between stages. Plain data: no I/O, no model calls.

The flow is task.yaml + vN.jinja + fixtures -> RenderedPrompt -> ModelOutput -> Prediction -> RunResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Bumped when the on-disk shape of cache entries changes (it is part of every cache key).
SCHEMA_VERSION = 1
# Bumped when the shape of a stored run (metrics.json + results.jsonl) or a baseline changes.
RUN_SCHEMA = 2

# How a baseline comparison decides: `paired` fails a drop beyond the tolerance only when a
# paired test says it is unlikely to be noise; `strict` fails every drop beyond the tolerance.
BASELINE_RULES = ("paired", "strict")

# The pseudo-label for an answer that maps to no label. Never a valid label name in task.yaml.
INVALID = "INVALID"

MODES = ("score", "generate", "constrained")
# The metric names, owned here so task.yaml validation, metrics, statistics, gates and reports
# agree: whole-run metrics, and the per-label ones (`recall[Objective]`).
OVERALL_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "micro_f1",
                   "weighted_f1")
LABEL_METRICS = ("precision", "recall", "f1")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One gate rule: `metric[label] >= minimum` (label None for whole-run metrics)."""

    metric: str
    minimum: float
    label: str | None = None

    def __str__(self) -> str:
        target = f"{self.metric}[{self.label}]" if self.label else self.metric
        return f"{target} >= {self.minimum:g}"


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """Fractions for the derived stratified split, used when a fixture row has no `split`."""

    train: float = 0.5
    validation: float = 0.25
    test: float = 0.25
    seed: int = 0


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    path: Path  # the task.yaml
    labels: tuple[Label, ...]
    dataset: Path
    input_fields: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    # Largest allowed drop of a gated metric against the committed baseline (absolute, 0..1).
    baseline_tolerance: float = 0.05
    # Significance level of the paired baseline test, and which rule decides (BASELINE_RULES).
    alpha: float = 0.05
    baseline_rule: str = "paired"
    metric: str = "macro_f1"
    splits: SplitSpec = SplitSpec()
    description: str = ""
    # Versions kept for comparison: evaluated and reported, not held to the thresholds.
    retired: tuple[str, ...] = ()
    # `optimize:` in task.yaml: the metric the optimizer maximizes on validation (default:
    # `metric`) and floors a candidate must meet to be feasible (e.g. recall[Objective] >= 0.3).
    optimize_metric: str = "macro_f1"
    optimize_constraints: tuple[Rule, ...] = ()

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def prompt_dir(self) -> Path:
        return self.path.parent


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    inputs: Mapping[str, str]
    label: str
    split: str
    line: int
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Fixture:
    path: Path
    examples: tuple[Example, ...]
    content_hash: str

    def select(self, split: str) -> tuple[Example, ...]:
        """`all`, a split name, or `critical` (critical cases from every split)."""
        if split == "all":
            return self.examples
        if split == "critical":
            return tuple(e for e in self.examples if e.critical)
        return tuple(e for e in self.examples if e.split == split)


@dataclass(frozen=True, slots=True)
class Demonstrations:
    """Few-shot examples a template receives as the `demonstrations` variable: always data,
    never template source. `fixed`: the same examples for every input; `knn`: for each input, the
    `k` most similar examples of `examples` (the pool) by TF-IDF cosine similarity."""

    kind: str  # "fixed" | "knn"
    examples: tuple[Example, ...]
    k: int = 0


@dataclass(frozen=True, slots=True)
class PromptVersion:
    task: str
    name: str  # "v2"
    path: Path
    source: str
    parent: str | None  # the version it {% extends %}, if any
    content_hash: str  # covers this template, every parent it extends, and its demonstrations
    # From the sidecar `vN.demos.json` (or the nearest parent's), or given to an in-memory version.
    demonstrations: Demonstrations | None = None
    # Every template the version may load, (name relative to the prompt folder, source), when it
    # was read from elsewhere than the prompt folder (another git commit); None: from the folder.
    sources: tuple[tuple[str, str], ...] | None = None
    # The prompting strategy the version declares (`{# strategy: NAME #}` in its template or
    # the nearest one it extends; harness.strategy) and the template that declares it.
    strategy: str = "zero-shot"
    strategy_from: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    example_id: str
    messages: tuple[Message, ...]
    hash: str


@dataclass(frozen=True, slots=True)
class DecodingParams:
    """Only parameters that change the output; they are part of the cache key."""

    temperature: float = 0.0
    max_tokens: int = 24
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model; `source`: built-in, pyproject or in-process."""

    model: str
    input_per_1m: float
    output_per_1m: float
    source: str

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_1m
                + usage.completion_tokens * self.output_per_1m) / 1_000_000


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Chain of thought before the label (strategies `cot` and `self-consistency:N`): the model
    writes up to `max_tokens` of reasoning, then the label is taken after it (by scoring the
    labels in score mode). `samples` > 1 is self-consistency: that many reasonings sampled at
    `temperature` (seeded by `seed` and the sample index), each answered, voted in code."""

    samples: int = 1
    max_tokens: int = 160
    temperature: float = 0.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What the runner asks a backend: one rendered prompt, the label set, how to get a label.
    `sample` tells repeated samples of the same prompt apart (it is part of the cache key);
    `reasoning`, when set, asks for a reasoning before the label (part of the cache key)."""

    prompt: RenderedPrompt
    labels: tuple[str, ...]
    mode: str
    params: DecodingParams = DecodingParams()
    sample: int = 0
    reasoning: Reasoning | None = None


@dataclass(frozen=True, slots=True)
class ReasonedAnswer:
    """One reasoning (a `Reasoning` request's sample) and the answer taken after it: a label,
    or INVALID when a generated answer names none. `distribution`: the labels scored after this
    reasoning (score mode), else None."""

    reasoning: str
    answer: str
    distribution: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """What a backend answers. `error` is an infrastructure failure, never a wrong answer."""

    raw: str = ""
    # Normalized probability of each label (score mode); None when the mode gives none.
    distribution: Mapping[str, float] | None = None
    usage: Usage = Usage()
    error: str | None = None
    # Reasoning requests only (harness.reasoning): each sample's reasoning and answer, and the
    # labels that shared the top vote when the vote tied (`raw` then holds the tie-break winner).
    samples: tuple[ReasonedAnswer, ...] = ()
    tied: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    example_id: str
    expected: str
    predicted: str | None  # a label, INVALID, or None when the call errored
    confidence: float | None
    distribution: Mapping[str, float] | None
    raw: str
    prompt_hash: str
    cached: bool
    usage: Usage = Usage()
    error: str | None = None
    # As in ModelOutput: the reasoning(s) and per-sample answers, and a tied vote's labels.
    samples: tuple[ReasonedAnswer, ...] = ()
    tied: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected


@dataclass(frozen=True, slots=True)
class RunSpec:
    task: str
    version: str
    model: str = "local"
    mode: str = "score"
    split: str = "test"
    limit: int | None = None
    params: DecodingParams = DecodingParams()
    # The prompting strategy run (harness.strategy) and where it came from: `declared` by the
    # version, `override` (--strategy, exploring), or `default` (zero-shot, nothing declared);
    # `strategy_note` says more (e.g. which run supplied few-shot:errors demonstrations).
    strategy: str = "zero-shot"
    strategy_source: str = "default"
    strategy_note: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    spec: RunSpec
    task: TaskSpec
    prompt: PromptVersion
    dataset_hash: str
    model_identity: Mapping[str, str]
    examples: tuple[Example, ...]
    predictions: tuple[Prediction, ...]
    started_at: str  # ISO 8601, UTC
    duration_s: float
    rendered_example: RenderedPrompt | None = None
    git: Mapping[str, str] = field(default_factory=dict)
    # harness.environment.run_environment: versions, CPU, threads (what can move rounding).
    environment: Mapping[str, str] = field(default_factory=dict)
    # The model's token price; None = unknown (then cost is unknown, never zero).
    price: Price | None = None

    @property
    def model_calls(self) -> int:
        return sum(1 for p in self.predictions if not p.cached)

    @property
    def cache_hits(self) -> int:
        return sum(1 for p in self.predictions if p.cached)

    @property
    def errors(self) -> tuple[Prediction, ...]:
        return tuple(p for p in self.predictions if p.error is not None)

    @property
    def answered(self) -> tuple[Prediction, ...]:
        return tuple(p for p in self.predictions if p.error is None)

    @property
    def without_confidence(self) -> int:
        """Answered score-mode predictions whose confidence the backend could not give."""
        if self.spec.mode != "score":
            return 0
        return sum(1 for p in self.answered if p.confidence is None)
