"""When to retry a request and how long to wait.

Retried: connection errors and timeouts, and statuses 408, 429, 502, 503, 504. A 409 is
never retried: it means a conflicting tell or a duplicate name, and repeating it cannot help.
The server can override the decision with an ``x-should-retry: true|false`` header.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

DEFAULT_MAX_RETRIES = 3
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a response with this status and headers is worth another try."""
    hint = headers.get("x-should-retry", "").strip().lower()
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status in RETRY_STATUSES


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by ``Retry-After`` (or ``retry-after-ms``), or None if absent/invalid."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(parsed.timestamp() - time.time(), 0.0)


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    A server-given `retry_after` up to 60 s is obeyed as is. Otherwise the delay is
    0.5 * 2**attempt capped at 8 s, minus up to 25 % jitter.
    """
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
        return retry_after
    delay = min(INITIAL_DELAY * 2.0**attempt, MAX_DELAY)
    return delay * (1.0 - 0.25 * random.random())
