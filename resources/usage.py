"""The seam for the usage ledger: every model call is reported to one `UsageRecorder`.

`usage_recorder()` returns this process's ledger (resources/gateway/ledger.py): a record is
queued in memory and written to PostgreSQL in batches by a background thread, with its cost
from the price table, so reporting never waits on the database. Callers report after each
call, failed ones included (`outcome`), and never let recording fail their own work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelCall:
    """One call to a model: what for, whose, which model, how big, how long, how it ended."""

    site_id: str
    purpose: str  # "index_embedding", "question_embedding", "answer", "rewrite", "summary", …
    provider: str  # "openai" (any OpenAI-compatible endpoint), "secondary", … | "local"
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    outcome: str = "ok"  # "ok" | "error" | "timeout" | "rate_limited" | …


class UsageRecorder(Protocol):
    def record(self, call: ModelCall) -> None: ...


class NoUsageRecorder:
    """Records nothing (tools that must not write, and tests of the parts that report)."""

    def record(self, call: ModelCall) -> None:
        return None


def usage_recorder() -> UsageRecorder:
    """The recorder every model caller reports to: this process's ledger."""
    from pressrag.resources.gateway.ledger import process_ledger

    return process_ledger()


@dataclass
class Meter:
    """Filled in by the caller inside `metered()` once the model has answered."""

    input_tokens: int = 0
    output_tokens: int = 0


@contextmanager
def metered(
    recorder: UsageRecorder, *, site_id: str, purpose: str, provider: str, model: str
) -> Iterator[Meter]:
    """Time the block and report it as one call, `error` if it raised. A recorder that fails
    is logged, never raised: counting must not break the work it counts."""
    meter = Meter()
    start = time.perf_counter()
    outcome = "error"
    try:
        yield meter
        outcome = "ok"
    finally:
        call = ModelCall(
            site_id=site_id,
            purpose=purpose,
            provider=provider,
            model=model,
            input_tokens=meter.input_tokens,
            output_tokens=meter.output_tokens,
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            outcome=outcome,
        )
        try:
            recorder.record(call)
        except Exception:
            log.warning("recording a %s call failed", purpose, exc_info=True)
