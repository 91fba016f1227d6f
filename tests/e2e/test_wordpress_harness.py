"""The WordPress harness brings up a real, usable WordPress and leaves nothing behind."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.wordpress import (
    ETC_WORDPRESS,
    SCRIPTS_DIR,
    WordPress,
    WordPressError,
    port_is_listening,
)

pytestmark = pytest.mark.e2e

WXR_NS = {
    "wp": "http://wordpress.org/export/1.2/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (finds leftover php workers / mariadbd)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def configs_mentioning(text: str) -> list[Path]:
    """Harness config files in /etc/wordpress that refer to ``text`` (a work folder)."""
    found = []
    for config in ETC_WORDPRESS.glob("config-pressrag-*.php"):
        try:
            if text in config.read_text():
                found.append(config)
        except OSError:  # another instance removed its file meanwhile
            continue
    return found


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """One WordPress for the tests that only use it (each start costs seconds of CPU)."""
    with WordPress(tmp_path_factory.mktemp("wp")) as wp:
        yield wp


def test_post_created_over_rest_is_served_and_exported(wordpress: WordPress) -> None:
    marker = f"harness-marker-{uuid.uuid4().hex}"
    created = wordpress.rest(
        "POST",
        "/wp/v2/posts",
        json={"title": "Harness round trip", "content": f"<p>{marker}</p>", "status": "publish"},
    )
    assert created.status_code == 201, created.text
    post = created.json()

    fetched = wordpress.rest("GET", f"/wp/v2/posts/{post['id']}")
    assert fetched.status_code == 200
    assert marker in fetched.json()["content"]["rendered"]

    # The pretty permalink goes through the router to WordPress's front controller.
    page = httpx.get(post["link"], timeout=30)
    assert page.status_code == 200
    assert marker in page.text

    items = ET.fromstring(wordpress.export_wxr()).findall("./channel/item")
    exported = {item.findtext("wp:post_id", namespaces=WXR_NS): item for item in items}
    item = exported[str(post["id"])]
    assert item.findtext("wp:status", namespaces=WXR_NS) == "publish"
    assert marker in (item.findtext("content:encoded", namespaces=WXR_NS) or "")


def test_unauthenticated_rest_cannot_read_drafts(wordpress: WordPress) -> None:
    draft = wordpress.rest(
        "POST", "/wp/v2/posts", json={"title": "Secret draft", "status": "draft"}
    ).json()
    anonymous = httpx.get(f"{wordpress.base_url}/wp-json/wp/v2/posts/{draft['id']}", timeout=30)
    assert anonymous.status_code == 401
    assert wordpress.rest("GET", f"/wp/v2/posts/{draft['id']}").status_code == 200


def test_stop_leaves_nothing_behind_and_a_warm_start_keeps_content(tmp_path: Path) -> None:
    workdir = tmp_path / "wp"
    first = WordPress(workdir).start()
    port = first.port
    config = ETC_WORDPRESS / f"config-{first._config_name}.php"
    assert port_is_listening(port)
    assert config.exists()
    assert processes_mentioning(str(workdir))
    post_id = first.rest(
        "POST", "/wp/v2/posts", json={"title": "Survives restart", "status": "publish"}
    ).json()["id"]
    app_password = first.app_password

    first.stop()

    assert not port_is_listening(port)
    assert not config.exists()
    assert processes_mentioning(str(workdir)) == []
    assert processes_mentioning(f"127.0.0.1:{port}") == []

    with WordPress(workdir) as second:
        assert second.app_password == app_password
        fetched = second.rest("GET", f"/wp/v2/posts/{post_id}")
        assert fetched.status_code == 200
        # URLs follow the new port: WP_HOME is pinned per start, not read from the database.
        assert fetched.json()["link"].startswith(second.base_url)


def test_activated_plugin_runs_inside_wordpress(wordpress: WordPress, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "harness-probe"
    plugin_dir.mkdir()
    (plugin_dir / "harness-probe.php").write_text(
        "<?php\n/**\n * Plugin Name: Harness probe\n */\n"
        "register_activation_hook(__FILE__, function () {"
        " update_option('harness_probe_activated', 'yes'); });\n"
        "add_action('rest_api_init', function () {\n"
        "  register_rest_route('probe/v1', '/ping', array('methods' => 'GET',"
        " 'permission_callback' => '__return_true',"
        " 'callback' => function () { return array('pong' => true); }));\n"
        "});\n"
    )
    wordpress.activate_plugin(plugin_dir, "harness-probe.php")

    assert wordpress.php("echo get_option('harness_probe_activated');") == "yes"
    assert wordpress.rest("GET", "/probe/v1/ping").json() == {"pong": True}


def test_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    workdir = tmp_path / "wp"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(WordPressError, match=f"port {taken} is already in use"):
            WordPress(workdir, port=taken).start()

    assert processes_mentioning(str(workdir)) == []
    assert configs_mentioning(str(workdir)) == []


def test_failed_start_stops_what_it_started_and_shows_the_log(tmp_path: Path) -> None:
    workdir = tmp_path / "wp"
    # No MariaDB answers within a millisecond: start() fails after spawning it.
    with pytest.raises(WordPressError, match=r"MariaDB not ready .*log tail"):
        WordPress(workdir, timeout=0.001).start()

    assert processes_mentioning(str(workdir)) == []
    assert configs_mentioning(str(workdir)) == []


def test_admin_dashboard_works_after_form_login(wordpress: WordPress) -> None:
    """wp-admin needs its files required at global scope: a router bug shows up as a 500."""
    with httpx.Client(base_url=wordpress.base_url, timeout=30) as browser:
        browser.get("/wp-login.php")  # sets the test cookie
        login = browser.post(
            "/wp-login.php",
            data={"log": wordpress.admin_user, "pwd": wordpress.admin_password, "testcookie": "1"},
        )
        assert login.status_code == 302
        dashboard = browser.get("/wp-admin/")
    assert dashboard.status_code == 200
    assert 'id="wpadminbar"' in dashboard.text


def test_start_clears_what_a_killed_run_left_behind(tmp_path: Path) -> None:
    workdir = tmp_path / "wp"
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.support.wordpress", "up", "--workdir", str(workdir)],
        cwd=SCRIPTS_DIR.parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        ready = owner.stdout.readline() + owner.stdout.readline()
        old_port = int(ready.split("http://127.0.0.1:")[1].split("/")[0])
    finally:
        owner.send_signal(signal.SIGKILL)  # no stop(): its MariaDB and php -S survive
        owner.wait()
    assert port_is_listening(old_port)

    with WordPress(workdir) as wp:
        assert wp.rest("GET", "/wp/v2/posts").status_code == 200
        assert not port_is_listening(old_port)
        assert len(configs_mentioning(str(workdir))) == 1
    assert processes_mentioning(str(workdir)) == []
