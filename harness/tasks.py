"""Find tasks (`prompts/<task>/task.yaml`) and read them into validated TaskSpecs.

Errors name the file and the line of the offending key, e.g.
`prompts/subjectivity/task.yaml:14: thresholds.recall: 'Objectve' is not a label (labels: ...)`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError, warn
from harness.inputs import safeyaml
from harness.inputs.text import BadInput, did_you_mean, shorten
from harness.records import (BASELINE_RULES, INVALID, LABEL_METRICS, OVERALL_METRICS, Label, Rule,
                             SplitSpec, TaskSpec)

RESERVED_VARIABLES = ("labels", "task", "example_id", "demonstrations")
MAX_SEED = 2**63
_KNOWN_KEYS = {"description", "dataset", "inputs", "labels", "metric", "thresholds",
               "baseline_tolerance", "alpha", "baseline_rule", "split", "retired", "optimize"}


def list_tasks(root: Path) -> list[str]:
    prompts = root / "prompts"
    if not prompts.is_dir():
        return []
    return sorted(p.parent.name for p in prompts.glob("*/task.yaml"))


def load_task(root: Path, name: str) -> TaskSpec:
    path = root / "prompts" / name / "task.yaml"
    if not path.is_file():
        known = list_tasks(root)
        hint = f"known tasks: {', '.join(known)}" if known else \
            f"no task found under {root / 'prompts'} (expected prompts/<task>/task.yaml)"
        raise UsageError(f"unknown task {name!r}; {hint}")
    return _parse(path, name, root)


class _Doc:
    """A YAML mapping plus the line of each key, for errors that point at the line. Read within
    the limits of harness.inputs.safeyaml (size, depth, aliases, duplicate keys)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            document = safeyaml.load(path, "task.yaml")
        except BadInput as exc:
            where = f"{path}:{exc.line}" if exc.line else str(path)
            raise UsageError(f"{where}: {exc.message}") from None
        self.data = document.data
        if not isinstance(self.data, dict):
            raise UsageError(f"{path}: expected a mapping of keys (description, dataset, labels, ...)")
        self.lines: dict[str, int] = {}
        self._nodes: dict[str, Any] = {}
        self._index(document.node, "")

    def _index(self, node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                dotted = f"{prefix}{key.value}"
                self.lines.setdefault(dotted, safeyaml.line_of(key))
                self._nodes.setdefault(dotted, value)
                self._index(value, dotted + ".")

    def raw_items(self, key: str) -> list[tuple[str, Any]]:
        """A mapping's items with keys exactly as written. A key where a label name belongs must
        be text: YAML 1.1 reads `yes`, `No`, `on`, `null`, `1.0` as other types, so the user is
        told to quote it instead of the harness guessing what was meant."""
        node = self._nodes.get(key)
        if not isinstance(node, yaml.MappingNode):
            return []
        items = []
        for k, v in node.value:
            if k.tag != safeyaml.STR_TAG:
                kind = k.tag.rsplit(":", 1)[-1]
                reading = "null" if kind == "null" else f"a {kind}"
                raise self.error(f"{key}.{k.value}", f"YAML reads the name {shorten(k.value)} "
                                 f"as {reading}, not text; quote it: \"{k.value}\":")
            items.append((k.value, yaml.SafeLoader("").construct_document(v)))
        return items

    def warn_unknown(self, prefix: str, keys: Any, known: tuple[str, ...] | set[str]) -> None:
        """Unknown keys are most likely typos: warn (an error in strict mode), naming the line
        and the closest known key."""
        for key in keys:
            if str(key) not in known:
                dotted = f"{prefix}{key}"
                line = self.lines.get(dotted)
                where = f"{self.path}:{line}" if line else str(self.path)
                warn(f"{where}: unknown key {shorten(str(key))}{did_you_mean(key, known)} (ignored; "
                     f"known keys: {', '.join(sorted(known))})")

    def error(self, key: str, message: str) -> UsageError:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else str(self.path)
        return UsageError(f"{where}: {key}: {message}")


def _parse(path: Path, name: str, root: Path) -> TaskSpec:
    doc = _Doc(path)
    data = doc.data
    doc.warn_unknown("", data, _KNOWN_KEYS)

    labels = _labels(doc)
    names = tuple(label.name for label in labels)

    if "dataset" not in data:
        raise UsageError(f"{path}: missing key 'dataset' (path of the fixture: .jsonl, .csv, "
                         ".tsv or .parquet, relative to the project root)")
    if not isinstance(data["dataset"], str) or not data["dataset"].strip():
        raise doc.error("dataset", f"expected a file path relative to the project root, got "
                                   f"{shorten(data['dataset'])}")
    dataset = root / data["dataset"]
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise doc.error("description", f"expected one line of text, got {shorten(description)}")

    inputs = data.get("inputs", ["text"])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i.isidentifier() for i in inputs):
        raise doc.error("inputs", f"expected a list of field names usable as template variables, "
                                  f"got {shorten(inputs)}")
    if len(set(inputs)) != len(inputs):
        raise doc.error("inputs", f"a field is listed twice: {', '.join(inputs)}")
    clash = sorted(set(inputs) & set(RESERVED_VARIABLES))
    if clash:
        raise doc.error("inputs", f"{clash[0]!r} is reserved for templates; rename the field")

    metric = data.get("metric", "macro_f1")
    if metric not in OVERALL_METRICS:
        raise doc.error("metric", f"unknown metric {shorten(metric)}; choose one of "
                                  f"{', '.join(OVERALL_METRICS)}"
                                  f"{did_you_mean(metric, OVERALL_METRICS)}")

    tolerance = data.get("baseline_tolerance", 0.05)
    if not _is_number(tolerance) or not 0 <= tolerance <= 1:
        raise doc.error("baseline_tolerance", f"expected a number in 0..1 (absolute drop allowed), "
                                              f"got {shorten(tolerance)}")

    alpha = data.get("alpha", 0.05)
    if not _is_number(alpha) or not 0 < alpha < 1:
        raise doc.error("alpha", f"expected a significance level in (0, 1) such as 0.05, "
                                 f"got {shorten(alpha)}")
    rule = data.get("baseline_rule", "paired")
    if not isinstance(rule, str) or rule not in BASELINE_RULES:
        raise doc.error("baseline_rule", f"expected one of {', '.join(BASELINE_RULES)}, "
                                         f"got {shorten(rule)}{did_you_mean(rule, BASELINE_RULES)}")

    optimize_metric, constraints = _optimize(doc, names, metric)
    return TaskSpec(
        name=name, path=path, labels=labels, dataset=dataset, input_fields=tuple(inputs),
        optimize_metric=optimize_metric, optimize_constraints=constraints,
        rules=_rules(doc, names), baseline_tolerance=float(tolerance), metric=metric,
        splits=_splits(doc), description=description.strip(), retired=_retired(doc),
        alpha=float(alpha), baseline_rule=rule,
    )


