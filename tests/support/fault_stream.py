"""A stream of signed WordPress edits and deletes, delivered the way the plugin delivers them,
and the checks that tell whether every accepted event was applied.

`Outbox.deliver` retries a connection error or a 5xx with back-off until the event is
accepted (2xx) or it gives up, like the plugin's outbox. An event is *applied* when its inbox
row is processed and the index shows it: an edit's marker word is in the document's live
chunks, a deleted document is gone. `Probe` reads the rest of the stack's state: runs still
in progress, `embeddings` pool slots still claimed, `index_runs` rows still "running".
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg

from tests.support.dagster_daemon import WebhookSender

RETRY_PAUSE_SECONDS = (0.2, 0.5, 1.0, 2.0)


@dataclass
class Delivery:
    """One event: what it asks for, and how its delivery went."""

    event_id: str
    event_type: str
    wp_id: int
    marker: str | None  # an edit's unique word; None for a delete
    first_sent: float
    accepted_at: float | None = None
    attempts: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None


class Outbox:
    def __init__(self, sender: WebhookSender, give_up_after: float = 60.0) -> None:
        self.sender = sender
        self.give_up_after = give_up_after
        self.deliveries: list[Delivery] = []

    def deliver(self, event_type: str, data: dict, *, marker: str | None = None) -> Delivery:
        delivery = Delivery(
            event_id=f"msg_{uuid.uuid4()}",
            event_type=event_type,
            wp_id=int(data["wp_id"]),
            marker=marker,
            first_sent=time.time(),
        )
        self.deliveries.append(delivery)
        body = self.sender.body(event_type, data)
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            delivery.attempts += 1
            try:
                response = self.sender.post(body, event_id=delivery.event_id)
            except httpx.HTTPError as exc:
                delivery.failures.append(type(exc).__name__)
            else:
                if response.status_code < 300:
                    delivery.accepted_at = time.time()
                    return delivery
                delivery.failures.append(str(response.status_code))
                if response.status_code < 500:
                    return delivery  # refused for good: the plugin would not retry either
            pause = RETRY_PAUSE_SECONDS[min(len(delivery.failures), len(RETRY_PAUSE_SECONDS)) - 1]
            time.sleep(pause)
        return delivery


class Probe:
    """Read-only views of one site's state (a new connection per look: PostgreSQL may have
    been restarted under us)."""

    def __init__(self, app_url: str, site: str) -> None:
        self.app_url = app_url
        self.site = site

    def _rows(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.app_url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def query(self, sql: str, *params: object) -> list[tuple]:
        """`_rows`, but a database that is down or restarting reads as no rows."""
        with contextlib.suppress(psycopg.OperationalError):
            return self._rows(sql, *params)
        return []

    def processed(self, deliveries: list[Delivery]) -> set[str]:
        """Event ids whose inbox row is processed (their run succeeded)."""
        if not deliveries:
            return set()
        rows = self.query(
            "SELECT event_id FROM inbox WHERE event_id = ANY(%s) AND status = 'processed'",
            [d.event_id for d in deliveries],
        )
        return {r[0] for r in rows}

    def applied(self, deliveries: list[Delivery]) -> set[str]:
        """Event ids of accepted deliveries that are processed and whose effect is in the
        index: an edit's marker in the document's live chunks, a deleted document gone."""
        accepted = [d for d in deliveries if d.accepted]
        processed = self.processed(accepted)
        ids = sorted({d.wp_id for d in accepted})
        texts: dict[int, list[str]] = {wp_id: [] for wp_id in ids}
        for wp_id, text in self.query(
            "SELECT d.wp_id, c.text FROM documents d JOIN chunks c ON c.document_id = d.id "
            "WHERE d.site_id = %s AND d.wp_id = ANY(%s)",
            self.site,
            ids,
        ):
            texts[wp_id].append(text)
        present = {
            r[0]
            for r in self.query(
                "SELECT wp_id FROM documents WHERE site_id = %s AND wp_id = ANY(%s)", self.site, ids
            )
        }

        def shows(d: Delivery) -> bool:
            if d.marker is None:
                return d.wp_id not in present
            return any(d.marker in text for text in texts[d.wp_id])

        return {d.event_id for d in accepted if d.event_id in processed and shows(d)}

    def running_index_runs(self) -> list[str]:
        return [
            r[0]
            for r in self.query(
                "SELECT run_id FROM index_runs WHERE site_id = %s AND status = 'running'",
                self.site,
            )
        ]

    def index_run(self, run_id: str) -> tuple | None:
        rows = self.query("SELECT status, stats FROM index_runs WHERE run_id = %s", run_id)
        return rows[0] if rows else None

    def unsettled_events(self) -> dict[str, int]:
        return dict(
            self.query(
                "SELECT status, count(*) FROM inbox WHERE site_id = %s "
                "AND status IN ('pending', 'launched') GROUP BY status",
                self.site,
            )
        )

    def document_errors(self, wp_ids: list[int]) -> dict[int, tuple]:
        rows = self.query(
            "SELECT wp_id, last_error_stage, last_error FROM documents "
            "WHERE site_id = %s AND wp_id = ANY(%s)",
            self.site,
            wp_ids,
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def unfinished_runs(self) -> list[tuple[str, str]]:
        """(run id, status) of the site's runs that are queued, starting, started or canceling."""
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(
                filters=dg.RunsFilter(
                    tags={"dagster/partition": self.site},
                    statuses=[
                        dg.DagsterRunStatus.QUEUED,
                        dg.DagsterRunStatus.NOT_STARTED,
                        dg.DagsterRunStatus.STARTING,
                        dg.DagsterRunStatus.STARTED,
                        dg.DagsterRunStatus.CANCELING,
                    ],
                )
            )
        return [(r.run_id, r.status.value) for r in runs]

    @staticmethod
    def claimed_slots(pool: str = "embeddings") -> list[str]:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            info = instance.event_log_storage.get_concurrency_info(pool)
        return [slot.run_id for slot in info.claimed_slots]

    @staticmethod
    def run_status(run_id: str) -> str | None:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_by_id(run_id)
        return run.status.value if run else None

    @staticmethod
    def worker_pid(run_id: str) -> int | None:
        """The run worker's pid, from the engine event its code server's child logs first."""
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            records = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
            ).records
        for record in records:
            data = record.event_log_entry.dagster_event.engine_event_data
            pid = data.metadata.get("pid") if data else None
            if pid is not None and "Started process for run" in (
                record.event_log_entry.dagster_event.message or ""
            ):
                return int(pid.value)
        return None
