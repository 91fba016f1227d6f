<?php

/**
 * Uninstall: remove options, transients, cron events, the plugin's tables and its post meta
 * (summaries, draft bookkeeping) on every site. Drafts PressRAG wrote are the users' posts and
 * stay.
 *
 * @package PressRAG
 */

if (! defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

/**
 * Remove everything PressRAG stored for the current site.
 */
function pressrag_uninstall_site(): void
{
    global $wpdb;
    delete_option('pressrag_settings');
    delete_option('pressrag_db_version');
    delete_option('pressrag_setup_notice');
    delete_option('pressrag_backend_health');
    delete_option('pressrag_golden_revision');
    wp_clear_scheduled_hook('pressrag_deliver_outbox');
    $wpdb->query('DROP TABLE IF EXISTS ' . $wpdb->prefix . 'pressrag_outbox');
    delete_option('pressrag_writeback');
    delete_option('pressrag_writeback_db_version');
    $wpdb->query('DROP TABLE IF EXISTS ' . $wpdb->prefix . 'pressrag_callback_ids');
    $wpdb->query('DROP TABLE IF EXISTS ' . $wpdb->prefix . 'pressrag_drafts');
    $meta_keys = array('_pressrag_summary', '_pressrag_summary_info', '_pressrag_summary_regenerate_requested');
    foreach (array_merge($meta_keys, array('_pressrag_draft_request', '_pressrag_draft_kind', '_pressrag_draft_sources')) as $key) {
        delete_post_meta_by_key($key);
    }
    // Rate-limit counters are short-lived transients; remove any left behind.
    $wpdb->query(
        $wpdb->prepare(
            "DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
            $wpdb->esc_like('_transient_pressrag_') . '%',
            $wpdb->esc_like('_transient_timeout_pressrag_') . '%'
        )
    );
}

if (is_multisite()) {
    foreach (get_sites(array('fields' => 'ids', 'number' => 0)) as $pressrag_blog_id) {
        switch_to_blog((int) $pressrag_blog_id);
        pressrag_uninstall_site();
        restore_current_blog();
    }
} else {
    pressrag_uninstall_site();
}
