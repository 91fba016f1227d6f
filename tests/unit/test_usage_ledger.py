"""The usage ledger's writer, as the steps that flush it see it."""

from __future__ import annotations

import time

from pressrag.resources.gateway.ledger import UsageLedger
from pressrag.resources.usage import ModelCall


def test_a_closed_ledger_answers_a_flush_at_once() -> None:
    """A serving process closes this process's ledger when it stops; in one process (the
    tests', or anything embedding serving) every later indexing step's flush waited its full
    30 s for a writer that was gone."""
    ledger = UsageLedger("postgresql://pressrag@127.0.0.1:1/nowhere", flush_seconds=0.05)
    ledger.record(ModelCall(site_id="s", purpose="index_embedding", provider="local", model="m"))
    ledger.close(timeout=0.2)  # the database is unreachable: the record stays unwritten
    started = time.monotonic()
    assert ledger.flush(timeout=5) is False
    assert time.monotonic() - started < 1
