"""Keep credentials out of everything the harness writes or prints.

Two tools, both pure:
- `redact_url(url)`: a URL without its credentials: `user:password@` is dropped and the value of a
  credential-like query parameter (`api-key`, `key`, `token`, `access_token`, `password`, `sig`,
  ...) becomes `***`. The redacted form is what identifies an endpoint (cache keys, provenance):
  a credential is not part of an endpoint's identity, just as the Authorization header's key is
  not, so rotating a key keeps the cache and no key is ever written, not even hashed.
- `Scrubber(secrets)`: replaces the known secret values (and their URL-, JSON- and Basic-auth-
  encoded forms) and any credential-bearing URL in a text; for what a server echoes back (answers,
  error bodies) before it is cached, written or shown.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
# Shorter values are too likely to occur in ordinary text to be replaced everywhere.
MIN_SECRET_LENGTH = 4
_EXACT = {"key", "sig", "pw", "pwd", "pass", "code", "auth"}
_PARTS = ("apikey", "key", "token", "secret", "password", "passwd", "auth", "signature",
          "credential", "session")
# A URL with userinfo, or with a query string, inside free text.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


def is_credential_name(name: str) -> bool:
    """Whether a query parameter (or header) name is credential-like (`api-key`, `X-Api-Key`,
    `access_token`, `client_secret`, `sig`, `password`, ...)."""
    flat = re.sub(r"[-_.\s]", "", name.lower())
    return flat in _EXACT or any(part in flat for part in _PARTS)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def url_secrets(url: str) -> tuple[str, ...]:
    """The credential values a URL carries (userinfo password and user, credential-like query
    values), to be scrubbed from echoed text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    # A user name alone is often a token (https://TOKEN@host); beside a password it is not.
    found = [password, f"{user}:{password}"] if password else [user]
    found += [value for name, value in _query_pairs(parts.query) if is_credential_name(name)]
    return tuple(v for v in found if len(v) >= MIN_SECRET_LENGTH)


def redact_url(url: str) -> str:
    """`url` without userinfo and with credential-like query values masked; no trailing slash.
    Anything that does not parse as a URL is masked whole (it may be a mistyped secret)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{host}:{port}" if port else host
    query = parts.query
    if query:
        pairs = _query_pairs(query)
        if any(is_credential_name(name) for name, _ in pairs):
            query = "&".join(f"{quote_plus(name)}={MASK if is_credential_name(name) else quote_plus(value)}"
                             for name, value in pairs)
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment="")).rstrip("/")


def without_query_credentials(url: str) -> tuple[str, dict[str, str]]:
    """(the URL without its query string, the query parameters), for clients that take the
    query separately (the openai client appends paths to its base URL)."""
    parts = urlsplit(url)
    return (urlunsplit(parts._replace(query="", fragment="")).rstrip("/"),
            dict(_query_pairs(parts.query)))


def _variants(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms.add(base64.b64encode(secret.encode()).decode())
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Replaces known secrets in text. `repr()` never shows them."""

    secrets: tuple[str, ...] = field(default=(), repr=False)
    _forms: tuple[str, ...] = field(default=(), repr=False, init=False)

    def __post_init__(self) -> None:
        forms: set[str] = set()
        for secret in self.secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                forms |= _variants(secret)
        # Longest first: a secret that contains another is replaced whole.
        object.__setattr__(self, "_forms", tuple(sorted(forms, key=len, reverse=True)))

    @classmethod
    def of(cls, *values: str | None, urls: Iterable[str] = ()) -> Scrubber:
        found = [v for v in values if v]
        for url in urls:
            found += url_secrets(url)
        return cls(tuple(dict.fromkeys(found)))

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return _URL_IN_TEXT.sub(lambda m: _redact_in_text(m.group(0)), text)


def has_credentials(url: str) -> bool:
    """Whether `url` carries userinfo or a credential-like query parameter."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (parts.username is not None or parts.password is not None
            or any(is_credential_name(name) for name, _ in _query_pairs(parts.query)))


def _redact_in_text(url: str) -> str:
    tail = ""
    while url and url[-1] in ".,;:)]}'\"":  # sentence punctuation after a URL
        tail, url = url[-1] + tail, url[:-1]
    return (redact_url(url) if has_credentials(url) else url) + tail


def scrub(text: str | None, *secrets: str | None) -> str | None:
    """One-off: `text` with these secrets (and credential-bearing URLs) masked."""
    return Scrubber.of(*secrets)(text)
