"""Issue 5's end-to-end acceptance scenarios on ONE real site.

WordPress (Debian's package, `php -S`) with the plugin sends signed webhooks to the serving
process; `dagster dev` (webserver + daemon, inbox sensor every 2 s) indexes them with the real
model into the embedded Postgres; headless Chromium uses the `[ai_chat]` box against the real
serving process. The tests run in file order and share the site `e2e`, which keeps the number
of index runs (each a worker start and a model load) small enough for CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import (
    ADMIN_KEY,
    DagsterDev,
    ServingProcess,
    serving_fixture_env,
)
from tests.support.dagster_daemon import launch_nightly_reconcile as launch_scheduled_reconcile
from tests.support.e2e_site import (
    RUN_DEADLINE,
    E2ESite,
    missing_programs,
    wait_until,
    write_mu_plugin,
)
from tests.support.wordpress import WordPress

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = REPO_ROOT / "wp-plugin" / "tests" / "browser" / "drive_chat.mjs"
SCREENSHOT = REPO_ROOT / "test-output" / "chat.png"
SITE = "e2e"

CREATURES = ["otter", "heron", "badger", "kestrel", "salamander"]
CREATURES += ["hedgehog", "beaver", "wren", "lynx", "newt"]
HABITS = [
    ("builds its winter shelter", "out of reeds, moss and fallen alder twigs"),
    ("hunts at first light", "along the frosty edge of the marsh"),
    ("raises its young", "in a hollow beneath an old hawthorn hedge"),
    ("crosses the river", "over a fallen birch trunk below the weir"),
    ("sleeps through a storm", "wedged deep inside a dry bank of clay"),
]


def field_notes() -> list[tuple[str, str]]:
    """Fifty distinct (title, content) pairs: every creature with every habit."""
    return [
        (
            f"How the {creature} {habit}",
            f"<p>Field note: the {creature} {habit} {where}. Observers counted "
            f"{index + 3} sightings of the {creature} during the survey.</p>",
        )
        for index, (creature, (habit, where)) in enumerate(
            (c, h) for c in CREATURES for h in HABITS
        )
    ]


@pytest.fixture(scope="module")
def site(pressrag_env: PressragEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ESite]:
    missing = missing_programs()
    if missing:
        pytest.fail(
            f"the end-to-end scenarios need {', '.join(missing)}; see "
            "/work/shared/notes/wordpress-e2e.md or `make system-deps`"
        )
    # The backend starts first: loading the model overlaps with installing WordPress.
    # Dagster starts once the first content is in the inbox (see `content`).
    serving = ServingProcess(env=serving_fixture_env()).start()
    dagster = DagsterDev(env={"PRESSRAG_SENSOR_INTERVAL_SECONDS": "2"})
    try:
        with WordPress(tmp_path_factory.mktemp("e2e-site") / "wp") as wordpress:
            stack = E2ESite(SITE, wordpress, serving, dagster, os.environ["PRESSRAG_APP_DB_URL"])
            try:
                set_up_wordpress(stack)
                serving.wait_ready(timeout=180)
                yield stack
            finally:
                forget_site(stack)
    finally:
        dagster.stop()
        serving.stop()


def set_up_wordpress(stack: E2ESite) -> None:
    """Plugin active and configured for the registered site `e2e`, on an empty site."""
    from pressrag.orchestration.sites import add_site

    wordpress = stack.wordpress
    wordpress.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
    # A failed delivery is retried after 1 s instead of 15-30 s, through the plugin's own
    # filter, so the outage scenario need not wait out the production backoff.
    write_mu_plugin(
        wordpress,
        "e2e-fast-retry.php",
        "add_filter('pressrag_outbox_backoff_seconds', fn() => 1);",
    )
    # WordPress installs a sample post and page; remove them before the plugin records
    # anything, so the site starts empty and the reconcile's drift counts only our changes.
    stack.configure_plugin(outbox_enabled=False)
    wordpress.php(
        "foreach (get_posts(array('post_type' => array('post', 'page'), 'post_status' => "
        "'any', 'numberposts' => -1)) as $p) { wp_delete_post($p->ID, true); }"
    )
    add_site(SITE, url=wordpress.base_url, origins=[wordpress.base_url])
    secrets = site_info(SITE)
    stack.configure_plugin(
        backend_url=stack.serving.url,
        site_id=SITE,
        webhook_secret=secrets.webhook_secret,
        token_secret=secrets.token_secret,
        admin_api_key=ADMIN_KEY,
        post_types=["post", "page", "attachment"],
        outbox_enabled=True,
    )
    assert stack.outbox() == []


def forget_site(stack: E2ESite) -> None:
    """Remove the site (cascades to its documents and inbox) so later tests in the session,
    e.g. a nightly reconcile, never chase a WordPress that is gone."""
    stack.query("DELETE FROM sites WHERE id = %s RETURNING id", SITE)


# ---- 1. webhooks keep the index fresh ----------------------------------------------------

PDF_PHRASE = "fourteen amber signal flares"
PDF_QUERY = "lighthouse keeper ledger amber signal flares over the shoals"
SUNDIAL_HTML = (
    "<p>The quartz sundial in the abbey garden casts its shadow on a gnomon of brass."
    '<img src=x onerror="window.__pwned=true"></p>'
    "<p>Its engravers carved the motto &lt;img src=x onerror=window.__pwned=true&gt; into "
    "the sundial dial plate as a joke.</p>"
)


def make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def upload_pdf(site: E2ESite) -> dict[str, Any]:
    pdf = make_pdf(
        "Harbour ledger. The lighthouse keeper's ledger records "
        f"{PDF_PHRASE} fired over the shoals during the winter gale of 1894."
    )
    uploaded = site.wordpress.rest(
        "POST",
        "/wp/v2/media",
        content=pdf,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": 'attachment; filename="harbour-ledger.pdf"',
        },
    )
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()


@dataclass
class Content:
    notes: list[dict[str, Any]]
    pdf: dict[str, Any]
    sundial: dict[str, Any]
    chat_page: dict[str, Any]


@pytest.fixture(scope="module")
def content(site: E2ESite) -> Content:
    """Everything the scenarios start from, created through the REST API in one burst (four
    requests at a time, as php -S serves them): fifty field notes, a PDF, the post the chat
    scenario asks about and the page with the chat box.

    Their webhooks reach the serving inbox before Dagster starts, as on a site whose backend
    is set up before its orchestrator: the inbox sensor's first tick takes them all in one
    run. (With the daemon already up, the 2 s sensor splits a 12 s burst into three runs that
    queue behind each other, a minute each on 2 busy cores.)"""
    wp = site.wordpress
    with ThreadPoolExecutor(max_workers=4) as pool:
        notes = pool.map(lambda note: site.create_post(*note), field_notes())
        pdf = pool.submit(upload_pdf, site)
        sundial = pool.submit(site.create_post, "Restoring the quartz sundial", SUNDIAL_HTML)
        page = pool.submit(
            wp.rest,
            "POST",
            "/wp/v2/pages",
            json={
                "title": "Ask the garden",
                "content": '[ai_chat title="Ask the garden"]',
                "status": "publish",
            },
        )
        created = Content(list(notes), pdf.result(), sundial.result(), page.result().json())
    site.dagster.start().wait_ready(timeout=180)
    return created


def test_fifty_posts_are_indexed_through_webhooks(site: E2ESite, content: Content) -> None:
    notes = content.notes
    assert len(notes) == 50
    rows = site.outbox()
    upserts = {json.loads(r["payload"])["wp_id"] for r in rows if r["type"] == "document.upserted"}
    assert upserts >= {n["id"] for n in notes}
    assert {r["status"] for r in rows} == {"delivered"}, "each request delivered its own events"
    site.wait_processed([r["event_id"] for r in rows], timeout=3 * RUN_DEADLINE)
    waiting = {note["link"]: note["title"]["rendered"] for note in notes}

    def all_searchable() -> bool:
        for link, title in list(waiting.items()):
            if link in [hit["url"] for hit in site.search(title, k=10)]:
                del waiting[link]
        return not waiting

    wait_until(all_searchable, 30, "all 50 posts searchable", site.dagster.output(3000))
    hits = site.search(PDF_QUERY)
    assert any(PDF_PHRASE in hit["snippet"] for hit in hits), hits


def test_edit_removals_and_media_deletion(site: E2ESite, content: Content) -> None:
    """One burst of changes: an edit is answered with its new text and the old text is gone;
    trash, private, password and force-delete each make a post unanswerable; a force-deleted
    PDF is no longer found."""
    edited, trashed, private, protected, deleted = content.notes[:5]
    old_phrase = "fallen alder twigs"
    assert any(old_phrase in text for _, text in site.chunks(edited["id"]))
    removed = {n["link"]: n["title"]["rendered"] for n in (trashed, private, protected, deleted)}
    for link, question in removed.items():
        assert link in site.cited_urls(question), question

    before = site.last_outbox_id()
    wp = site.wordpress
    new_text = (
        "<p>Field note: the otter now stores smooth river pebbles in a hidden den beneath "
        "the willow roots, and guards them jealously.</p>"
    )
    assert wp.rest("POST", f"/wp/v2/posts/{edited['id']}", json={"content": new_text}).is_success
    assert wp.rest("DELETE", f"/wp/v2/posts/{trashed['id']}").json()["status"] == "trash"
    assert wp.rest("POST", f"/wp/v2/posts/{private['id']}", json={"status": "private"}).is_success
    assert wp.rest(
        "POST", f"/wp/v2/posts/{protected['id']}", json={"password": "hunter2"}
    ).is_success
    gone = wp.rest("DELETE", f"/wp/v2/posts/{deleted['id']}", params={"force": "true"})
    assert gone.json()["deleted"] is True, gone.text
    media = wp.rest("DELETE", f"/wp/v2/media/{content.pdf['id']}", params={"force": "true"})
    assert media.status_code == 200, media.text
    events = site.outbox_after(before)
    assert len(events) == 6, events
    site.wait_processed([r["event_id"] for r in events])

    answer = site.ask("Where does the otter store its smooth river pebbles?")
    assert answer["mode"] != "not_found", answer
    assert "pebbles" in answer["answer"]
    assert edited["link"] in [c["url"] for c in answer["citations"]]
    texts = [text for _, text in site.chunks(edited["id"])]
    assert texts and all(old_phrase not in text for text in texts), texts
    hits = site.search("otter winter shelter of reeds, moss and fallen alder twigs", k=20)
    assert [h for h in hits if h["url"] == edited["link"] and old_phrase in h["snippet"]] == []

    for note in (trashed, private, protected, deleted):
        assert site.chunks(note["id"]) == []
    for link, question in removed.items():
        assert link not in site.cited_urls(question), question
    assert site.query(
        "SELECT count(*) FROM documents WHERE site_id = %s AND wp_id = %s", SITE, deleted["id"]
    ) == [(0,)]

    assert not any(PDF_PHRASE in hit["snippet"] for hit in site.search(PDF_QUERY))
    assert site.chunks(content.pdf["id"]) == []


# ---- 2. a backend outage loses nothing and duplicates nothing ----------------------------

OUTAGE_POSTS = [
    ("Tending a beehive in spring", "Lift each frame slowly and look for capped brood."),
    ("Pruning an apple tree", "Cut out crossing branches to open the crown to light."),
    ("Sowing broad beans", "Sow broad beans in November for an early summer crop."),
    ("Mending a dry-stone wall", "Place every through-stone so it spans both faces."),
    ("Laying a hedge", "Cut pleachers three quarters through and bend them along."),
    ("Coppicing hazel", "Cut hazel stools close to the ground in late winter."),
    ("Keeping ducks", "Ducks need water deep enough to dip their whole heads."),
    ("Making leaf mould", "Pile autumn leaves in a wire bin and wait two years."),
    ("Storing onions", "Plait dried onions by their necks and hang them in a cool shed."),
    ("Sharpening a scythe", "Peen the scythe blade on an anvil before honing the edge."),
]


def test_outage_delivers_all_ten_posts_once(site: E2ESite, content: Content) -> None:
    inbox_before = site.inbox_count()
    before = site.last_outbox_id()
    site.serving.stop()
    try:
        created = [site.create_post(title, f"<p>{text}</p>") for title, text in OUTAGE_POSTS]
    finally:
        site.serving.start()
    rows = site.outbox_after(before)
    assert len(rows) == 10 and {r["status"] for r in rows} == {"pending"}, rows
    assert all(r["attempts"] == 1 and r["last_error"] for r in rows), rows
    assert site.inbox_count() == inbox_before  # nothing arrived while it was down
    site.serving.wait_ready(timeout=180)
    time.sleep(1.5)  # the (test-shortened) backoff of the failed attempt
    site.run_outbox_cron()
    site.run_outbox_cron()  # a second cron pass finds nothing left to send
    rows = site.outbox_after(before)
    assert {r["status"] for r in rows} == {"delivered"}, rows
    assert [r["attempts"] for r in rows] == [2] * 10
    event_ids = [r["event_id"] for r in rows]
    site.wait_processed(event_ids)
    assert {event_id: len(s) for event_id, s in site.inbox(event_ids).items()} == {
        event_id: 1 for event_id in event_ids
    }
    assert site.inbox_count() == inbox_before + 10
    for post, (title, text) in zip(created, OUTAGE_POSTS, strict=True):
        ordinals = [ordinal for ordinal, _ in site.chunks(post["id"])]
        assert ordinals and len(ordinals) == len(set(ordinals)), (title, ordinals)
        assert post["link"] in [hit["url"] for hit in site.search(text, k=5)], title


# ---- 3. outbox off: the nightly reconcile finds every change and reports the drift ------


def launch_nightly_reconcile(site: E2ESite) -> str:
    """Evaluate the schedule in the code server (dry run) and launch its request for `e2e`."""
    run_id, _ = launch_scheduled_reconcile(site.dagster, SITE)
    return run_id


def finished_run(run_id: str, output: str) -> Any:
    import dagster as dg

    def finished() -> Any:
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_by_id(run_id)
        return run if run is not None and run.is_finished else None

    return wait_until(finished, RUN_DEADLINE, f"reconcile run {run_id}", output)


def run_events(run_id: str, event_type: str) -> list[Any]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            run_id, of_type=getattr(dg.DagsterEventType, event_type)
        )
    return [record.event_log_entry for record in records.records]


def test_outbox_off_changes_are_found_by_the_nightly_reconcile(
    site: E2ESite, content: Content
) -> None:
    site.configure_plugin(outbox_enabled=False)
    try:
        reconcile_finds_every_change(site, content.notes)
    finally:
        site.configure_plugin(outbox_enabled=True)


def reconcile_finds_every_change(site: E2ESite, notes: list[dict]) -> None:
    outbox_before, inbox_before = site.outbox(), site.inbox_count()
    added = site.create_post(
        "Ringing the church bells",
        "<p>Bell ringers pull the sallies in rounds before changing to Plain Bob.</p>",
    )
    edited = notes[5]
    assert site.wordpress.rest(
        "POST",
        f"/wp/v2/posts/{edited['id']}",
        json={
            "content": "<p>Field note: the heron now nests on the chimney of the old "
            "brick kiln every spring.</p>"
        },
    ).is_success
    deleted = notes[6]
    assert site.wordpress.rest(
        "DELETE", f"/wp/v2/posts/{deleted['id']}", params={"force": "true"}
    ).is_success
    site.run_outbox_cron()
    changes = 3
    assert site.outbox() == outbox_before, "the outbox is off: nothing may be recorded"
    time.sleep(3)  # more than a sensor interval: nothing arrived, nothing runs
    assert site.inbox_count() == inbox_before
    # Nothing reached the index: the new post is unknown, the edit and deletion not applied.
    assert site.chunks(added["id"]) == []
    assert not any("chimney" in text for _, text in site.chunks(edited["id"]))
    assert site.chunks(deleted["id"]) != []

    run = finished_run(launch_nightly_reconcile(site), site.dagster.output(3000))
    assert run.status.value == "SUCCESS", site.dagster.output(3000)
    drift = {}
    for entry in run_events(run.run_id, "ASSET_MATERIALIZATION"):
        mat = entry.asset_materialization
        drift[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    docs = drift["wp_documents"]
    assert (docs["added"], docs["updated"], docs["removed"]) == (1, 1, 1), docs
    assert docs["drift"] == changes and drift["wp_media"]["drift"] == 0, drift
    checks = {
        e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
        for e in run_events(run.run_id, "ASSET_CHECK_EVALUATION")
    }
    check = checks["reconcile_drift"]
    assert not check.passed and check.severity.value == "WARN", check
    assert check.metadata["drift"].value == changes

    assert added["link"] in site.cited_urls("How do bell ringers start before Plain Bob?")
    assert edited["link"] in site.cited_urls("Where does the heron nest every spring?")
    assert site.chunks(deleted["id"]) == []


# ---- 4. the chat box in a real browser against the real backend --------------------------


def test_chat_in_a_browser_cites_the_right_post_and_runs_no_markup(
    site: E2ESite, content: Content
) -> None:
    node = shutil.which("node")
    assert node, "node is required for the browser scenario"
    sundial = content.sundial
    delivered = [r["event_id"] for r in site.outbox() if r["status"] == "delivered"]
    site.wait_processed(delivered, timeout=3 * RUN_DEADLINE)  # when run on its own
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    done = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "--no-warnings",
            str(DRIVER),
            content.chat_page["link"],
            "What is the gnomon of the quartz sundial made of?",
            "What motto did the engravers carve into the sundial dial plate?",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "CHROMIUM": "/usr/bin/chromium",
            "HOME": "/tmp",
            "SCREENSHOT": str(SCREENSHOT),
            "VIEWPORT": "desktop",
            "ANSWER_TIMEOUT_MS": "60000",  # the real backend embeds each question first
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    cited, markup = result["answers"]

    assert not cited["error"], cited
    assert "brass" in cited["text"]
    links = [link["href"] for link in cited["links"]]
    assert sundial["link"] in links, cited
    assert httpx.get(sundial["link"], timeout=30).status_code == 200

    assert not markup["error"], markup
    assert "onerror" in markup["text"], "the answer carries the markup, as text"
    assert markup["images"] == 0 and result["page"]["images"] == 0
    assert result["page"]["pwned"] is False
    assert result["consoleErrors"] == []
    assert SCREENSHOT.stat().st_size > 1000
