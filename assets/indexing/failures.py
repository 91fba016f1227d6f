"""One document's failure never ends a site's run (issue 10).

Each stage (extract, chunk, embed) does a document's work inside `StageFailures.isolated()`:
a savepoint undoes only that document's writes, and any exception is recorded on the
document (`documents.last_error_stage`, `last_error_class`, `last_error`, `failure_count`,
`quarantined_at`) instead of propagating. The exception: the database connection itself is
gone, which no document caused; that fails the run so Dagster retries it.

Messages are stored and logged without secrets (credentials in URLs, keys, tokens) and
bounded in length; the stage's metadata lists what failed and what was quarantined.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg

from pressrag.assets.indexing.common import StepContext
from pressrag.resources.store import documents as docs_sql

# The connection is gone (server restart, network): not any document's fault.
DATABASE_GONE = (psycopg.OperationalError, psycopg.InterfaceError)
MAX_MESSAGE_CHARS = 500
MAX_LISTED = 50
_REDACT = [
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[redacted]"),
    (re.compile(r"\b(whsec_|sk-)[A-Za-z0-9+/=_-]{8,}"), r"\1[redacted]"),
    (
        re.compile(r"(?i)((?:api[_-]?key|password|secret|token)\"?\s*[:=]\s*\"?)[^\s\",;&]+"),
        r"\1[redacted]",
    ),
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(error class, message fit to store and show): no secrets, one line, bounded."""
    message = str(exc) or type(exc).__name__
    for pattern, replacement in _REDACT:
        message = pattern.sub(replacement, message)
    message = " ".join(_CONTROL.sub(" ", message).split())
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return type(exc).__name__, message


class StageFailures:
    """The failures of one stage in one run: recorded per document, summarised as metadata."""

    def __init__(self, context: StepContext, stage: str, quarantine_after: int):
        self.context = context
        self.stage = stage
        self.quarantine_after = quarantine_after
        self.failed: list[str] = []
        self.quarantined = 0
        self._lock = threading.Lock()  # `publish` records from several connections' threads

    @contextmanager
    def isolated(self, conn: psycopg.Connection, row: dict) -> Iterator[None]:
        """Do one document's work; an exception is recorded on the document, not raised."""
        with self.recorded(conn, row), conn.transaction():
            yield  # in a savepoint: a failed statement undoes only this document's writes

    @contextmanager
    def recorded(self, conn: psycopg.Connection, row: dict) -> Iterator[None]:
        """`isolated` for work that writes nothing (parsing): no savepoint to pay for."""
        try:
            yield
        except DATABASE_GONE:
            raise
        except Exception as exc:
            self.record(conn, row, exc)

    def record(self, conn: psycopg.Connection, row: dict, exc: BaseException) -> None:
        error_class, message = describe_failure(exc)
        with conn.transaction():
            quarantined = docs_sql.record_failure(
                conn,
                row["id"],
                row["content_hash"],
                stage=self.stage,
                error_class=error_class,
                error=message,
                quarantine_after=self.quarantine_after,
            )
        label = f"{row['wp_id']} {row.get('title', '')!r}: {error_class}: {message}"
        if quarantined:
            label += f" — quarantined after {self.quarantine_after} failures"
        with self._lock:
            self.quarantined += bool(quarantined)
            self.failed.append(label)
        self.context.log.warning(f"{self.stage} failed for document {label}")

    def metadata(self) -> dict[str, object]:
        return failure_metadata(self.failed, self.quarantined)


def write_all_or_each(
    conn: psycopg.Connection,
    rows: list[dict],
    write: Callable[[list[dict]], set[int]],
    failures: StageFailures,
) -> set[int]:
    """`write` the documents' rows together in one savepoint; if that fails, one document at
    a time, so a failure costs only its document (recorded by `failures`). The ids written."""
    try:
        with conn.transaction():
            return write(rows)
    except DATABASE_GONE:
        raise
    except Exception:
        pass  # written again one document at a time; only the failing ones are recorded
    done: set[int] = set()
    for row in rows:
        with failures.isolated(conn, row):
            done |= write([row])
    return done


def failure_metadata(failed: list[str], quarantined: int) -> dict[str, object]:
    """`failed` and `quarantined` (by this run) counts, and `failures`, one line each (left
    out when nothing failed: the catalog shows no empty block)."""
    counts: dict[str, object] = {"failed": len(failed), "quarantined": quarantined}
    if not failed:
        return counts
    shown = [f"- {line}" for line in failed[:MAX_LISTED]]
    if len(failed) > MAX_LISTED:
        shown.append(f"- … and {len(failed) - MAX_LISTED} more")
    return {**counts, "failures": dg.MetadataValue.md("\n".join(shown))}
