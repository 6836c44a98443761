"""The optimizer's trajectory report: reports/<run-id>/index.html (self-contained, autoescaped).

Presentation only: it reads the OptimizeResult (candidates, evaluations, final outcomes) and
never runs a model or recomputes a metric.
"""

from __future__ import annotations

import base64
import difflib
import io
from pathlib import Path

import jinja2

from harness.optimizer import VERDICTS, OptimizeResult
from harness.records import INVALID
from harness.fsutil import atomic_write_text

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=True,  # instructions, demonstrations and dataset text are data: always escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def instruction_diff(parent: str, child: str) -> list[tuple[str, str]]:
    """[(kind, line)] with kind in ' ', '+', '-': a line diff a reviewer reads top to bottom."""
    rows = []
    for line in difflib.ndiff(parent.splitlines(), child.splitlines()):
        if line.startswith("? "):
            continue
        rows.append((line[0], line[2:]))
    return rows


def trajectory_png(result: OptimizeResult) -> str:
    """Every candidate's validation (and screening) score per iteration, with best-so-far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.6), dpi=110)
    markers = {"start": "*", "teacher": "o", "exemplars": "s", "knn": "^"}
    colors = {"start": "#444", "teacher": "#1f77b4", "exemplars": "#2ca02c", "knn": "#d62728"}
    candidates = {c.id: c for c in result.candidates}
    seen: set[str] = set()
    for stage, filled in (("screen", False), ("validation", True)):
        for e in result.evaluations:
            if e.stage != stage:
                continue
            proposer = candidates[e.candidate].proposer
            label = f"{proposer} ({'validation' if filled else 'screen minibatch'})"
            ax.scatter(e.iteration, e.score.value, marker=markers.get(proposer, "o"), s=46,
                       facecolors=colors.get(proposer, "#888") if filled else "none",
                       edgecolors=colors.get(proposer, "#888"),
                       label=None if label in seen else label, zorder=3)
            seen.add(label)
    xs = [0] + [i.iteration for i in result.iterations]
    start = next(e.score.value for e in result.evaluations
                 if e.candidate == 0 and e.stage == "validation")
    ys = [start] + [i.best.value for i in result.iterations]
    ax.step(xs, ys, where="post", color="#111", linewidth=1.6, label="best so far (validation)")
    ax.set_xlabel("iteration (0 = start version)")
    ax.set_ylabel(result.metric)
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _status(result: OptimizeResult, cid: int, evals: list) -> str:
    """What happened to a candidate, from its recorded verdicts (never guessed)."""
    if cid == result.winner:
        return "winner" if cid else "winner (no candidate showed a real gain)"
    if cid == 0:
        return "start"
    if any(i.accepted == cid for i in result.iterations):
        return "accepted, later beaten"
    for stage in ("validation", "screen"):
        verdict = next((e.verdict for e in evals if e.stage == stage), None)
        if verdict:
            return VERDICTS[verdict]
    return "not scored: call budget spent"


def _rows(result: OptimizeResult) -> list[dict]:
    rows = []
    for c in result.candidates:
        evals = [e for e in result.evaluations if e.candidate == c.id]
        screen = next((e for e in evals if e.stage == "screen" and e.against), None)
        validation = next((e for e in evals if e.stage == "validation"), None)
        parent = result.instructions[c.parent] if c.parent is not None else ""
        rows.append({
            "c": c, "status": _status(result, c.id, evals), "screen": screen,
            "validation": validation,
            "calls": sum(e.calls for e in evals), "charged": sum(e.charged for e in evals),
            "tokens": sum(e.tokens for e in evals), "instruction": result.instructions[c.id],
            "diff": instruction_diff(parent, result.instructions[c.id]) if c.parent is not None
            else [], "changed": c.parent is not None and
            parent != result.instructions[c.id]})
    return rows


def budget_split(result: OptimizeResult) -> dict[str, int]:
    """Charged calls by what they bought: the start, error sampling, the teacher, screening,
    and full validation runs of candidates that were better on screening."""
    split = {"start": 0, "train errors": 0, "screening": 0, "validation (contenders)": 0}
    for e in result.evaluations:
        key = {"train": "train errors", "screen": "screening"}.get(e.stage)
        if e.stage == "validation":
            key = "start" if e.verdict == "start" else "validation (contenders)"
        if key:
            split[key] += e.charged
    split["teacher"] = result.charged - sum(split.values())
    return split


def write_optimize_report(directory: Path, result: OptimizeResult) -> Path:
    labels = result.start_test.metrics.labels
    html = _env.get_template("optimize.html").render(
        r=result, rows=_rows(result), plot=trajectory_png(result), labels=labels,
        columns=[*labels, INVALID], winner=result.candidates[result.winner],
        metric=result.metric, budget=budget_split(result),
        splits=[("validation", result.start_validation, result.winner_validation,
                 result.validation_gain),
                ("test", result.start_test, result.winner_test, result.test_gain)])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    atomic_write_text(path, html)
    return path
