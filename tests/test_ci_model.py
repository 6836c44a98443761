"""The base version read from git through the real runner and the embedded model: an unchanged
prompt replays the head's cached answers (0 model calls); a changed one is asked anew."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cache import Cache
from harness.ci.baseversion import load_base_version
from harness.records import RunSpec
from harness.runner import run
from harness.tasks import load_task
from tests.git_helpers import commit, edit, git, make_repo

pytestmark = pytest.mark.model


def test_base_version_through_the_runner(tmp_path: Path, local_backend) -> None:
    repo = make_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    prompts = repo / "prompts/subjectivity"
    edit(prompts / "v1.jinja", "Answer with one word.", "Reply with a single word.")
    commit(repo, "head rewords v1")
    task = load_task(repo, "subjectivity")
    cache = Cache(repo / ".harness-cache")
    spec = RunSpec(task="subjectivity", version="v2", split="all", limit=3)

    head = run(spec, root=repo, backend=local_backend, cache=cache, progress=False)
    assert head.model_calls == 3
    before = run(spec, root=repo, backend=local_backend, cache=cache, progress=False,
                 prompt=load_base_version(repo, task, "v2", base))
    # Other text, so other answers: asked anew, on the same (head) examples.
    assert before.model_calls == 3
    assert [e.id for e in before.examples] == [e.id for e in head.examples]
    assert {p.prompt_hash for p in before.predictions}.isdisjoint(
        {p.prompt_hash for p in head.predictions})
    # v2 at the head commit read from git is the v2 on disk: every answer replays.
    replay = run(spec, root=repo, backend=local_backend, cache=cache, progress=False,
                 prompt=load_base_version(repo, task, "v2", "HEAD"))
    assert replay.model_calls == 0 and replay.prompt.content_hash == head.prompt.content_hash
    assert [p.predicted for p in replay.predictions] == [p.predicted for p in head.predictions]
