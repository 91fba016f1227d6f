<?php

/**
 * Tables of the write-back: callback ids seen (replay protection) and draft requests.
 *
 * Kept apart from PressRAG_Installer's outbox table, with its own schema version, so either can
 * change without the other; set up on activation, on `init` after an update, and for new sites
 * of a network where the plugin is network-active.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Creates, upgrades and drops the write-back tables.
 */
final class PressRAG_Writeback_Schema
{
    public const VERSION_OPTION = 'pressrag_writeback_db_version';
    public const VERSION = '1';

    /**
     * Hooks that keep every site's tables in place.
     */
    public static function register(): void
    {
        add_action('init', array(self::class, 'maybe_upgrade'));
        add_action('wp_initialize_site', array(self::class, 'on_new_site'), 20);
        add_filter('wpmu_drop_tables', array(self::class, 'drop_with_site'), 10, 2);
    }

    /**
     * Activation hook (registered next to PressRAG_Installer's).
     *
     * @param bool $network_wide Whether activated for the whole network.
     */
    public static function activate($network_wide = false): void
    {
        PressRAG_Installer::for_each_site((bool) $network_wide, array(self::class, 'install_site'));
    }

    /**
     * Create or upgrade this site's tables.
     */
    public static function install_site(): void
    {
        global $wpdb;
        require_once ABSPATH . 'wp-admin/includes/upgrade.php';
        $charset = $wpdb->get_charset_collate();
        // dbDelta wants two spaces after PRIMARY KEY and one column per line.
        dbDelta(
            'CREATE TABLE ' . self::callback_ids_table() . " (
  id varchar(100) NOT NULL,
  received_at datetime NOT NULL,
  PRIMARY KEY  (id),
  KEY received_at (received_at)
) {$charset};"
        );
        dbDelta(
            'CREATE TABLE ' . self::drafts_table() . " (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  request_id varchar(64) NOT NULL,
  user_id bigint(20) unsigned NOT NULL,
  topic text NOT NULL,
  outline text NOT NULL,
  words int(10) unsigned NOT NULL,
  status varchar(16) NOT NULL,
  message text NULL,
  post_id bigint(20) unsigned NULL,
  created_at datetime NOT NULL,
  updated_at datetime NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY request_id (request_id),
  KEY user_created (user_id,created_at)
) {$charset};"
        );
        update_option(self::VERSION_OPTION, self::VERSION, false);
    }

    /**
     * Install after a plugin update that changed the schema (the option is autoloaded).
     */
    public static function maybe_upgrade(): void
    {
        if (get_option(self::VERSION_OPTION) !== self::VERSION) {
            self::install_site();
        }
    }

    /**
     * A site was created in a network where the plugin is network-active.
     *
     * @param WP_Site $site New site.
     */
    public static function on_new_site($site): void
    {
        if (! function_exists('is_plugin_active_for_network')) {
            require_once ABSPATH . 'wp-admin/includes/plugin.php';
        }
        if (! is_plugin_active_for_network(plugin_basename(PRESSRAG_PLUGIN_FILE))) {
            return;
        }
        switch_to_blog((int) $site->blog_id);
        self::install_site();
        restore_current_blog();
    }

    /**
     * When a network site is deleted, WordPress drops the tables this filter lists: add ours.
     *
     * @param string[] $tables  Tables to drop.
     * @param int      $site_id Site being deleted.
     * @return string[]
     */
    public static function drop_with_site($tables, $site_id): array
    {
        global $wpdb;
        $tables = is_array($tables) ? $tables : array();
        $prefix = $wpdb->get_blog_prefix((int) $site_id);
        $tables[] = $prefix . 'pressrag_callback_ids';
        $tables[] = $prefix . 'pressrag_drafts';
        return $tables;
    }

    /**
     * Drop this site's tables and version (uninstall).
     */
    public static function drop_tables(): void
    {
        global $wpdb;
        $wpdb->query('DROP TABLE IF EXISTS ' . self::callback_ids_table());
        $wpdb->query('DROP TABLE IF EXISTS ' . self::drafts_table());
        delete_option(self::VERSION_OPTION);
    }

    /**
     * Callback message ids already accepted (kept for twice the timestamp window).
     */
    public static function callback_ids_table(): string
    {
        global $wpdb;
        return $wpdb->prefix . 'pressrag_callback_ids';
    }

    /**
     * "Draft with PressRAG" requests and their progress.
     */
    public static function drafts_table(): string
    {
        global $wpdb;
        return $wpdb->prefix . 'pressrag_drafts';
    }
}
