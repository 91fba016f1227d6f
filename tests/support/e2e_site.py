"""One real site, end to end: WordPress + plugin → serving → inbox → `dagster dev` → Postgres.

`E2ESite` owns the processes of `tests/e2e/test_e2e_site.py` and the views the scenarios need
(outbox rows in WordPress, inbox rows and chunks in Postgres, search and ask through serving).
Nothing is faked: Debian's WordPress with the plugin, `python -m pressrag.serving`, `dagster dev`
(webserver + daemon, inbox sensor every 2 s), the embedded Postgres and the real model.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.dagster_daemon import ADMIN_KEY, DagsterDev, ServingProcess
from tests.support.wordpress import SEARCH_PATH, WordPress, php_string

T = TypeVar("T")

# Programs the scenarios need; a missing one fails the module (it never skips).
REQUIRED_PROGRAMS = {
    "php": "php-cli",
    "mariadbd": "mariadb-server",
    "chromium": "chromium",
    "node": "nodejs (20 or later)",
}
# One index run = a run worker start, a model load and the embedding; on 2 busy cores.
RUN_DEADLINE = 150.0


def missing_programs() -> list[str]:
    """`name (package)` of each required program that is not installed."""
    return [
        f"{name} (Debian package {package})"
        for name, package in REQUIRED_PROGRAMS.items()
        if shutil.which(name, path=SEARCH_PATH) is None
    ]


def wait_until(check: Callable[[], T | None], timeout: float, what: str, context: str = "") -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout:.0f} s (last: {last!r})\n{context}")


@dataclass
class E2ESite:
    site_id: str
    wordpress: WordPress
    serving: ServingProcess
    dagster: DagsterDev
    app_url: str

    # ---- WordPress ------------------------------------------------------------------------
    def configure_plugin(self, **settings: Any) -> None:
        """Merge settings into the plugin's option (the admin screen stores the same array)."""
        encoded = php_string(json.dumps(settings))
        self.wordpress.php(
            "$s = get_option('pressrag_settings', array());"
            f"update_option('pressrag_settings', array_merge($s, json_decode({encoded}, true)));"
        )

    def outbox(self) -> list[dict[str, Any]]:
        rows = self.wordpress.php(
            "echo wp_json_encode($wpdb->get_results('SELECT id, event_id, type, payload, "
            "status, attempts, last_error FROM ' . PressRAG_Outbox::table() . ' ORDER BY id', "
            "ARRAY_A));"
        )
        return [
            {**row, "id": int(row["id"]), "attempts": int(row["attempts"])}
            for row in json.loads(rows)
        ]

    def outbox_after(self, row_id: int) -> list[dict[str, Any]]:
        return [row for row in self.outbox() if row["id"] > row_id]

    def last_outbox_id(self) -> int:
        return max((row["id"] for row in self.outbox()), default=0)

    def run_outbox_cron(self) -> None:
        """What WP-cron runs every minute (DISABLE_WP_CRON is set in the harness)."""
        self.wordpress.php("do_action(PressRAG_Outbox::CRON_HOOK);")

    def create_post(self, title: str, content: str, **fields: Any) -> dict[str, Any]:
        response = self.wordpress.rest(
            "POST",
            "/wp/v2/posts",
            json={"title": title, "content": content, "status": "publish", **fields},
        )
        assert response.status_code == 201, response.text
        return response.json()

    # ---- Postgres -------------------------------------------------------------------------
    def query(self, sql: str, *params: object) -> list[tuple]:
        from pressrag.resources.store import Store

        with Store(self.app_url, max_size=1) as store, store.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def inbox(self, event_ids: list[str]) -> dict[str, list[str]]:
        """event id → statuses of the inbox rows carrying it (one row when stored once)."""
        found: dict[str, list[str]] = {}
        for event_id, status in self.query(
            "SELECT event_id, status FROM inbox WHERE site_id = %s AND event_id = ANY(%s)",
            self.site_id,
            event_ids,
        ):
            found.setdefault(event_id, []).append(status)
        return found

    def inbox_count(self) -> int:
        return self.query("SELECT count(*) FROM inbox WHERE site_id = %s", self.site_id)[0][0]

    def chunks(self, wp_id: int) -> list[tuple[int, str]]:
        """(ordinal, text) of every live chunk of one WordPress object."""
        return self.query(
            "SELECT c.ordinal, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = %s AND d.wp_id = %s ORDER BY c.ordinal",
            self.site_id,
            wp_id,
        )

    def wait_processed(self, event_ids: list[str], timeout: float = RUN_DEADLINE) -> None:
        """Every event is in the inbox and its index run succeeded."""

        def done() -> bool:
            states = self.inbox(event_ids)
            statuses = {s for rows in states.values() for s in rows}
            assert "dead" not in statuses, f"events died: {states}\n{self.dagster.output(3000)}"
            return len(states) == len(event_ids) and statuses <= {"processed", "ignored"}

        wait_until(done, timeout, f"{len(event_ids)} events processed", self.dagster.output(3000))

    # ---- serving --------------------------------------------------------------------------
    def _admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.serving.url}{path}",
            json={"site": self.site_id, **body},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def search(self, query: str, k: int = 8) -> list[dict[str, Any]]:
        return list(self._admin("/v1/search", {"query": query, "k": k})["hits"])

    def ask(self, question: str) -> dict[str, Any]:
        return self._admin("/v1/ask", {"question": question})

    def cited_urls(self, question: str) -> list[str]:
        return [citation["url"] for citation in self.ask(question)["citations"]]


def write_mu_plugin(wordpress: WordPress, name: str, code: str) -> Path:
    """A must-use plugin in the instance's private wp-content (loaded on every request)."""
    folder = wordpress.content_dir / "mu-plugins"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"<?php\n{code}\n")
    return path
