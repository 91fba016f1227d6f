"""Activation creates the outbox table and cron event and asks for the set-up notice;
deactivation stops the worker; uninstall removes every trace (real WordPress, real plugin API
calls)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.wordpress import WordPress

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
# The harness links the folder under its own name, so the plugin basename is this.
PLUGIN = "wp-plugin/pressrag.php"
ADMIN_API = "require_once ABSPATH . 'wp-admin/includes/plugin.php';"

STATE_PHP = """
$table = $wpdb->prefix . 'pressrag_outbox';
$like = $wpdb->esc_like('pressrag');
echo wp_json_encode(array(
    'table'      => (bool) $wpdb->get_var($wpdb->prepare('SHOW TABLES LIKE %s', $table)),
    'cron'       => (bool) wp_next_scheduled('pressrag_deliver_outbox'),
    'schedule'   => wp_get_schedule('pressrag_deliver_outbox'),
    'settings'   => get_option('pressrag_settings', null),
    'setup'      => (bool) get_option('pressrag_setup_notice'),
    'health'     => get_option('pressrag_backend_health', null),
    'transients' => (int) $wpdb->get_var($wpdb->prepare(
        "SELECT COUNT(*) FROM {$wpdb->options} WHERE option_name LIKE %s", '%' . $like . '%'
    )),
    'writeback_tables' => count(array_filter(array_map(
        fn($t) => $wpdb->get_var($wpdb->prepare('SHOW TABLES LIKE %s', $wpdb->prefix . $t)),
        array('pressrag_callback_ids', 'pressrag_drafts')
    ))),
    'writeback_meta' => (int) $wpdb->get_var($wpdb->prepare(
        "SELECT COUNT(*) FROM {$wpdb->postmeta} WHERE meta_key LIKE %s",
        $wpdb->esc_like('_pressrag_') . '%'
    )),
));
"""


def state(wordpress: WordPress) -> dict[str, Any]:
    return dict(json.loads(wordpress.php(STATE_PHP)))


def test_activate_deactivate_uninstall(tmp_path: Path) -> None:
    with WordPress(tmp_path / "wp") as wordpress:
        wordpress.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
        active = state(wordpress)
        assert active["table"] and active["cron"]
        assert active["schedule"] == "pressrag_every_minute"
        assert active["settings"]["outbox_enabled"] is True
        assert active["settings"]["post_types"] == ["post", "page", "attachment"]
        assert active["setup"], "activation asks for the set-up notice"
        assert active["writeback_tables"] == 2
        wordpress.php(
            "$p = wp_insert_post(array('post_title' => 'S', 'post_status' => 'publish'));"
            "update_post_meta($p, '_pressrag_summary', 'A summary.');"
            "update_post_meta($p, '_pressrag_summary_info', array('content_hash' => 'ab12cd'));"
        )
        assert state(wordpress)["writeback_meta"] == 2

        # A token request leaves a rate-limit transient; uninstall must remove it too.
        wordpress.php(
            "$_SERVER['REMOTE_ADDR'] = '192.0.2.1';"
            "rest_do_request(new WP_REST_Request('GET', '/pressrag/v1/token'));"
        )
        assert state(wordpress)["transients"] > 2
        wordpress.php("PressRAG_Health::record(false, 'transport: refused');")
        assert state(wordpress)["health"]["ok"] is False

        wordpress.php(f"{ADMIN_API} deactivate_plugins('{PLUGIN}');")
        inactive = state(wordpress)
        assert not inactive["cron"], "deactivation unschedules the worker"
        assert inactive["table"], "deactivation keeps queued events"

        wordpress.php(f"{ADMIN_API} uninstall_plugin('{PLUGIN}');")
        gone = state(wordpress)
        assert not gone["table"]
        assert gone["settings"] is None
        assert not gone["setup"] and gone["health"] is None
        assert gone["transients"] == 0
        assert gone["writeback_tables"] == 0 and gone["writeback_meta"] == 0
        assert not gone["cron"]
