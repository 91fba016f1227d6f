"""Issue 14's end-to-end acceptance: write-back on the real stack.

Debian's WordPress with the plugin sends its webhooks to the serving process; `dagster dev`
(webserver + daemon) indexes the site, the write-back automation summarises it and delivers the
summaries through the plugin's signed callback route; headless Chromium reads them in the block
editor's panel and asks for a draft from Posts → Draft with PressRAG. Nothing is faked but the
clock of a stale message. The tests run in file order and share one site.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pressrag.resources.writeback.callbacks import callback_url, encode
from pressrag.resources.writeback.signing import callback_headers
from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import DagsterDev, ServingProcess, serving_fixture_env
from tests.support.e2e_site import E2ESite, missing_programs, wait_until
from tests.support.wordpress import WordPress

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = REPO_ROOT / "wp-plugin" / "tests" / "browser" / "writeback.mjs"
SITE = "wb-e2e"
# An index run, then the automation's tick and a write-back run, on 2 busy cores.
SUMMARY_DEADLINE = 420.0
RUN_DEADLINE = 240.0


def bees(topic: str, detail: str) -> str:
    sentences = [
        f"Beekeepers plan {topic} carefully because the whole colony depends on it.",
        f"The most important thing to know is that {detail}.",
        "An experienced keeper checks every frame slowly and calmly, without crushing bees.",
        f"Most mistakes with {topic} come from hurrying or from opening the hive in cold wind.",
        "A smoker, a hive tool and a veil are all the equipment the job really needs.",
        f"Write down what you saw during {topic}, so that the next inspection can compare.",
        "Healthy colonies forgive small errors, but weak ones rarely recover from them.",
        f"In short, {topic} rewards patience far more than strength or expensive tools.",
        "Local associations run courses where beginners can practise with a mentor nearby.",
        f"Keep records of {topic} for every hive, because colonies differ more than people think.",
    ]
    return "".join(f"<p>{s}</p>" for s in sentences)


@dataclass
class Users:
    editor: int
    editor_login: str
    editor_password: str
    subscriber_login: str
    subscriber_app_password: str


@dataclass
class Content:
    spring: int
    harvest: int
    private: int


@pytest.fixture(scope="module")
def site(pressrag_env: PressragEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ESite]:
    missing = missing_programs()
    if missing:
        pytest.fail(f"the write-back scenarios need {', '.join(missing)}; see `make system-deps`")
    serving = ServingProcess(env=serving_fixture_env()).start()
    dagster = DagsterDev(env={"PRESSRAG_SENSOR_INTERVAL_SECONDS": "2"})
    try:
        with WordPress(tmp_path_factory.mktemp("wb-e2e") / "wp") as wordpress:
            stack = E2ESite(SITE, wordpress, serving, dagster, os.environ["PRESSRAG_APP_DB_URL"])
            try:
                set_up(stack)
                serving.wait_ready(timeout=180)
                yield stack
            finally:
                stack.query("DELETE FROM sites WHERE id = %s RETURNING id", SITE)
    finally:
        dagster.stop()
        serving.stop()


def set_up(stack: E2ESite) -> None:
    """The plugin active and configured for `wb-e2e` on an empty site, excerpts opted in."""
    from pressrag.orchestration.sites import add_site

    wordpress = stack.wordpress
    wordpress.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
    stack.configure_plugin(outbox_enabled=False)
    wordpress.php(
        "foreach (get_posts(array('post_type' => array('post', 'page'), 'post_status' => "
        "'any', 'numberposts' => -1)) as $p) { wp_delete_post($p->ID, true); }"
        "update_option('pressrag_writeback', array('fill_excerpts' => true));"
    )
    add_site(SITE, url=wordpress.base_url, origins=[wordpress.base_url])
    secrets = site_info(SITE)
    stack.configure_plugin(
        backend_url=stack.serving.url,
        site_id=SITE,
        webhook_secret=secrets.webhook_secret,
        token_secret=secrets.token_secret,
        post_types=["post", "page"],
        outbox_enabled=True,
    )


@pytest.fixture(scope="module")
def users(site: E2ESite) -> Users:
    made = json.loads(
        site.wordpress.php(
            "$pass = wp_generate_password(16, false);"
            "$editor = wp_insert_user(array('user_login' => 'wbeditor', 'user_pass' => $pass,"
            " 'role' => 'editor'));"
            "$sub = wp_insert_user(array('user_login' => 'wbsubscriber',"
            " 'user_pass' => wp_generate_password(), 'role' => 'subscriber'));"
            "$app = WP_Application_Passwords::create_new_application_password($sub,"
            " array('name' => 'e2e'));"
            "echo wp_json_encode(array('editor' => $editor, 'pass' => $pass, 'app' => $app[0]));"
        )
    )
    return Users(made["editor"], "wbeditor", made["pass"], "wbsubscriber", made["app"])


@pytest.fixture(scope="module")
def content(site: E2ESite) -> Content:
    """Two published posts (one with a hand-written excerpt) and a private one, sent to the
    backend before Dagster starts, so one index run takes them all; then Dagster starts."""
    spring = site.create_post("Spring inspections", bees("spring inspections", "queens lay early"))
    harvest = site.create_post(
        "Harvesting honey",
        bees("the honey harvest", "frames must be capped before they come off"),
        excerpt="Written by hand.",
    )
    private = site.create_post(
        "Private queen rearing",
        bees("queen rearing", "grafting larvae needs a steady hand"),
        status="private",
    )
    wait_until(
        lambda: all(row["status"] == "delivered" for row in site.outbox()) and site.outbox(),
        60,
        "webhooks delivered",
    )
    site.dagster.start().wait_ready()
    return Content(spring["id"], harvest["id"], private["id"])


def meta(site: E2ESite, post_id: int) -> dict[str, Any]:
    return json.loads(
        site.wordpress.php(
            f"$p = get_post({post_id});"
            "echo wp_json_encode(array("
            f"'summary' => get_post_meta({post_id}, '_pressrag_summary', true),"
            f"'info' => get_post_meta({post_id}, '_pressrag_summary_info', true),"
            "'excerpt' => $p ? $p->post_excerpt : null));"
        )
    )


def browser(site: E2ESite, user: str, password: str, mode: str, **config: Any) -> dict:
    node = shutil.which("node")
    assert node, "node is required for the browser scenarios"
    base = site.wordpress.base_url
    config = {
        "mode": mode,
        "loginUrl": f"{base}/wp-login.php",
        "user": user,
        "password": password,
        "timeoutMs": int(RUN_DEADLINE * 1000),
        **config,
    }
    done = subprocess.run(
        [node, "--experimental-websocket", "--no-warnings", str(DRIVER), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE + 120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + "\n" + site.dagster.output(3000)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.pop("consoleErrors") == [], result
    return result


# ---- summaries ------------------------------------------------------------------------------


def test_published_posts_get_summaries_and_a_private_post_none(
    site: E2ESite, content: Content
) -> None:
    def delivered() -> bool:
        return all(meta(site, p)["summary"] for p in (content.spring, content.harvest))

    wait_until(delivered, SUMMARY_DEADLINE, "summaries in post meta", site.dagster.output(4000))
    spring, harvest = meta(site, content.spring), meta(site, content.harvest)
    for stored in (spring, harvest):
        assert stored["info"]["generator"] == "extractive"
        assert stored["info"]["model"] == "local:sentence-transformers/all-MiniLM-L6-v2"
        assert 10 <= len(stored["summary"].split()) <= 90
    assert "queens lay early" in spring["summary"] or "Beekeepers plan" in spring["summary"]
    assert spring["excerpt"] == spring["summary"], "an empty excerpt is filled (opted in)"
    assert harvest["excerpt"] == "Written by hand.", "a written excerpt is kept"
    assert meta(site, content.private)["summary"] == ""
    # PressRAG never even read it, so there is nothing it could write.
    assert site.query(
        "SELECT count(*) FROM summaries s JOIN documents d ON d.id = s.document_id "
        "WHERE d.site_id = %s AND d.wp_id = %s",
        SITE,
        content.private,
    ) == [(0,)]


def test_the_editor_panel_shows_the_summary_and_regenerates_it(
    site: E2ESite, content: Content
) -> None:
    before = meta(site, content.spring)
    shown = browser(
        site,
        site.wordpress.admin_user,
        site.wordpress.admin_password,
        "panel",
        panel={
            "editUrl": f"{site.wordpress.base_url}/wp-admin/post.php?post={content.spring}"
            "&action=edit"
        },
    )
    assert shown["summary"] == before["summary"]
    assert any("extractive" in line for line in shown["meta"]), shown
    assert any("excerpt" in line for line in shown["meta"]), shown
    assert "requested" in shown["requested"]
    regenerate = [r for r in site.outbox() if r["type"] == "summary.regenerate_requested"]
    assert [json.loads(r["payload"])["wp_id"] for r in regenerate] == [content.spring]

    def regenerated() -> bool:
        return meta(site, content.spring)["info"]["generated_at"] != before["info"]["generated_at"]

    wait_until(regenerated, RUN_DEADLINE, "a regenerated summary", site.dagster.output(4000))


# ---- the callback route refuses forgeries ---------------------------------------------------


def test_forged_and_replayed_callbacks_are_refused_and_write_nothing(
    site: E2ESite, content: Content
) -> None:
    stored = meta(site, content.harvest)
    secret = site_info(SITE).webhook_secret
    url = callback_url(site.wordpress.base_url)
    # A faithful copy of what WordPress already has: accepted once ("unchanged"), then replayed.
    item = {**stored["info"], "wp_id": content.harvest, "summary": stored["summary"]}
    same = encode({"type": "summaries.deliver", "site": SITE, "items": [item]})
    headers = callback_headers([secret], SITE, same)
    first = httpx.post(url, content=same, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["results"] == [{"wp_id": content.harvest, "status": "unchanged"}]
    replay = httpx.post(url, content=same, headers=headers, timeout=30)
    assert (replay.status_code, replay.json()["code"]) == (401, "pressrag_replayed")

    newer = {**item, "summary": "FORGED summary", "generated_at": "2099-01-01T00:00:00+00:00"}
    forged_body = encode({"type": "summaries.deliver", "site": SITE, "items": [newer]})
    for name, forged_headers in {
        "signed with another secret": callback_headers(
            ["whsec_" + "QUFB" * 10 + "QUFBQQ=="], SITE, forged_body
        ),
        "signature of another body": {**callback_headers([secret], SITE, same)},
        "stale": callback_headers([secret], SITE, forged_body, timestamp=int(time.time()) - 900),
    }.items():
        answer = httpx.post(url, content=forged_body, headers=forged_headers, timeout=30)
        assert answer.status_code == 401, (name, answer.text)
    assert meta(site, content.harvest) == stored


# ---- drafts ---------------------------------------------------------------------------------


def test_a_draft_from_the_admin_screen_is_a_draft_by_its_requester_citing_posts(
    site: E2ESite, content: Content, users: Users
) -> None:
    shown = browser(
        site,
        users.editor_login,
        users.editor_password,
        "draft",
        draft={
            "pageUrl": f"{site.wordpress.base_url}/wp-admin/edit.php?page=pressrag-drafts",
            "topic": "Harvesting honey calmly",
            "outline": "When the frames are capped\nKeeping bees calm",
            "words": 300,
        },
    )
    assert shown["status"] == "done", shown
    assert "post.php?post=" in shown["href"]
    post_id = int(shown["href"].split("post=")[1].split("&")[0])
    post = json.loads(
        site.wordpress.php(
            f"$p = get_post({post_id});"
            "echo wp_json_encode(array('status' => $p->post_status, 'author' => (int) "
            "$p->post_author, 'title' => $p->post_title, 'content' => $p->post_content,"
            f"'harvest' => get_permalink({content.harvest}),"
            f"'spring' => get_permalink({content.spring}),"
            f"'private' => get_permalink({content.private})));"
        )
    )
    assert post["status"] == "draft"
    assert post["author"] == users.editor
    assert post["title"] == "Harvesting honey calmly"
    assert f'href="{post["harvest"]}"' in post["content"], post["content"][:2000]
    assert post["private"] not in post["content"]
    assert "Research brief by PressRAG" in post["content"]
    assert "When the frames are capped" in post["content"]


def test_a_user_without_edit_posts_cannot_start_a_draft(site: E2ESite, users: Users) -> None:
    before = len(site.outbox())
    answer = site.wordpress.rest(
        "POST",
        "/pressrag/v1/drafts",
        json={"topic": "Anything"},
        auth=(users.subscriber_login, users.subscriber_app_password),
    )
    assert answer.status_code == 403, answer.text
    signed_out = httpx.post(
        f"{site.wordpress.base_url}/?rest_route=/pressrag/v1/drafts",
        json={"topic": "Anything"},
        timeout=30,
    )
    assert signed_out.status_code == 401
    assert len(site.outbox()) == before
