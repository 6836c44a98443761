"""A real git repository in a temp dir for the `harness ci` tests (no model needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import copy_task

# Isolated from the user's git config (signing, hooks, default branch names).
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           # No `git maintenance run --auto` process after every commit (a test repo never needs
           # one; the fast suite started ~90 of them).
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "maintenance.auto",
           "GIT_CONFIG_VALUE_0": "false"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)
    return done.stdout.strip()


def make_repo(root: Path, *, subdir: str | None = None) -> Path:
    """A repo whose first commit (on `main`) is a copy of the shipped subjectivity task; returns
    the project root (the repo itself, or `subdir` inside it)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    project = root / subdir if subdir else root
    project.mkdir(parents=True, exist_ok=True)
    copy_task(project)
    (project / "README.md").write_text("# demo\n", encoding="utf-8")
    commit(root, "base")
    return project


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
