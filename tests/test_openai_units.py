"""Pure parts of the OpenAI backend: label probabilities from logprobs, retry policy, prices,
settings. No server, no network."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import BackendError, UsageError
from harness.models import BackendOptions, get_backend
from harness.models.label_logprobs import TokenLogprob, commit_prefixes, label_distribution
from harness.models.retry import RetryPolicy, parse_retry_after, retryable_status
from harness.models.openai import redact_url
from harness.prices import price_for, validate_prices
from harness.records import Usage

LABELS = ("Objective", "Subjective")


def lp(p: float) -> float:
    return math.log(p)


def test_commit_prefixes_are_the_shortest_unshared_prefix():
    assert commit_prefixes(LABELS) == {"Objective": "Objec", "Subjective": "Subje"}
    assert commit_prefixes(("billing", "bill", "shipping")) == {
        "billing": "billi", "bill": "bill", "shipping": "ship"}


def test_single_token_labels_read_from_the_first_position():
    tokens = [TokenLogprob("Objective", lp(0.6), (("Objective", lp(0.6)), ("Subjective", lp(0.3)),
                                                   ("The", lp(0.1))))]
    dist, why = label_distribution(tokens, LABELS)
    assert why is None
    assert dist == pytest.approx({"Objective": 0.6 / 0.9, "Subjective": 0.3 / 0.9})


def test_multi_token_label_commits_on_its_first_distinct_token():
    # SmolLM2 writes Subjective as Subject + ive: "Subject" already commits to it.
    tokens = [TokenLogprob("Subject", lp(0.7), (("Subject", lp(0.7)), ("Objective", lp(0.2)))),
              TokenLogprob("ive", lp(0.99), (("ive", lp(0.99)),))]
    dist, _ = label_distribution(tokens, LABELS)
    assert dist["Subjective"] == pytest.approx(0.7 / 0.9)


def test_label_that_needs_the_generated_path_follows_it():
    # Labels sharing a long prefix: "Sub" commits to neither; the next position decides.
    labels = ("Subjective", "Subtle")
    tokens = [TokenLogprob("Sub", lp(0.8), (("Sub", lp(0.8)), ("Other", lp(0.2)))),
              TokenLogprob("jective", lp(0.5), (("jective", lp(0.5)), ("tle", lp(0.25))))]
    dist, why = label_distribution(tokens, labels)
    assert why is None
    assert dist == pytest.approx({"Subjective": 2 / 3, "Subtle": 1 / 3})


def test_tokens_past_the_label_and_leading_space_still_count():
    tokens = [TokenLogprob(" Objective.", lp(0.5), ((" Objective.", lp(0.5)), ("Objective", lp(0.2)),
                                                     ("Subjective", lp(0.3)),
                                                     ("Objectively", lp(0.01))))]
    dist, _ = label_distribution(tokens, LABELS)
    # "Objectively" is not the label (runs on with a letter); the other two Objective forms add up.
    assert dist["Objective"] == pytest.approx(0.7 / 1.0)


def test_missing_label_or_logprobs_give_no_distribution_and_say_why():
    tokens = [TokenLogprob("Objective", lp(0.9), (("Objective", lp(0.9)), ("The", lp(0.05))))]
    dist, why = label_distribution(tokens, LABELS)
    assert dist is None and "'Subjective'" in why
    assert label_distribution([], LABELS) == (None, "the server returned no logprobs")
    dist, why = label_distribution([TokenLogprob("Objective", -0.1, ())], LABELS)
    assert dist is None and "top_logprobs" in why
    # A lone first letter is not the label ("S" starts "Sure" as well).
    tokens = [TokenLogprob("The", lp(0.5), (("The", lp(0.5)), ("S", lp(0.1)), ("Objective", lp(0.1))))]
    assert label_distribution(tokens, LABELS)[0] is None


def test_retry_policy_backs_off_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(max_retries=3, base_s=1.0, cap_s=3.0, max_retry_after_s=10)
    rng = random.Random(0)
    waits = [policy.delay(i, None, rng) for i in range(3)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 1.5 <= waits[2] <= 3.0
    assert policy.delay(3, None, rng) is None  # out of retries
    assert 7.0 <= policy.delay(0, 7.0, rng) <= 7.1
    assert policy.delay(0, 11.0, rng) is None  # longer than we are willing to wait
    assert len({round(policy.delay(2, None, rng), 6) for _ in range(5)}) > 1  # jittered


def test_retry_after_header_forms():
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"},
                             now=1445412480.0) == pytest.approx(5.0)
    assert parse_retry_after({}) is None
    assert [retryable_status(s) for s in (429, 500, 503, 400, 401, 404)] == \
        [True, True, True, False, False, False]


def test_prices_known_unknown_and_extended():
    price = price_for("openai:gpt-4o-mini")
    assert price.source == "built-in"
    assert price.cost(Usage(1_000_000, 1_000_000)) == pytest.approx(0.75)
    assert price_for("openai:gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    assert price_for("openai:my-vllm-model") is None  # unknown, not zero
    extra = validate_prices({"my-vllm-model": {"input": 0, "output": 0.5}}, "pyproject.toml")
    assert price_for("openai:my-vllm-model", extra).cost(Usage(0, 2_000_000)) == 1.0
    assert price_for("local").cost(Usage(10, 10)) == 0.0
    with pytest.raises(UsageError, match="'x' must be"):
        validate_prices({"x": {"input": -1, "output": 1}}, "pyproject.toml")


def test_settings_read_concurrency_and_prices(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness]\nconcurrency = 3\n[tool.harness.prices]\n"m" = { input = 1, output = 2 }\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.concurrency == 3 and settings.prices == {"m": (1.0, 2.0)}
    assert load_settings(tmp_path, environ={"HARNESS_CONCURRENCY": "16"}).concurrency == 16
    assert load_settings(tmp_path, {"concurrency": 5}, environ={"HARNESS_CONCURRENCY": "16"}
                         ).concurrency == 5
    with pytest.raises(UsageError, match="HARNESS_CONCURRENCY: expected a number"):
        load_settings(tmp_path, environ={"HARNESS_CONCURRENCY": "many"})
    with pytest.raises(UsageError, match="--concurrency must be at least 1"):
        load_settings(tmp_path, {"concurrency": 0}, environ={})


def test_backend_identity_has_base_url_and_model_never_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-SECRET-123")
    backend = get_backend("openai:gpt-4o-mini",
                          BackendOptions(base_url="http://user:pw@10.0.0.1:8000/v1/"))
    identity = backend.identity()
    assert identity["base_url"] == "http://10.0.0.1:8000/v1"
    assert identity["model"] == "gpt-4o-mini"
    assert "SECRET" not in repr(identity) and "SECRET" not in repr(backend)
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"


def test_a_missing_sdk_is_refused_when_the_backend_is_made(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "openai", None)  # as if not installed: find_spec is None
    with pytest.raises(BackendError, match=r"needs the `openai` package: pip install"):
        get_backend("openai:x", BackendOptions(base_url="http://127.0.0.1:1/v1"))


def test_backend_needs_a_key_for_openai_and_a_model_name(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY is not set"):
        get_backend("openai:gpt-4o-mini")
    with pytest.raises(UsageError, match="openai:gpt-4o-mini"):
        get_backend("openai:")
    # A local server needs no key.
    assert get_backend("openai:x", BackendOptions(base_url="http://127.0.0.1:1/v1")).model == "x"


def _write_entries(directory: str, worker: int) -> int:
    from harness.cache import Cache
    from harness.records import LabelRequest, Message, ModelOutput, RenderedPrompt

    cache, corrupt_seen = Cache(Path(directory)), 0
    for i in range(60):
        prompt = RenderedPrompt(f"e{i}", (Message("user", f"sentence {i}"),), "h")
        key = Cache.key({"backend": "openai", "model": "m"}, LabelRequest(prompt, LABELS, "score"))
        # Every worker writes the same keys (as xdist workers sharing a cache would) and reads
        # them back while the others write.
        cache.put(key, ModelOutput(raw=f"Objective {worker}", usage=Usage(i, 1)))
        if cache.get(key) is None:
            corrupt_seen += 1
    return corrupt_seen + cache.corrupt


def test_cache_is_safe_with_concurrent_writer_processes(tmp_path):
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        problems = pool.starmap(_write_entries, [(str(tmp_path), w) for w in range(4)])
    assert problems == [0, 0, 0, 0]
    from harness.cache import Cache
    stats = Cache(tmp_path).stats()
    assert stats["entries"] == 60 and stats["corrupt"] == 0
    from harness.fsutil import is_temp_name
    assert [p.name for p in tmp_path.rglob("*") if is_temp_name(p.name)] == []


def test_cache_key_covers_base_url_model_and_sample_never_timeouts():
    from harness.cache import Cache
    from harness.records import LabelRequest, Message, RenderedPrompt

    prompt = RenderedPrompt("e1", (Message("user", "text"),), "h")
    request = LabelRequest(prompt, LABELS, "score")
    base = {"backend": "openai", "base_url": "http://a/v1", "model": "m"}
    keys = {Cache.key(base, request),
            Cache.key({**base, "base_url": "http://b/v1"}, request),
            Cache.key({**base, "model": "n"}, request),
            Cache.key(base, LabelRequest(prompt, LABELS, "score", sample=1)),
            Cache.key(base, LabelRequest(prompt, LABELS, "generate"))}
    assert len(keys) == 5
    slow = get_backend("openai:m", BackendOptions(base_url="http://a/v1", timeout_s=5,
                                                  max_retries=0, concurrency=32))
    assert Cache.key(slow.identity(), request) == Cache.key(
        get_backend("openai:m", BackendOptions(base_url="http://a/v1")).identity(), request)
