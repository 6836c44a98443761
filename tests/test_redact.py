"""harness.redact: credentials out of URLs and echoed text (pure, no model, no network)."""

from __future__ import annotations

import base64

import pytest

from harness.models.base import BackendOptions
from harness.models.openai import OpenAIBackend
from harness.redact import (MASK, Scrubber, has_credentials, is_credential_name, redact_url,
                            scrub, url_secrets, without_query_credentials)


@pytest.mark.parametrize("url, shown", [
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
    ("http://user:pw@10.0.0.1:8000/v1/", "http://10.0.0.1:8000/v1"),
    ("https://TOKENVALUE@git.example.com/x", "https://git.example.com/x"),
    ("https://h.example/v1?api-key=abc123&api-version=2024-06-01",
     f"https://h.example/v1?api-key={MASK}&api-version=2024-06-01"),
    ("https://h.example/v1?access_token=abc&x=1", f"https://h.example/v1?access_token={MASK}&x=1"),
    ("https://h.example/v1?api-version=2024-06-01", "https://h.example/v1?api-version=2024-06-01"),
    ("http://u:p@[::1]:81/v1?Password=zz#frag", f"http://[::1]:81/v1?Password={MASK}"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redacted_url_is_stable_across_key_values():
    # The identity (cache key, provenance) of an endpoint does not depend on its credential.
    assert (redact_url("https://h/v1?key=first-key-1") == redact_url("https://h/v1?key=rotated-2")
            == f"https://h/v1?key={MASK}")
    assert redact_url("https://h/v1?key=a") != redact_url("https://other/v1?key=a")


def test_unparsable_url_is_masked_whole():
    assert redact_url("http://[not-an-ip/v1?key=x") == MASK


@pytest.mark.parametrize("name", ["api-key", "api_key", "apikey", "X-Api-Key", "key", "token",
                                  "access_token", "client_secret", "password", "sig", "auth"])
def test_credential_names(name):
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["api-version", "model", "deployment", "limit", "format"])
def test_ordinary_names(name):
    assert not is_credential_name(name)


def test_url_secrets_and_query_split():
    url = "http://me:pw%40123@h:1/v1?api-key=QKEY-1&api-version=7"
    assert set(url_secrets(url)) == {"pw@123", "me:pw@123", "QKEY-1"}
    assert has_credentials(url) and not has_credentials("http://h/v1?api-version=7")
    assert without_query_credentials(url) == ("http://me:pw%40123@h:1/v1",
                                              {"api-key": "QKEY-1", "api-version": "7"})


def test_scrubber_masks_echoed_secrets_in_every_common_encoding():
    key = "sk-Echo/Key+1234"
    scrubber = Scrubber.of(key, urls=["http://bob:hunter22@h/v1?token=QTOKEN99"])
    basic = base64.b64encode(b"bob:hunter22").decode()
    text = (f"Authorization: Bearer {key}; url-encoded {key.replace('/', '%2F').replace('+', '%2B')}; "
            f"json {key!r}; Basic {basic}; the query QTOKEN99; "
            f"see http://bob:hunter22@h/v1?token=QTOKEN99.")
    cleaned = scrubber(text)
    for secret in (key, "%2F", "hunter22", basic, "QTOKEN99"):
        assert secret not in cleaned, secret
    assert cleaned.endswith(f"see http://h/v1?token={MASK}.")
    assert key not in repr(scrubber) and "hunter22" not in repr(scrubber)


def test_scrubber_leaves_ordinary_text_alone():
    scrubber = Scrubber.of("sk-long-key-value", urls=["http://h/v1"])
    text = "Objective. See http://example.com/a?page=2 (docs)."
    assert scrubber(text) == text
    assert scrubber(None) is None and scrubber("") == ""
    assert scrub("a key: abc", None, "ab") == "a key: abc"  # too short to mask safely


def test_openai_backend_keys_on_the_redacted_url_and_sends_the_query(monkeypatch):
    secret = "QKEY-unit-5f1e"
    backend = OpenAIBackend("m", BackendOptions(base_url=f"http://u:pw@h:1/v1?api-key={secret}"),
                            environ={"OPENAI_API_KEY": "sk-unit-key-9"})
    assert backend.identity()["base_url"] == f"http://h:1/v1?api-key={MASK}"
    assert secret not in repr(backend) and "pw" not in repr(backend)
    assert secret not in backend._where() and "sk-unit-key-9" not in backend._where()
