"""harness.cache: keys, modes, files on disk, corrupt entries."""

from __future__ import annotations

import json

import pytest

from harness.cache import Cache
from harness.errors import CacheMiss
from harness.records import (DecodingParams, LabelRequest, Message, ModelOutput, RenderedPrompt,
                             Usage)

LABELS = ("Objective", "Subjective")
IDENTITY = {"backend": "local", "sha256": "abc123"}


def _request(user: str = "The box weighs 2 kg.", *, labels=LABELS, mode: str = "score",
             params: DecodingParams = DecodingParams(), system: str = "Classify.") -> LabelRequest:
    messages = (Message("system", system), Message("user", user))
    return LabelRequest(RenderedPrompt("e1", messages, "h"), tuple(labels), mode, params)


OUTPUT = ModelOutput(raw="Objective", distribution={"Objective": 0.9, "Subjective": 0.1},
                     usage=Usage(12, 1))


def test_cache_key_changes_with_every_input():
    base = Cache.key(IDENTITY, _request())
    assert base == Cache.key(dict(reversed(list(IDENTITY.items()))), _request())  # stable
    variants = [
        Cache.key(IDENTITY, _request("The box weighs 3 kg.")),
        Cache.key(IDENTITY, _request(system="Classify carefully.")),
        Cache.key(IDENTITY, _request(labels=("Subjective", "Objective"))),
        Cache.key(IDENTITY, _request(labels=("Objective", "Subjective", "Mixed"))),
        Cache.key(IDENTITY, _request(mode="generate")),
        Cache.key(IDENTITY, _request(params=DecodingParams(temperature=0.7))),
        Cache.key(IDENTITY, _request(params=DecodingParams(max_tokens=8))),
        Cache.key(IDENTITY, _request(params=DecodingParams(seed=1))),
        Cache.key({**IDENTITY, "sha256": "def456"}, _request()),
        Cache.key({**IDENTITY, "n_ctx": "2048"}, _request()),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_cache_key_ignores_prompt_hash_and_example_id():
    request = _request()
    other = LabelRequest(RenderedPrompt("e2", request.prompt.messages, "other"), request.labels,
                         request.mode, request.params)
    assert Cache.key(IDENTITY, request) == Cache.key(IDENTITY, other)


def test_cache_round_trip(tmp_path):
    cache = Cache(tmp_path / "cache")
    key = Cache.key(IDENTITY, _request())
    assert cache.get(key) is None
    cache.put(key, OUTPUT)
    assert cache.get(key) == OUTPUT
    assert Cache(tmp_path / "cache", "replay").get(key) == OUTPUT  # a fresh reader sees it
    assert cache.stats()["entries"] == 1
    assert cache.corrupt == 0


def test_cache_creates_cachedir_tag_and_gitignore(tmp_path):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    assert not directory.exists()  # nothing until the first write
    cache.put(Cache.key(IDENTITY, _request()), OUTPUT)
    tag = (directory / "CACHEDIR.TAG").read_text(encoding="utf-8")
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (directory / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_cache_off_neither_reads_nor_writes(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    off = Cache(directory, "off")
    assert off.get(key) is None
    other = Cache.key(IDENTITY, _request("another sentence"))
    off.put(other, OUTPUT)
    assert Cache(directory).get(other) is None
    assert Cache(directory).stats()["entries"] == 1


def test_cache_refresh_writes_but_does_not_read(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    refresh = Cache(directory, "refresh")
    assert refresh.get(key) is None
    newer = ModelOutput(raw="Subjective", distribution=None, usage=Usage(3, 1))
    refresh.put(key, newer)
    assert Cache(directory).get(key) == newer


def test_cache_replay_miss_raises(tmp_path):
    cache = Cache(tmp_path / "cache", "replay")
    key = Cache.key(IDENTITY, _request())
    with pytest.raises(CacheMiss) as info:
        cache.get(key, describe="demo/v1 example e1")
    message = str(info.value)
    assert "demo/v1 example e1" in message
    assert str(tmp_path / "cache") in message
    assert "replay" in message
    with pytest.raises(CacheMiss, match=key):  # without a description the key is named
        cache.get(key)
    cache.put(key, OUTPUT)  # replay never writes
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("content", [
    '{"raw": "Objective", "distrib',   # truncated write
    "not json at all",
    "[]",
    "null",
    '{"raw": "Objective"}',            # missing keys
    '{"raw": "x", "distribution": null, "usage": {"bogus": 1}}',
    b"\xff\xfe\x00garbage",
])
def test_cache_corrupt_entry_is_a_counted_miss(tmp_path, content):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    key = Cache.key(IDENTITY, _request())
    cache.put(key, OUTPUT)
    path = directory / key[:2] / f"{key}.json"
    assert path.is_file()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert cache.get(key) is None
    assert cache.corrupt == 1
    cache.put(key, OUTPUT)  # a re-recorded entry replaces the corrupt one
    assert cache.get(key) == OUTPUT
    replay = Cache(directory, "replay")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(CacheMiss):
        replay.get(key)
    assert replay.corrupt == 1


def test_cache_does_not_store_errors(tmp_path):
    directory = tmp_path / "cache"
    cache = Cache(directory)
    key = Cache.key(IDENTITY, _request())
    cache.put(key, ModelOutput(error="server unreachable"))
    assert cache.get(key) is None
    assert cache.stats()["entries"] == 0
    assert cache.corrupt == 0


def test_cache_entries_are_plain_json(tmp_path):
    directory = tmp_path / "cache"
    key = Cache.key(IDENTITY, _request())
    Cache(directory).put(key, OUTPUT)
    data = json.loads((directory / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
    assert data == {"raw": "Objective", "distribution": {"Objective": 0.9, "Subjective": 0.1},
                    "usage": {"prompt_tokens": 12, "completion_tokens": 1}, "meta": {}}
    # Nothing but the entry and the cache's own two files: no temp file left behind.
    assert sorted(p.name for p in directory.rglob("*") if p.is_file()) == \
        sorted([f"{key}.json", "CACHEDIR.TAG", ".gitignore"])
    assert Cache(directory).clear() == 1
    assert Cache(directory).get(key) is None
