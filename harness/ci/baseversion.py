"""A prompt version as it was at another commit, rendered in memory from `git show`.

The head task (labels, inputs) and the head examples are used for both sides, so base and head
are compared on the same examples; only the templates and sidecars come from the base commit.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.ci.git import list_at, read_at
from harness.demos import SIDECAR_SUFFIX
from harness.errors import TemplateError, UsageError
from harness.prompts import load_version
from harness.records import PromptVersion, TaskSpec


def base_files(root: Path, task: TaskSpec, commit: str) -> dict[str, bytes]:
    """The task's templates and sidecars at `commit`, by name relative to its prompt folder."""
    folder = Path(os.path.relpath(task.prompt_dir, root)).as_posix()
    files: dict[str, bytes] = {}
    for path in list_at(root, commit, folder):
        if path.endswith((".jinja", SIDECAR_SUFFIX)):
            blob = read_at(root, commit, path)
            if blob is not None:
                files[path[len(folder) + 1:]] = blob
    return files


def load_base_version(root: Path, task: TaskSpec, name: str, commit: str) -> PromptVersion:
    """Version `name` of `task` as committed at `commit`: its template, every template it
    extends, includes or imports, and its (inherited) sidecar, all read from git; it renders
    with `Renderer(task, version)` without touching the working tree."""
    files = base_files(root, task, commit)
    try:
        return load_version(task, name, files=files)
    except (TemplateError, UsageError) as exc:
        raise type(exc)(f"at base commit {commit[:12]}: {exc}") from None
