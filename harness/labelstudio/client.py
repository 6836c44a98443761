"""Connecting to a Label Studio server through label-studio-sdk 2.x, with errors that say what to
do. The API key is a secret: it is never part of a message, a log line or a file we write; the URL
is shown without credentials (`user:pw@`, `?token=`), and what the server answers in an error is
scrubbed of both before it becomes a message (harness.redact)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.errors import BackendError, UsageError
from harness.redact import Scrubber, redact_url

URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"
SERVER_HINT = "start a local one with `scripts/label-studio start` (after `scripts/label-studio install`)"
T = TypeVar("T")
_NOTHING_TO_SCRUB = Scrubber()


class LabelStudioError(BackendError):
    """The Label Studio server is unreachable, refused the key, or answered an error."""


@dataclass(frozen=True, slots=True)
class Connection:
    url: str  # redacted: for messages; the SDK holds the real one
    sdk: Any = field(repr=False)  # label_studio_sdk.LabelStudio
    scrub: Scrubber = field(default=_NOTHING_TO_SCRUB, repr=False)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with translate_errors(self.url, what, self.scrub):
            return fn(*args, **kwargs)


def connect(url: str | None = None, api_key: str | None = None, *,
            timeout: float = 60.0) -> Connection:
    """A checked connection: the server answers and accepts the key (one cheap request)."""
    url = (url or os.environ.get(URL_ENV) or "").rstrip("/")
    api_key = api_key or os.environ.get(KEY_ENV) or ""
    if not url:
        raise UsageError(f"no Label Studio URL: pass --url or set {URL_ENV} "
                         f"(e.g. http://127.0.0.1:8080); {SERVER_HINT}")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"Label Studio URL {redact_url(url)!r} must start with http:// or "
                         f"https://")
    if not api_key:
        raise UsageError(f"no Label Studio API key: set {KEY_ENV} (Account & Settings > "
                         f"Access Token in Label Studio) or pass --api-key")
    try:
        from label_studio_sdk import LabelStudio
    except ImportError as exc:
        raise UsageError("label-studio-sdk is not installed; install it with "
                         "`pip install -e '.[labelstudio]'` (or `pip install "
                         "'label-studio-sdk>=2.1,<3'`)") from exc
    connection = Connection(redact_url(url),
                            LabelStudio(base_url=url, api_key=api_key, timeout=timeout),
                            Scrubber.of(api_key, urls=[url]))
    connection.call("checking the API key", connection.sdk.users.whoami)
    return connection


@contextmanager
def translate_errors(url: str, what: str,
                     scrub: Scrubber = _NOTHING_TO_SCRUB) -> Iterator[None]:
    """SDK and transport exceptions -> LabelStudioError naming the server and the fix. `url` is
    shown as given (pass it redacted); anything the server or transport said is scrubbed."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except httpx.TransportError as exc:
        raise LabelStudioError(f"cannot reach Label Studio at {url} while {what} "
                               f"({type(exc).__name__}: {scrub(str(exc))}); is the server running? "
                               f"{SERVER_HINT}") from None
    except ApiError as exc:
        status = exc.status_code
        if status == 401:
            raise LabelStudioError(
                f"Label Studio at {url} rejected the API key while {what} (HTTP 401); check "
                f"{KEY_ENV}: a legacy token from Account & Settings, or a personal access token "
                f"where the server enables them") from None
        if status == 403:
            raise LabelStudioError(f"Label Studio at {url} refused access while {what} "
                                   f"(HTTP 403): the key's user lacks permission") from None
        raise LabelStudioError(f"Label Studio at {url} answered HTTP {status} while {what}: "
                               f"{_brief(scrub(str(exc.body)))}") from None


def _brief(body: Any) -> str:
    text = str(body)
    return text if len(text) <= 400 else text[:400] + "..."
