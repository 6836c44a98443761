"""When and how long to wait before retrying a remote model call.

Retried: 429 (waiting what the server's `retry-after` / `retry-after-ms` says, capped), 5xx,
timeouts and dropped or refused connections; with exponential backoff and jitter so that many
concurrent callers do not retry in lockstep. Not retried: other 4xx (the request itself is wrong).
Kept free of the `openai` import so it can be unit-tested and reused by other HTTP backends.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # Retries after the first attempt; 0 = one attempt only.
    max_retries: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    # A server asking for longer than this is treated as "not now": the call errors instead.
    max_retry_after_s: float = 120.0

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds before retry number `retry` (0-based): base * 2^retry, capped, with half of it
        jittered ("equal jitter": never shorter than half the nominal wait)."""
        nominal = min(self.cap_s, self.base_s * (2 ** retry))
        return nominal / 2 + (rng or random).uniform(0, nominal / 2)

    def delay(self, retry: int, retry_after: float | None,
              rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry number `retry`, or None when no retry should be made."""
        if retry >= self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after_s:
                return None
            # A little jitter on top, so callers told the same instant do not stampede.
            return max(0.0, retry_after) + (rng or random).uniform(0, 0.1)
        return self.backoff(retry, rng)


def retryable_status(status: int) -> bool:
    return status == 429 or status == 408 or status >= 500


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """`retry-after-ms`, then `retry-after` as seconds or as an HTTP date; None when absent."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value:
        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))
    return None
