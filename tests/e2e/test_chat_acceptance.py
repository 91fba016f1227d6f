"""Issue 12's chat and set-up acceptance on a real WordPress 6.1 and a real Chromium.

The `pressrag/chat` block sits in a post of a site indexed through Dagster with the real
model and answered by the real serving process. Driven keyboard-only (where a visitor would
use the keyboard) by `wp-plugin/tests/browser/acceptance.mjs`: the block renders without
moving the page and answers; the follow-up "and how long does it take?" is answered from the
same document; `[n]` links go to the right URLs; sources are unique; New conversation, a
starter question, the page without JavaScript and the floating launcher work; screenshots at
desktop width and at 390 px land in `test-output/`; and "Test connection" names a wrong
webhook secret.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import ADMIN_KEY, ServingProcess, serving_fixture_env
from tests.support.e2e_site import missing_programs
from tests.support.wordpress import WordPress, php_string

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = REPO_ROOT / "wp-plugin" / "tests" / "browser" / "acceptance.mjs"
OUTPUT = REPO_ROOT / "test-output"
SITE = "chat-acceptance"
WRONG_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="

SUNDIAL = (
    "Restoring the quartz sundial",
    "<h2>Cleaning the gnomon</h2><p>To restore the quartz sundial in the abbey garden, first "
    "lift the brass gnomon from its plinth and clean it with a soft cloth and a little lemon "
    "juice. Never use a wire brush on it: the bristles scratch the engraved hour lines. "
    "Re-level the dial plate with a spirit level before the gnomon goes back.</p>"
    "<h2>How long the restoration takes</h2><p>The whole restoration of the sundial takes "
    "about three weeks, because the lime mortar under the plinth must cure for a week "
    "between each of the three stages.</p>",
)
OTHER_POSTS = [
    (
        "Baking rye sourdough bread",
        "<p>Mix the rye flour, water and starter into a sticky dough and let it prove in a "
        "warm kitchen. The bake itself takes about fifty minutes in a hot oven, and the loaf "
        "must rest for a day before it is sliced.</p>",
    ),
    (
        "Pruning an old apple tree",
        "<p>Cut out dead, crossing and inward-growing branches in winter. Pruning a large old "
        "apple tree takes a whole afternoon with a sharp saw and loppers.</p>",
    ),
]
QUESTION = "How do I restore the quartz sundial?"
FOLLOW_UP = "and how long does it take?"
STARTERS = ["How long does the sourdough bake take?", QUESTION]


@dataclass
class Site:
    wordpress: WordPress
    serving: ServingProcess
    sundial: dict[str, Any]
    others: list[dict[str, Any]]
    chat_post: dict[str, Any]


def configure(wordpress: WordPress, **settings: Any) -> None:
    encoded = php_string(json.dumps(settings))
    wordpress.php(
        "$s = get_option('pressrag_settings', array());"
        f"update_option('pressrag_settings', array_merge($s, json_decode({encoded}, true)));"
    )


def create_post(wordpress: WordPress, title: str, content: str) -> dict[str, Any]:
    response = wordpress.rest(
        "POST", "/wp/v2/posts", json={"title": title, "content": content, "status": "publish"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def site(pressrag_env: PressragEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from pressrag.orchestration.run import index_site_now
    from pressrag.orchestration.sites import add_site

    missing = missing_programs()
    if missing:
        pytest.fail(f"the acceptance run needs {', '.join(missing)} (`make system-deps`)")
    serving = ServingProcess(env=serving_fixture_env()).start()  # loads while WordPress installs
    try:
        with WordPress(tmp_path_factory.mktemp("chat-acceptance") / "wp") as wordpress:
            wordpress.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
            wordpress.php(
                "foreach (get_posts(array('post_type' => array('post', 'page'), 'post_status' "
                "=> 'any', 'numberposts' => -1)) as $p) { wp_delete_post($p->ID, true); }"
            )
            add_site(SITE, url=wordpress.base_url, origins=[wordpress.base_url])
            secrets = site_info(SITE)
            configure(
                wordpress,
                backend_url=serving.url,
                site_id=SITE,
                webhook_secret=secrets.webhook_secret,
                token_secret=secrets.token_secret,
                admin_api_key=ADMIN_KEY,
                post_types=["post", "page"],
                outbox_enabled=False,  # indexed below in one run, not by webhooks
                starter_questions=STARTERS,
                launcher_enabled=True,
            )
            sundial = create_post(wordpress, *SUNDIAL)
            others = [create_post(wordpress, *post) for post in OTHER_POSTS]
            chat_post = create_post(
                wordpress, "Ask the garden", '<!-- wp:pressrag/chat {"title":"Ask the garden"} /-->'
            )
            assert index_site_now(SITE), "indexing the WordPress site failed"
            serving.wait_ready(timeout=180)
            configure(wordpress, webhook_secret=WRONG_SECRET)  # for Test connection, at the end
            yield Site(wordpress, serving, sundial, others, chat_post)
    finally:
        serving.stop()
        from pressrag.resources.store import Store

        with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
            c.execute("DELETE FROM sites WHERE id = %s", (SITE,))


def drive(site: Site) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required for the browser acceptance"
    OUTPUT.mkdir(exist_ok=True)
    shots = {name: OUTPUT / f"chat-block-{name}.png" for name in ("desktop", "phone")}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    wp = site.wordpress
    config = {
        "chatUrl": site.chat_post["link"],
        "homeUrl": f"{wp.base_url}/",
        "question": QUESTION,
        "followUp": FOLLOW_UP,
        "answerTimeoutMs": 60000,
        "screenshots": {name: str(path) for name, path in shots.items()},
        "admin": {
            "loginUrl": f"{wp.base_url}/wp-login.php",
            "settingsUrl": f"{wp.base_url}/wp-admin/options-general.php?page=pressrag",
            "user": wp.admin_user,
            "password": wp.admin_password,
        },
    }
    done = subprocess.run(
        [node, "--experimental-websocket", "--no-warnings", str(DRIVER), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM": "/usr/bin/chromium", "HOME": "/tmp"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = dict(json.loads(done.stdout))
    for name, shot in shots.items():
        assert shot.stat().st_size > 5000, f"{name} screenshot missing or blank"
    return result


def assert_sources_sound(answer: dict[str, Any]) -> None:
    """Unique sources; every [n] link goes to the URL of source n."""
    hrefs = [source["href"] for source in answer["sources"]]
    assert hrefs and len(hrefs) == len(set(hrefs)), answer["sources"]
    for cite in answer["cites"]:
        number = int(cite["text"].strip("[]"))
        assert cite["href"] == hrefs[number - 1], (cite, hrefs)
    assert answer["answer"].count("[1]") >= 1 and not answer["error"], answer


def test_chat_block_acceptance(site: Site) -> None:
    result = drive(site)
    assert result["consoleErrors"] == []
    chat, sundial_url = result["chat"], site.sundial["link"]

    assert chat["loadShift"] == 0, "the chat moved the page while it loaded"
    assert chat["tabsToInput"] <= 40

    first, follow_up = chat["first"], chat["followUp"]
    assert_sources_sound(first)
    assert first["sources"][0]["href"] == sundial_url
    assert "gnomon" in first["answer"]
    assert_sources_sound(follow_up)
    assert follow_up["sources"][0]["href"] == sundial_url, "answered from the same document"
    assert "three weeks" in follow_up["answer"]
    assert follow_up["focusOnInput"], "focus returns to the question"

    assert chat["citeFocus"]["className"] == "pressrag-chat__cite"
    assert chat["citeFocus"]["outline"], "a focused [n] link shows where the focus is"
    assert chat["phone"]["overflow"] <= 0, "the page scrolls sideways at 390 px"
    assert chat["phone"]["inputWidth"] >= 150 and chat["phone"]["fontSize"] >= 16
    assert chat["afterReset"] == {"answers": 0, "startersShown": True, "focusOnInput": True}

    starter = result["starter"]
    assert starter["starter"] == QUESTION
    assert_sources_sound(starter["answer"])
    assert starter["focusedHref"] == sundial_url
    assert starter["landedOn"] == sundial_url, "the [1] link opens the cited post"

    no_script = result["noScript"]
    assert "?s=" in no_script["url"], "without JavaScript the chat searches the site"
    assert SUNDIAL[0] in no_script["text"]

    assert result["floating"]["opened"] == {"open": True, "focusOnInput": True, "fixed": "fixed"}
    assert result["floating"]["closed"] == {"open": False, "focusOnButton": True}

    connection = {line["text"].split(":")[0]: line for line in result["connection"]}
    assert connection["Webhook secret"]["level"] == "notice-error", result["connection"]
    assert "does NOT work" in connection["Webhook secret"]["text"]
    assert connection["Token secret"]["level"] == "notice-success"
    assert connection["Admin API key"]["level"] == "notice-success"
