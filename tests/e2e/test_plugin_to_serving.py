"""Plugin and backend together: the plugin in a real WordPress talks to the real serving app.

Webhooks from content changes land in the backend's inbox; the plugin's browser token is
accepted by /v1/ask from the site's origin; the plugin's status panel reads the status API with
the site's own admin API key (printed by `sites add`), and its usage panel shows what the usage
ledger holds after a few chat questions.
Nothing here is faked: embedded Postgres, `python -m pressrag.serving`, Debian's WordPress.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PressragEnv, SiteInfo, site_info
from tests.support.dagster_daemon import ServingProcess, serving_fixture_env
from tests.support.wordpress import WordPress, php_string

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE = "plugin-live"


@dataclass
class Stack:
    wordpress: WordPress
    serving: ServingProcess
    site: SiteInfo
    app_url: str
    admin_key: str  # the site's first admin API key, from `sites add`

    def inbox(self) -> list[dict[str, Any]]:
        from pressrag.resources.store import Store

        with Store(self.app_url, max_size=1) as store, store.connection() as conn:
            rows = conn.execute(
                "SELECT event_id, event_type, payload FROM inbox WHERE site_id = %s ORDER BY id",
                (SITE,),
            ).fetchall()
        return [{"event_id": r[0], "type": r[1], "payload": r[2]} for r in rows]

    def wait_for_inbox(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matching = [row for row in self.inbox() if predicate(row)]
            if matching:
                return matching[0]
            time.sleep(0.2)
        raise AssertionError(f"no matching inbox row in {timeout} s: {self.inbox()}")

    def outbox(self) -> list[dict[str, Any]]:
        return list(
            json.loads(
                self.wordpress.php(
                    "echo wp_json_encode($wpdb->get_results("
                    "'SELECT event_id, type, status, attempts, last_error FROM ' "
                    ". PressRAG_Outbox::table() . ' ORDER BY id', ARRAY_A));"
                )
            )
        )


@pytest.fixture(scope="module")
def stack(pressrag_env: PressragEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from pressrag.orchestration.sites import add_site

    with WordPress(tmp_path_factory.mktemp("plugin-live") / "wp") as wordpress:
        wordpress.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
        added = add_site(SITE, url=wordpress.base_url)
        assert added.new_admin_key, "sites add makes the site's first admin key"
        site = site_info(SITE)
        env = {**serving_fixture_env(), "PRESSRAG_USAGE_FLUSH_SECONDS": "0.2"}
        serving = ServingProcess(env=env).start()
        try:
            serving.wait_ready(timeout=120)
            settings = {
                "backend_url": serving.url,
                "site_id": SITE,
                "webhook_secret": site.webhook_secret,
                "token_secret": site.token_secret,
                "admin_api_key": added.new_admin_key,  # not the operator key
                "post_types": ["post", "page", "attachment"],
                "outbox_enabled": True,
            }
            encoded = php_string(json.dumps(settings))
            wordpress.php(f"update_option('pressrag_settings', json_decode({encoded}, true));")
            yield Stack(
                wordpress, serving, site, os.environ["PRESSRAG_APP_DB_URL"], added.new_admin_key
            )
        finally:
            serving.stop()
            forget_site(os.environ["PRESSRAG_APP_DB_URL"])


def forget_site(app_url: str) -> None:
    """Remove this module's site (cascades to its documents and inbox) so later tests in the
    session, e.g. a sensor or the nightly reconcile, never chase a WordPress that is gone."""
    from pressrag.resources.store import Store

    with Store(app_url, max_size=1) as store, store.connection() as conn:
        conn.execute("DELETE FROM sites WHERE id = %s", (SITE,))


def test_content_changes_reach_the_backend_inbox(stack: Stack) -> None:
    created = stack.wordpress.rest(
        "POST", "/wp/v2/posts", json={"title": "Live", "content": "Text", "status": "publish"}
    )
    assert created.status_code == 201, created.text
    wp_id = created.json()["id"]
    upserted = stack.wait_for_inbox(
        lambda r: r["type"] == "document.upserted" and r["payload"]["data"]["wp_id"] == wp_id
    )
    assert upserted["payload"]["site"] == SITE
    assert upserted["payload"]["data"]["status"] == "publish"

    stack.wordpress.rest("DELETE", f"/wp/v2/posts/{wp_id}")
    stack.wait_for_inbox(
        lambda r: r["type"] == "document.deleted" and r["payload"]["data"]["wp_id"] == wp_id
    )
    outbox = stack.outbox()
    assert {row["status"] for row in outbox} == {"delivered"}, outbox
    assert {row["event_id"] for row in outbox} <= {row["event_id"] for row in stack.inbox()}


def test_reindex_request_is_stored_as_an_event(stack: Stack) -> None:
    stack.wordpress.php(
        "PressRAG_Events::reindex_requested();PressRAG_Outbox::instance()->deliver_request_rows();"
    )
    stack.wait_for_inbox(lambda r: r["type"] == "site.reindex_requested")


def test_chat_token_gets_a_cited_answer_about_the_site(stack: Stack) -> None:
    """The whole loop: WordPress content → Dagster indexing → /v1/ask with the plugin's token."""
    from pressrag.orchestration.run import index_site_now

    post = stack.wordpress.rest(
        "POST",
        "/wp/v2/posts",
        json={
            "title": "Caring for the quince orchard",
            "content": "<p>Prune the quince orchard in late winter and mulch each tree "
            "with compost so the roots stay moist through the dry summer.</p>",
            "status": "publish",
        },
    ).json()
    assert index_site_now(SITE), "indexing the WordPress site failed"

    base = stack.wordpress.base_url
    minted = httpx.get(f"{base}/wp-json/pressrag/v1/token", timeout=10).json()
    assert minted["backend"] == stack.serving.url
    headers = {"Authorization": f"Bearer {minted['token']}", "Origin": base}
    question = {"site": minted["site"], "question": "When should the quince orchard be pruned?"}
    answer = httpx.post(f"{stack.serving.url}/v1/ask", json=question, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("access-control-allow-origin") == base
    body = answer.json()
    assert body["mode"] != "not_found", body
    assert post["link"] in [citation["url"] for citation in body["citations"]]

    elsewhere = httpx.post(
        f"{stack.serving.url}/v1/ask",
        json=question,
        headers={**headers, "Origin": "https://evil.example"},
        timeout=60,
    )
    assert elsewhere.status_code == 403


def test_status_panel_reads_the_backend_with_the_admin_key(stack: Stack) -> None:
    status = json.loads(
        stack.wordpress.php("echo wp_json_encode(PressRAG_Backend::site_status());")
    )
    assert status["ok"], status
    assert status["data"]["site"] == SITE
    health = json.loads(stack.wordpress.php("echo wp_json_encode(PressRAG_Backend::health());"))
    assert health["ok"], health


def ledger_totals(app_url: str) -> tuple[int, int]:
    """(requests served, tokens of model calls) of this module's site this month, as the
    usage ledger's running totals hold them."""
    from pressrag.resources.store import Store

    with Store(app_url, max_size=1) as store, store.connection() as conn:
        requests = conn.execute(
            "SELECT coalesce(sum(requests), 0) FROM usage_requests WHERE site_id = %s "
            "AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date",
            (SITE,),
        ).fetchone()[0]
        tokens = conn.execute(
            "SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage_counters "
            "WHERE site_id = %s AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date",
            (SITE,),
        ).fetchone()[0]
    return int(requests), int(tokens)


def test_usage_panel_shows_what_the_ledger_holds_after_chat_questions(stack: Stack) -> None:
    from pressrag.orchestration.run import index_site_now

    stack.wordpress.rest(
        "POST",
        "/wp/v2/posts",
        json={
            "title": "Pressing quince cheese",
            "content": "<p>Cook the quince pulp with sugar for two hours, then press it into "
            "a lined tin and let it set for a day before slicing.</p>",
            "status": "publish",
        },
    )
    assert index_site_now(SITE), "indexing the WordPress site failed"
    base = stack.wordpress.base_url
    before = ledger_totals(stack.app_url)
    for question in (
        "How long is quince cheese cooked?",
        "How is quince cheese set?",
        "What goes into quince cheese?",
    ):
        minted = httpx.get(f"{base}/wp-json/pressrag/v1/token", timeout=10).json()
        headers = {"Authorization": f"Bearer {minted['token']}", "Origin": base}
        asked = httpx.post(
            f"{stack.serving.url}/v1/ask",
            json={"site": SITE, "question": question},
            headers=headers,
            timeout=120,
        )
        assert asked.status_code == 200, asked.text

    deadline = time.monotonic() + 15
    while ledger_totals(stack.app_url)[0] < before[0] + 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the last batch (question embeddings, answers) written too
    requests, tokens = ledger_totals(stack.app_url)
    assert requests >= before[0] + 3 and tokens > before[1]
    rows = json.loads(
        stack.wordpress.php(
            "$usage = PressRAG_Backend::site_usage();"
            "echo wp_json_encode(array('ok' => $usage['ok'], "
            "'rows' => PressRAG_Admin::usage_rows((array) $usage['data'])));"
        )
    )
    assert rows["ok"], rows
    shown = rows["rows"]
    assert shown["Requests"] == f"{requests:,}" and shown["Tokens"] == f"{tokens:,}", shown
    assert shown["Budget"] == "no budget set"