def _is_number(value: Any) -> bool:
    """A real, finite number: not a bool (YAML `yes`), not NaN or infinity (`.nan`, `.inf`)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _retired(doc: _Doc) -> tuple[str, ...]:
    """Versions that must exist on disk: `retired: [v9]` naming nothing is a typo, not a no-op."""
    retired = doc.data.get("retired") or []
    if not isinstance(retired, list) or not all(isinstance(v, str) for v in retired):
        raise doc.error("retired", f"expected a list of version names like [v1], got "
                                   f"{shorten(retired)}")
    on_disk = sorted((p.stem for p in doc.path.parent.glob("v*.jinja")),
                     key=lambda v: (len(v), v))
    for i, version in enumerate(retired):
        if version in retired[:i]:
            raise doc.error("retired", f"{version!r} is listed twice")
        if version not in on_disk:
            raise doc.error("retired", f"{version!r} is not a prompt version of this task "
                                       f"(versions: {', '.join(on_disk) or 'none'})"
                                       f"{did_you_mean(version, on_disk)}")
    return tuple(retired)


def _labels(doc: _Doc) -> tuple[Label, ...]:
    raw = doc.data.get("labels")
    items = doc.raw_items("labels") if isinstance(raw, dict) else []
    if len(items) < 2:
        raise doc.error("labels", "expected a mapping of at least two labels to one-line "
                                  "descriptions, e.g. `Objective: verifiable facts`")
    labels = []
    for name, description in items:
        if name.strip() != name or not name:
            raise doc.error(f"labels.{name}", "label names must not be empty or padded with spaces")
        if name.upper() == INVALID:
            raise doc.error(f"labels.{name}", f"{INVALID!r} is reserved for unparseable answers")
        if description is not None and not isinstance(description, (str, int, float)):
            raise doc.error(f"labels.{name}", f"expected a one-line description, got "
                                              f"{shorten(description)}")
        labels.append(Label(name, str(description or "").strip()))
    lowered = [label.name.lower() for label in labels]
    if len(set(lowered)) != len(lowered):
        raise doc.error("labels", "label names must differ ignoring case (answers are matched "
                                  "case-insensitively)")
    return tuple(labels)


def _optimize(doc: _Doc, labels: tuple[str, ...], default: str) -> tuple[str, tuple[Rule, ...]]:
    """`optimize: {metric: macro_f1, constraints: {recall: {Objective: 0.3}}}`: what the
    optimizer maximizes on validation, and floors a candidate must meet to count as feasible."""
    raw = doc.data.get("optimize") or {}
    if not isinstance(raw, dict):
        raise doc.error("optimize", "expected {metric: macro_f1, constraints: "
                                    "{recall: {<label>: 0.3}}}")
    doc.warn_unknown("optimize.", raw, ("metric", "constraints"))
    metric = raw.get("metric", default)
    if metric not in OVERALL_METRICS:
        raise doc.error("optimize.metric", f"unknown metric {shorten(metric)}; choose one of "
                                           f"{', '.join(OVERALL_METRICS)}"
                                           f"{did_you_mean(metric, OVERALL_METRICS)}")
    return metric, _rules(doc, labels, "optimize.constraints")


def _rules(doc: _Doc, labels: tuple[str, ...], where: str = "thresholds") -> tuple[Rule, ...]:
    raw = doc.data.get("thresholds") if where == "thresholds" else \
        (doc.data.get("optimize") or {}).get("constraints")
    raw = raw or {}
    if not isinstance(raw, dict):
        raise doc.error(where, "expected a mapping like `macro_f1: 0.6` or "
                               "`recall: {Objective: 0.5}`")
    rules = []
    for metric, value in raw.items():
        key = f"{where}.{metric}"
        if metric in OVERALL_METRICS:
            rules.append(Rule(metric, _fraction(doc, key, value)))
        elif metric in LABEL_METRICS:
            if not isinstance(value, dict):
                raise doc.error(key, f"expected a mapping of label to minimum, e.g. "
                                     f"`{metric}: {{{labels[0]}: 0.5}}`")
            for label, minimum in doc.raw_items(key):
                if label not in labels:
                    raise doc.error(f"{key}.{label}", f"{label!r} is not a label "
                                                      f"(labels: {', '.join(labels)})"
                                                      f"{did_you_mean(label, labels)}")
                rules.append(Rule(metric, _fraction(doc, f"{key}.{label}", minimum), label))
        else:
            known = OVERALL_METRICS + LABEL_METRICS
            raise doc.error(key, f"unknown metric {shorten(metric)}; whole-run metrics: "
                                 f"{', '.join(OVERALL_METRICS)}; per-label: "
                                 f"{', '.join(LABEL_METRICS)}{did_you_mean(metric, known)}")
    return tuple(rules)


def _fraction(doc: _Doc, key: str, value: Any) -> float:
    if not _is_number(value) or not 0 <= value <= 1:
        raise doc.error(key, f"expected a number between 0 and 1, got {shorten(value)}")
    return float(value)


def _splits(doc: _Doc) -> SplitSpec:
    raw = doc.data.get("split") or {}
    if not isinstance(raw, dict):
        raise doc.error("split", "expected {train: 0.5, validation: 0.25, test: 0.25, seed: 0}")
    known = ("train", "validation", "test", "seed")
    doc.warn_unknown("split.", raw, known)
    values: dict[str, Any] = {k: raw[k] for k in known if k in raw}
    for name, value in values.items():
        if name == "seed":
            if not _is_number(value) or not isinstance(value, int) or \
                    not -MAX_SEED <= value <= MAX_SEED:
                raise doc.error("split.seed", f"expected an integer within ±2**63, got "
                                              f"{shorten(value)}")
        elif not _is_number(value) or not 0 <= value <= 1:
            raise doc.error(f"split.{name}", f"expected a number between 0 and 1, got "
                                             f"{shorten(value)}")
    spec = SplitSpec(**values)
    total = spec.train + spec.validation + spec.test
    if abs(total - 1.0) > 1e-6:
        raise doc.error("split", f"fractions must sum to 1, got {total:g}")
    return spec
