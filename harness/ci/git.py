"""The few questions `harness ci` asks git, over the `git` CLI.

Every path in and out is relative to the project root (the folder holding `prompts/`), which may
be a subfolder of the repository. A failure is a `GitError` naming the command and the fix.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.ci.records import FileChange
from harness.errors import UsageError

DEFAULT_BASES = ("origin/main", "main")


class GitError(UsageError):
    """git is missing, the folder is not a repository, or a revision does not exist."""


@dataclass(frozen=True, slots=True)
class BaseRef:
    commit: str  # full sha
    label: str  # how it was chosen, for people: "merge-base of HEAD and origin/main", "v1.2"


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    # --no-optional-locks: a read-only question must not take index.lock from a parallel job.
    command = ["git", "--no-optional-locks", *args]
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, env=env, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; harness ci needs it to find the "
                       "prompt changes (install git)") from None
    except NotADirectoryError:
        raise GitError(f"{root}: not a folder") from None
    if check and done.returncode != 0:
        raise GitError(f"`git {' '.join(args)}` failed in {root}: {_stderr(done)}")
    return done


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    text = done.stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"


def _check_repo(root: Path) -> None:
    done = _git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if done.returncode != 0 or done.stdout.strip() != b"true":
        raise GitError(f"{root} is not inside a git work tree ({_stderr(done)}); run harness ci "
                       f"in a clone of the repository")


def resolve_ref(root: Path, ref: str) -> str:
    """The commit `ref` names (branch, tag, sha, `HEAD~1`), as a full sha."""
    _check_repo(root)
    done = None if ref.startswith("-") else \
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if done is None or done.returncode != 0:
        raise GitError(f"unknown git revision {ref!r} in {root} (`git rev-parse --verify "
                       f"{ref}^{{commit}}` found no commit); fetch it first (`git fetch origin "
                       f"main`; in GitHub Actions: actions/checkout with fetch-depth: 0) or name "
                       f"another base (a branch, tag or commit)")
    return done.stdout.decode().strip()


def _exists(root: Path, ref: str) -> bool:
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                check=False).returncode == 0


def resolve_base(root: Path, ref: str | None = None) -> BaseRef:
    """`ref` when given; otherwise the merge-base of HEAD with `origin/main`, else with `main`."""
    if ref is not None:
        return BaseRef(resolve_ref(root, ref), ref)
    _check_repo(root)
    if not _exists(root, "HEAD"):
        raise GitError(f"{root}: HEAD has no commit yet; commit first or pass --base REF")
    for candidate in DEFAULT_BASES:
        if not _exists(root, candidate):
            continue
        done = _git(root, "merge-base", "HEAD", candidate, check=False)
        if done.returncode == 0:
            return BaseRef(done.stdout.decode().strip(), f"merge-base of HEAD and {candidate}")
        shallow = _git(root, "rev-parse", "--is-shallow-repository", check=False)
        hint = ("this clone is shallow: fetch the history (`git fetch --unshallow`; in GitHub "
                "Actions: actions/checkout with fetch-depth: 0)"
                if shallow.stdout.strip() == b"true" else "pass --base REF")
        raise GitError(f"`git merge-base HEAD {candidate}` found no common commit in {root}; "
                       f"{hint}")
    raise GitError(f"no base to compare with in {root}: neither {' nor '.join(DEFAULT_BASES)} "
                   f"exists; fetch it (`git fetch origin main`) or pass --base REF (a branch, tag "
                   f"or commit)")


def head_commit(root: Path) -> str | None:
    done = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def changed_paths(root: Path, base: str,
                  untracked_under: tuple[str, ...] = ("prompts", "datasets")
                  ) -> tuple[FileChange, ...]:
    """What differs between commit `base` and the working tree (committed, staged or not),
    renames and deletions included, plus untracked (not ignored) files under `untracked_under`."""
    _check_repo(root)
    out = _git(root, "diff", "--name-status", "-z", "-M", "--relative", "--no-ext-diff", base,
               "--").stdout
    tokens = [t.decode("utf-8", "surrogateescape") for t in out.split(b"\0")]
    changes: list[FileChange] = []
    i = 0
    while i < len(tokens) and tokens[i]:
        status = tokens[i][0]
        if status in "RC":  # R087 old new: a rename (or copy) with its similarity score
            old, new = tokens[i + 1], tokens[i + 2]
            changes.append(FileChange("R", new, old) if status == "R" else FileChange("A", new))
            i += 3
        else:
            changes.append(FileChange("M" if status in "TU" else status, tokens[i + 1]))
            i += 2
    folders = [f for f in untracked_under if (root / f).is_dir()]
    if folders:
        out = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--",
                   *folders).stdout
        changes += [FileChange("A", p.decode("utf-8", "surrogateescape"))
                    for p in out.split(b"\0") if p]
    return tuple(sorted(changes, key=lambda c: c.path))


def read_at(root: Path, commit: str, path: str) -> bytes | None:
    """The content of `path` at `commit` (`git show COMMIT:path`), or None when it has no such
    file there. `commit` must exist (resolve_ref / resolve_base)."""
    spec = f"{commit}:./{path}"
    done = _git(root, "show", "--no-textconv", spec, check=False)
    if done.returncode == 0:
        return done.stdout
    if _git(root, "cat-file", "-e", spec, check=False).returncode != 0:
        return None
    raise GitError(f"`git show {spec}` failed in {root}: {_stderr(done)}")


def list_at(root: Path, commit: str, folder: str) -> tuple[str, ...]:
    """Every file under `folder` (recursively) at `commit`, sorted; empty if it had none."""
    out = _git(root, "ls-tree", "-r", "--name-only", "-z", commit, "--",
               folder.rstrip("/") + "/").stdout
    return tuple(sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p))
