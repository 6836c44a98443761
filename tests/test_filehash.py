"""The model file's digest (part of every local cache key) is hashed once per file, not once per
process: a memo in the project's cache folder, trusted only while the file's stat is unchanged."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from harness.cache import Cache
from harness.models import filehash
from harness.models.filehash import MEMO_NAME, file_sha256


@pytest.fixture
def reads(monkeypatch):
    """Each whole-file hash, counted; a new process is simulated by clearing the in-process
    cache before every call. Files written by a test count as settled at once (the two seconds
    of the racy-file rule are the test below)."""
    monkeypatch.setattr(filehash, "SETTLED_NS", 0)
    counted = []
    real = filehash._hash

    def counting(path):
        counted.append(path)
        return real(path)
    monkeypatch.setattr(filehash, "_hash", counting)
    return counted


def fresh(path, memo_dir):
    """As a new process would: without what this one remembers."""
    filehash._DIGESTS.clear()
    filehash._RECORDED.clear()
    return file_sha256(path, memo_dir)


def test_the_second_process_reads_the_memo_not_the_file(tmp_path, reads):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"weights" * 1000)
    cache = tmp_path / ".harness-cache"
    cache.mkdir()
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert fresh(model, cache) == expected
    assert fresh(model, cache) == expected
    assert len(reads) == 1
    memo = json.loads((cache / MEMO_NAME).read_text())
    assert memo[str(model.resolve())]["sha256"] == expected


@pytest.mark.parametrize("change", ["content", "same-size content, mtime put back"])
def test_a_changed_file_is_hashed_again(tmp_path, reads, change):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"a" * 100)
    cache = tmp_path / "cache"
    cache.mkdir()
    before = model.stat()
    fresh(model, cache)
    if change == "content":
        model.write_bytes(b"b" * 101)
    else:  # what `touch -d` could hide from size and mtime: the change time still moves
        model.write_bytes(b"b" * 100)
        os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
        if model.stat().st_ctime_ns == before.st_ctime_ns:
            pytest.skip("this filesystem's change time did not move within the test")
    assert fresh(model, cache) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert len(reads) == 2


@pytest.mark.parametrize("memo_text", ["{not json", "[1, 2]", '{"%s": {"stat": [], "sha256": 7}}'])
def test_a_corrupt_memo_means_hashing_again(tmp_path, reads, memo_text):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 10)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / MEMO_NAME).write_text(memo_text.replace("%s", str(model.resolve())))
    assert fresh(model, cache) == hashlib.sha256(b"x" * 10).hexdigest()
    assert len(reads) == 1
    assert json.loads((cache / MEMO_NAME).read_text())[str(model.resolve())]["sha256"]


def test_a_file_changed_in_the_last_two_seconds_is_not_memoized(tmp_path, reads, monkeypatch):
    """Racy git: a same-size edit within the kernel clock's tick would keep size, mtime and ctime."""
    monkeypatch.setattr(filehash, "SETTLED_NS", 2_000_000_000)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 10)
    cache = tmp_path / "cache"
    cache.mkdir()
    assert fresh(model, cache) == fresh(model, cache) == hashlib.sha256(b"x" * 10).hexdigest()
    assert file_sha256(model, cache) == hashlib.sha256(b"x" * 10).hexdigest()  # same process
    assert len(reads) == 3 and not (cache / MEMO_NAME).exists()


def test_a_file_that_changes_while_it_is_read_is_not_memoized(tmp_path, reads, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 10)
    cache = tmp_path / "cache"
    cache.mkdir()
    real = filehash._hash

    def edited_meanwhile(path):
        digest = real(path)
        model.write_bytes(b"y" * 11)
        return digest
    monkeypatch.setattr(filehash, "_hash", edited_meanwhile)
    fresh(model, cache)
    assert not (cache / MEMO_NAME).exists()


def test_one_process_hashes_once_and_fills_each_projects_memo(tmp_path, reads):
    """A second project in the same process (a notebook's Sessions, the test suite) reuses the
    digest and still gets it into its own memo; a folder created later gets it then."""
    model = tmp_path / "m.gguf"
    model.write_bytes(b"w" * 100)
    first, second, later = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    first.mkdir()
    second.mkdir()
    expected = hashlib.sha256(b"w" * 100).hexdigest()
    assert fresh(model, first) == file_sha256(model, second) == file_sha256(model, later) \
        == file_sha256(model, None) == expected
    later.mkdir()
    assert file_sha256(model, later) == file_sha256(model, first) == expected
    assert len(reads) == 1
    for folder in (first, second, later):
        memo = json.loads((folder / MEMO_NAME).read_text())
        assert memo[str(model.resolve())] == {"stat": list(filehash.stamp_of(model.resolve())),
                                              "sha256": expected}


def test_no_cache_folder_is_created_for_the_memo_and_none_is_needed(tmp_path, reads):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    assert fresh(model, tmp_path / "not-yet") == fresh(model, None) == hashlib.sha256(b"x").hexdigest()
    assert not (tmp_path / "not-yet").exists()
    assert len(reads) == 2


def test_a_read_only_cache_folder_costs_only_the_hash(tmp_path, reads, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    cache = tmp_path / "cache"
    cache.mkdir()

    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(filehash, "atomic_write_json", refuse)
    assert fresh(model, cache) == hashlib.sha256(b"x").hexdigest()
    assert list(cache.iterdir()) == []


def test_the_memo_is_not_a_cache_entry(tmp_path, reads):
    """`harness cache stats` counts responses only; `clear` leaves the memo, removes its temp."""
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    cache = tmp_path / "cache"
    cache.mkdir()
    fresh(model, cache)
    (cache / f".{MEMO_NAME}.123-0-abcdef.tmp").write_text("half")
    store = Cache(cache)
    assert store.stats()["entries"] == 0
    store.clear()
    assert sorted(p.name for p in cache.iterdir()) == [MEMO_NAME]


def test_a_session_keeps_the_local_models_digest_in_its_cache_folder(tmp_path):
    """The embedded GGUF through Session: its backend is built with the project's cache folder
    (building a cache key reads the GGUF's vocabulary and chat template, runs nothing)."""
    import harness
    from harness.models.local import default_model_path

    (tmp_path / ".harness-cache").mkdir()
    (tmp_path / "prompts").mkdir()
    session = harness.Session(harness.load_settings(tmp_path))
    digest = session.backend("local").identity()["sha256"]
    memo = json.loads((tmp_path / ".harness-cache" / MEMO_NAME).read_text())
    assert memo == {str(default_model_path().resolve()): {
        "stat": list(filehash.stamp_of(default_model_path().resolve())), "sha256": digest}}
