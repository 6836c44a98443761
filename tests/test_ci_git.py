"""harness.ci.git against real repositories: the default base, changed paths, reads at a ref."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.ci.git import (GitError, changed_paths, head_commit, list_at, read_at,
                            resolve_base, resolve_ref)
from harness.ci.records import FileChange
from harness.errors import UsageError
from tests.git_helpers import commit, git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_default_base_is_the_merge_base_with_main(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("# feature\n", encoding="utf-8")
    commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    (repo / "other.txt").write_text("main moved on\n", encoding="utf-8")
    commit(repo, "main work")
    git(repo, "checkout", "-q", "feature")
    found = resolve_base(repo)
    assert (found.commit, found.label) == (base, "merge-base of HEAD and main")


def test_origin_main_wins_over_main(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    (upstream / "README.md").write_text("# newer\n", encoding="utf-8")
    newer = commit(upstream, "upstream moves on")
    git(clone, "fetch", "-q", "origin")  # origin/main moves, local main does not
    git(clone, "merge", "-q", "--ff-only", "origin/main")
    git(clone, "checkout", "-q", "-b", "pr")
    git(clone, "branch", "-q", "-f", "main", "HEAD~1")
    found = resolve_base(clone)
    assert (found.commit, found.label) == (newer, "merge-base of HEAD and origin/main")


def test_no_main_anywhere_says_what_to_do(repo: Path) -> None:
    git(repo, "branch", "-q", "-m", "main", "trunk")
    with pytest.raises(GitError, match=r"neither origin/main nor main exists.*--base REF") as err:
        resolve_base(repo)
    assert isinstance(err.value, UsageError)  # bad input: exit 2
    assert resolve_base(repo, "trunk").label == "trunk"


def test_shallow_clone_without_common_history_says_fetch_depth(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream")
    for i in range(3):
        (upstream / "README.md").write_text(f"# {i}\n", encoding="utf-8")
        commit(upstream, f"c{i}")
    git(upstream, "checkout", "-q", "-b", "pr", "HEAD~2")
    (upstream / "pr.txt").write_text("pr\n", encoding="utf-8")
    commit(upstream, "pr")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "pr", f"file://{upstream}",
        str(clone))
    git(clone, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    with pytest.raises(GitError, match="shallow.*fetch-depth: 0"):
        resolve_base(clone)


def test_unknown_ref_and_not_a_repo(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"unknown git revision 'nope'.*fetch-depth: 0"):
        resolve_ref(repo, "nope")
    with pytest.raises(GitError, match=r"unknown git revision '--all'"):
        resolve_ref(repo, "--all")  # never an option
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not inside a git work tree"):
        resolve_base(tmp_path / "plain")
    with pytest.raises(GitError, match="HEAD has no commit yet"):
        git(tmp_path / "plain", "init", "-q")
        resolve_base(tmp_path / "plain")
    assert head_commit(tmp_path / "plain") is None
    assert head_commit(repo) == git(repo, "rev-parse", "HEAD")


def test_changed_paths_covers_every_kind_of_change(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    prompts = repo / "prompts/subjectivity"
    (prompts / "v2.jinja").write_text(
        (prompts / "v2.jinja").read_text(encoding="utf-8") + "\n", encoding="utf-8")  # M
    git(repo, "mv", "prompts/subjectivity/v1.jinja", "prompts/subjectivity/v0.jinja")  # R
    (repo / "README.md").unlink()  # D, not staged
    (prompts / "v9.jinja").write_text("{% block user %}x{% endblock %}\n",
                                      encoding="utf-8")  # untracked
    (repo / "scratch.txt").write_text("untracked, outside prompts/ and datasets/\n",
                                      encoding="utf-8")
    (repo / ".gitignore").write_text("ignored.jinja\n", encoding="utf-8")
    (prompts / "ignored.jinja").write_text("ignored\n", encoding="utf-8")
    git(repo, "add", ".gitignore")
    assert changed_paths(repo, base) == (
        FileChange("A", ".gitignore"),
        FileChange("D", "README.md"),
        FileChange("R", "prompts/subjectivity/v0.jinja", "prompts/subjectivity/v1.jinja"),
        FileChange("M", "prompts/subjectivity/v2.jinja"),
        FileChange("A", "prompts/subjectivity/v9.jinja"))


def test_odd_file_names_survive(repo: Path) -> None:
    name = "prompts/subjectivity/naïve \"v\" |x|.jinja"
    (repo / name).write_text("x\n", encoding="utf-8")
    commit(repo, "odd name")
    assert [c.path for c in changed_paths(repo, "HEAD~1")] == [name]
    assert name in list_at(repo, "HEAD", "prompts/subjectivity")
    assert read_at(repo, git(repo, "rev-parse", "HEAD"), name) == b"x\n"


def test_read_and_list_at_a_ref(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    v2 = (repo / "prompts/subjectivity/v2.jinja").read_bytes()
    (repo / "prompts/subjectivity/v2.jinja").write_text("changed\n", encoding="utf-8")
    (repo / "prompts/subjectivity/v3.jinja").write_text("new\n", encoding="utf-8")
    commit(repo, "head")
    assert read_at(repo, base, "prompts/subjectivity/v2.jinja") == v2
    assert read_at(repo, base, "prompts/subjectivity/v3.jinja") is None
    assert list_at(repo, base, "prompts/subjectivity") == (
        "prompts/subjectivity/task.yaml", "prompts/subjectivity/v1.jinja",
        "prompts/subjectivity/v2.jinja")
    assert list_at(repo, base, "prompts/subj") == ()  # a folder, not a name prefix
    assert list_at(repo, base, "nowhere") == ()
