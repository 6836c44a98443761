"""`harness label` for real: kill -9 in the middle of a run of the embedded model and re-run
(resume from the cache), and --push of the review rows to a real Label Studio server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from harness import datafiles
from harness.cli import main
from harness.labelstudio import connect
from harness.labelstudio.labeling import ID_KEY
from tests.conftest import REPO, copy_task
from tests.fake_backend import FakeBackend
from tests.test_label import frame, rule, write

N_ROWS = 30


def _texts(n: int) -> list[str]:
    """Short real sentences from the shipped fixture (unlabeled here)."""
    rows = [json.loads(line) for line in
            (REPO / "datasets" / "subjectivity.jsonl").read_text(encoding="utf-8").splitlines()]
    return sorted((r["text"] for r in rows), key=len)[:n]


def _harness(root: Path, cache: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_THREADS": "1", "HARNESS_CACHE_DIR": cache}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "label", "subjectivity",
                             "--input", "in.csv", "--no-progress", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _entries(cache: Path) -> int:
    return len(list(cache.glob("??/*.json"))) if cache.is_dir() else 0


def _rows(path: Path) -> list[dict]:
    return [row for _, row, _ in datafiles.read_rows(path)]


@pytest.mark.model
def test_kill_9_mid_label_then_rerun_gives_the_uninterrupted_output(tmp_path):
    root = copy_task(tmp_path / "project")
    pd.DataFrame({"id": [f"n{i:02d}" for i in range(N_ROWS)], "sentence": _texts(N_ROWS),
                  "batch": [i % 4 for i in range(N_ROWS)]}).to_csv(root / "in.csv", index=False)

    reference = _harness(root, "cache-ref", "--out", "ref.csv", "--map", "text=sentence",
                         "--review-top", "5")
    out, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err

    killed = _harness(root, "cache", "--out", "out.csv", "--map", "text=sentence",
                      "--review-top", "5")
    deadline = time.monotonic() + 600
    while _entries(root / "cache") < 8 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    done_before = _entries(root / "cache")
    assert 8 <= done_before < N_ROWS, "the run finished before it could be killed"
    assert not (root / "out.csv").exists()  # no half-written output

    again = _harness(root, "cache", "--out", "out.csv", "--map", "text=sentence",
                     "--review-top", "5")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    # Finished rows are not recomputed: the re-run's model calls are only the missing rows.
    assert f"{N_ROWS - done_before} model call(s), {done_before} from the cache" in out
    assert _entries(root / "cache") == N_ROWS
    assert not [p for p in root.iterdir() if p.name.startswith(".out.csv")]  # temps cleaned

    got, want = _rows(root / "out.csv"), _rows(root / "ref.csv")
    assert [r["id"] for r in got] == [f"n{i:02d}" for i in range(N_ROWS)]  # once each, in order
    for a, b in zip(got, want):
        for column in b:
            if column == "confidence" or column.startswith("p_"):
                assert float(a[column]) == pytest.approx(float(b[column]), abs=1e-4)
            else:
                assert a[column] == b[column], (a["id"], column)


@pytest.mark.labelstudio
def test_push_sends_the_review_rows_least_certain_first(tmp_path, monkeypatch, fake_model,
                                                        label_studio):
    from tests.helpers import make_project

    url, key = label_studio
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", key)
    root = make_project(tmp_path / "p")
    monkeypatch.chdir(root)
    write(frame(20), root / "in.csv")
    model = fake_model(FakeBackend(rule()))
    title = f"harness label test {uuid.uuid4().hex[:8]}"
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.csv", "--map", "text=body",
                 "--model", model, "--review-top", "6", "--push", "--project", title,
                 "--no-progress"]) == 0
    review = sorted((r for r in _rows(root / "o.csv") if r["status"] == "review"),
                    key=lambda r: float(r["confidence"]))
    conn = connect(url, key)
    project = next(p for p in conn.sdk.projects.list(title=title) if p.title == title)
    try:
        tasks = sorted((t.model_dump(mode="json") for t in
                        conn.sdk.tasks.list(project=project.id, fields="all")),
                       key=lambda t: t["id"])
        assert [t["data"][ID_KEY] for t in tasks] == [r["id"] for r in review]
        assert [t["predictions"][0]["score"] for t in tasks] == pytest.approx(
            [float(r["confidence"]) for r in review])
    finally:
        conn.sdk.projects.delete(project.id)
