<?php

/**
 * Activation, deactivation and per-site set-up (multisite aware).
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Creates tables and schedules the outbox worker for each site.
 */
final class PressRAG_Installer
{
    public const DB_VERSION_OPTION = 'pressrag_db_version';
    public const DB_VERSION = '1';

    /**
     * Hooks that keep sites set up after activation.
     */
    public static function register(): void
    {
        add_action('wp_initialize_site', array(self::class, 'on_new_site'), 20);
        add_filter('wpmu_drop_tables', array(self::class, 'drop_with_site'), 10, 2);
        add_action('init', array(self::class, 'maybe_upgrade'));
    }

    /**
     * Activation hook.
     *
     * @param bool $network_wide Whether activated for the whole network.
     */
    public static function activate($network_wide = false): void
    {
        self::for_each_site(
            (bool) $network_wide,
            static function (): void {
                self::install_site();
                PressRAG_Notices::request_setup_notice();
            }
        );
    }

    /**
     * Deactivation hook: stop the worker (data stays until uninstall).
     *
     * @param bool $network_wide Whether deactivated for the whole network.
     */
    public static function deactivate($network_wide = false): void
    {
        self::for_each_site(
            (bool) $network_wide,
            static function (): void {
                wp_clear_scheduled_hook(PressRAG_Outbox::CRON_HOOK);
            }
        );
    }

    /**
     * Create the table, default options and the cron event for the current site.
     */
    public static function install_site(): void
    {
        PressRAG_Outbox::create_table();
        add_option(PressRAG_Settings::OPTION, PressRAG_Settings::defaults());
        update_option(self::DB_VERSION_OPTION, self::DB_VERSION, false);
        self::schedule();
    }

    /**
     * Schedule the every-minute delivery event if it is missing.
     */
    public static function schedule(): void
    {
        if (! wp_next_scheduled(PressRAG_Outbox::CRON_HOOK)) {
            wp_schedule_event(time() + 30, PressRAG_Outbox::CRON_SCHEDULE, PressRAG_Outbox::CRON_HOOK);
        }
    }

    /**
     * Set up sites that never ran the activation hook (network activation before the site
     * existed, or a plugin update that changed the schema).
     */
    public static function maybe_upgrade(): void
    {
        if (get_option(self::DB_VERSION_OPTION) !== self::DB_VERSION) {
            self::install_site();
            return;
        }
        // Self-heal a lost cron event (the cron option is autoloaded: this costs no query).
        self::schedule();
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
        $tables[] = $wpdb->get_blog_prefix((int) $site_id) . 'pressrag_outbox';
        return $tables;
    }

    /**
     * Run a callback for the current site, or for every site when network-wide.
     *
     * @param bool     $network_wide Network-wide.
     * @param callable $callback     Callback run in each site's context.
     */
    public static function for_each_site(bool $network_wide, callable $callback): void
    {
        if (! is_multisite() || ! $network_wide) {
            $callback();
            return;
        }
        foreach (get_sites(array('fields' => 'ids', 'number' => 0)) as $blog_id) {
            switch_to_blog((int) $blog_id);
            $callback();
            restore_current_blog();
        }
    }
}
