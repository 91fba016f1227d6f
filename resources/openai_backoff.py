"""One retry policy for every OpenAI call (embeddings, chat): back off on 429, 5xx and
connection errors, honouring `Retry-After`, with jitter and a ceiling on each wait."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def retry_after_seconds(exc: Exception, ceiling: float) -> float | None:
    """The server's `Retry-After` (seconds), capped, if the error carries one."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return min(ceiling, float(value)) if value else None
    except ValueError:
        return None


def call_with_backoff(
    make_request: Callable[[], T],
    *,
    max_retries: int,
    what: str,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`make_request()`, retried on transient OpenAI errors; the last error is re-raised."""
    import openai

    transient = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
    for attempt in range(max_retries + 1):
        try:
            return make_request()
        except transient as exc:
            if attempt == max_retries:
                raise
            delay = retry_after_seconds(exc, max_delay) or min(max_delay, 0.5 * 2**attempt)
            delay = min(max_delay, delay * (1 + random.random() * 0.25))
            log.warning(
                "%s failed (%s); retry %d/%d in %.1fs",
                what,
                type(exc).__name__,
                attempt + 1,
                max_retries,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")
