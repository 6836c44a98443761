"""harness.fsutil.atomic_write_*: the one way the harness writes a file another process may read."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from harness import fsutil
from harness.fsutil import atomic_write_bytes, atomic_write_json, is_temp_name


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_a_write_creates_missing_folders_and_takes_the_umask_mode(tmp_path: Path, umask_027):
    target = tmp_path / "a" / "b" / "entry.json"
    atomic_write_json(target, {"x": 1})
    assert json.loads(target.read_text(encoding="utf-8")) == {"x": 1}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # 0666 under umask 027, not 0600
    atomic_write_bytes(target, b"second")  # replaces, in a folder that now exists
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["entry.json"]  # no temp left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch):
    target = tmp_path / "entry.json"
    target.write_text("old", encoding="utf-8")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_a_leftover_temp_with_the_same_name_is_never_reused(tmp_path: Path, monkeypatch):
    """A killed process whose pid came back may have left a temp of the name this one would
    pick: the write takes another name rather than writing into (or over) it."""
    target = tmp_path / "entry.json"
    names = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(fsutil.secrets, "token_hex", lambda n: next(names))
    monkeypatch.setattr(fsutil, "_serial", iter([7, 7, 8]))
    leftover = tmp_path / f".entry.json.{os.getpid()}-7-aaaaaa.tmp"
    leftover.write_bytes(b"half a write")
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert leftover.read_bytes() == b"half a write"
    assert is_temp_name(leftover.name)
