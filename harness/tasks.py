"""Find tasks (`prompts/<task>/task.yaml`) and read them into validated TaskSpecs.

Errors name the file and the line of the offending key, e.g.
`prompts/subjectivity/task.yaml:14: thresholds.recall: 'Objectve' is not a label (labels: ...)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError
from harness.records import (BASELINE_RULES, INVALID, LABEL_METRICS, OVERALL_METRICS, Label, Rule,
                             SplitSpec, TaskSpec)

RESERVED_VARIABLES = ("labels", "task", "example_id", "demonstrations")
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
    """A YAML mapping plus the line of each key, for errors that point at the line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = path.read_text(encoding="utf-8")
        try:
            node = yaml.compose(text)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise UsageError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
        if not isinstance(self.data, dict):
            raise UsageError(f"{path}: expected a mapping of keys (description, dataset, labels, ...)")
        self.lines: dict[str, int] = {}
        self._nodes: dict[str, Any] = {}
        self._index(node, "")

    def _index(self, node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                dotted = f"{prefix}{key.value}"
                self.lines[dotted] = key.start_mark.line + 1
                self._nodes[dotted] = value
                self._index(value, dotted + ".")

    def raw_items(self, key: str) -> list[tuple[str, Any]]:
        """A mapping's items with keys exactly as written: YAML 1.1 would turn a label named
        `Yes`, `No`, `On` or `null` into a bool or None, and a label name is text."""
        node = self._nodes.get(key)
        if not isinstance(node, yaml.MappingNode):
            return []
        return [(k.value, yaml.SafeLoader("").construct_document(v)) for k, v in node.value]

    def error(self, key: str, message: str) -> UsageError:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else str(self.path)
        return UsageError(f"{where}: {key}: {message}")


def _parse(path: Path, name: str, root: Path) -> TaskSpec:
    doc = _Doc(path)
    data = doc.data
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise doc.error(unknown[0], f"unknown key; known keys: {', '.join(sorted(_KNOWN_KEYS))}")

    labels = _labels(doc)
    names = tuple(label.name for label in labels)

    if "dataset" not in data:
        raise UsageError(f"{path}: missing key 'dataset' (path of the fixture JSONL, "
                         "relative to the project root)")
    dataset = root / str(data["dataset"])

    inputs = data.get("inputs", ["text"])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i.isidentifier() for i in inputs):
        raise doc.error("inputs", f"expected a list of field names usable as template variables, "
                                  f"got {inputs!r}")
    clash = sorted(set(inputs) & set(RESERVED_VARIABLES))
    if clash:
        raise doc.error("inputs", f"{clash[0]!r} is reserved for templates; rename the field")

    metric = data.get("metric", "macro_f1")
    if metric not in OVERALL_METRICS:
        raise doc.error("metric", f"unknown metric {metric!r}; choose one of "
                                  f"{', '.join(OVERALL_METRICS)}")

    tolerance = data.get("baseline_tolerance", 0.05)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or \
            not 0 <= tolerance <= 1:
        raise doc.error("baseline_tolerance", f"expected a number in 0..1 (absolute drop allowed), "
                                              f"got {tolerance!r}")

    alpha = data.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise doc.error("alpha", f"expected a significance level in (0, 1) such as 0.05, "
                                 f"got {alpha!r}")
    rule = data.get("baseline_rule", "paired")
    if rule not in BASELINE_RULES:
        raise doc.error("baseline_rule", f"expected one of {', '.join(BASELINE_RULES)}, "
                                         f"got {rule!r}")

    retired = data.get("retired") or []
    if not isinstance(retired, list) or not all(isinstance(v, str) for v in retired):
        raise doc.error("retired", f"expected a list of version names like [v1], got {retired!r}")

    optimize_metric, constraints = _optimize(doc, names, metric)
    return TaskSpec(
        name=name, path=path, labels=labels, dataset=dataset, input_fields=tuple(inputs),
        optimize_metric=optimize_metric, optimize_constraints=constraints,
        rules=_rules(doc, names), baseline_tolerance=float(tolerance), metric=metric,
        splits=_splits(doc), description=str(data.get("description", "")).strip(),
        retired=tuple(retired), alpha=float(alpha), baseline_rule=rule,
    )


def _labels(doc: _Doc) -> tuple[Label, ...]:
    raw = doc.data.get("labels")
    if not isinstance(raw, dict) or len(raw) < 2:
        raise doc.error("labels", "expected a mapping of at least two labels to one-line "
                                  "descriptions, e.g. `Objective: verifiable facts`")
    labels = []
    for name, description in doc.raw_items("labels"):
        if name.strip() != name or not name:
            raise doc.error(f"labels.{name}", "label names must not be empty or padded with spaces")
        if name.upper() == INVALID:
            raise doc.error(f"labels.{name}", f"{INVALID!r} is reserved for unparseable answers")
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
    if not isinstance(raw, dict) or set(raw) - {"metric", "constraints"}:
        raise doc.error("optimize", "expected {metric: macro_f1, constraints: "
                                    "{recall: {<label>: 0.3}}}")
    metric = raw.get("metric", default)
    if metric not in OVERALL_METRICS:
        raise doc.error("optimize.metric", f"unknown metric {metric!r}; choose one of "
                                           f"{', '.join(OVERALL_METRICS)}")
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
                                                      f"(labels: {', '.join(labels)})")
                rules.append(Rule(metric, _fraction(doc, f"{key}.{label}", minimum), label))
        else:
            raise doc.error(key, f"unknown metric {metric!r}; whole-run metrics: "
                                 f"{', '.join(OVERALL_METRICS)}; per-label: "
                                 f"{', '.join(LABEL_METRICS)}")
    return tuple(rules)


def _fraction(doc: _Doc, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise doc.error(key, f"expected a number between 0 and 1, got {value!r}")
    return float(value)


def _splits(doc: _Doc) -> SplitSpec:
    raw = doc.data.get("split") or {}
    if not isinstance(raw, dict) or set(raw) - {"train", "validation", "test", "seed"}:
        raise doc.error("split", "expected {train: 0.5, validation: 0.25, test: 0.25, seed: 0}")
    for name, value in raw.items():
        numeric = int if name == "seed" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            raise doc.error(f"split.{name}", f"expected {'an integer' if name == 'seed' else 'a number'}, "
                                             f"got {value!r}")
    spec = SplitSpec(**{k: raw[k] for k in raw})
    total = spec.train + spec.validation + spec.test
    if abs(total - 1.0) > 1e-6 or min(spec.train, spec.validation, spec.test) < 0:
        raise doc.error("split", f"fractions must be non-negative and sum to 1, got {total:g}")
    return spec
