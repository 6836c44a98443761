"""Build a minimal harness project on disk for unit tests (no model, no network)."""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

TASK = "demo"

DEFAULT_TASK_YAML = """\
description: Is a sentence a verifiable fact or an opinion?
dataset: datasets/demo.jsonl
inputs: [text]
labels:
  Objective: States something verifiable.
  Subjective: Expresses an opinion or feeling.
thresholds:
  macro_f1: 0.5
"""

DEFAULT_TEMPLATE = """\
{% block system %}
{% block instructions %}
Classify the sentence as {{ labels | map(attribute="name") | join(" or ") }}.
{% endblock %}
Answer with one word.
{% endblock %}
{% block user %}
{{ text }}
{% endblock %}
"""

_OBJECTIVE = ["The box weighs 2 kg.", "It ships with two batteries.", "The cable is 1.5 m long.",
              "The lid arrived cracked.", "It has a 450 W motor.", "The manual is in English."]
_SUBJECTIVE = ["I love this blender.", "Best purchase of the year.", "The colour is ugly.",
               "It feels cheap.", "Totally worth the money.", "I would not recommend it."]


def default_rows() -> list[dict]:
    """12 valid rows, 6 per label, no explicit split."""
    rows = []
    for i, (obj, subj) in enumerate(zip(_OBJECTIVE, _SUBJECTIVE), start=1):
        rows.append({"id": f"o{i}", "text": obj, "label": "Objective"})
        rows.append({"id": f"s{i}", "text": subj, "label": "Subjective"})
    return rows


def write_rows(path: Path, rows: Sequence[Mapping | str]) -> None:
    """One line per row: dicts as JSON, strings verbatim (for malformed lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_project(tmp_path: Path, *, task_yaml: str | None = None,
                 templates: Mapping[str, str | None] | None = None,
                 rows: Sequence[Mapping | str] | None = None) -> Path:
    """Write prompts/demo/{task.yaml, v1.jinja, ...} and datasets/demo.jsonl under tmp_path.

    `templates` maps a file name ("v2.jinja" or just "v2") to its source and is merged over the
    default v1.jinja; map a name to None to leave that file out. Returns the project root.
    """
    root = Path(tmp_path)
    prompt_dir = root / "prompts" / TASK
    prompt_dir.mkdir(parents=True, exist_ok=True)
    (prompt_dir / "task.yaml").write_text(DEFAULT_TASK_YAML if task_yaml is None else task_yaml,
                                          encoding="utf-8")
    files: dict[str, str | None] = {"v1.jinja": DEFAULT_TEMPLATE}
    for name, source in (templates or {}).items():
        files[name if name.endswith(".jinja") else f"{name}.jinja"] = source
    for name, source in files.items():
        if source is not None:
            (prompt_dir / name).write_text(source, encoding="utf-8")
    (root / "datasets").mkdir(exist_ok=True)
    write_rows(root / "datasets" / "demo.jsonl", default_rows() if rows is None else rows)
    return root


def default_sigint() -> None:
    """preexec_fn for a child that is sent Ctrl-C: a pytest started in the background by a
    non-interactive shell (`cmd &`) ignores SIGINT and its children inherit that, so SIGINT is
    put back to what a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
