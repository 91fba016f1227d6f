<?php

/**
 * Notices that guide: set-up after activation, and trouble (dead events, an unreachable
 * backend) on the dashboard and in the block editor, where edits are made.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Admin and block-editor notices.
 */
final class PressRAG_Notices
{
    public const SETUP_OPTION = 'pressrag_setup_notice';
    public const EDITOR_HANDLE = 'pressrag-editor-notice';

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('admin_notices', array(self::class, 'render_admin_notices'));
        add_action('enqueue_block_editor_assets', array(self::class, 'enqueue_editor_notice'));
        add_action('admin_post_pressrag_dismiss_setup', array(self::class, 'handle_dismiss_setup'));
    }

    /**
     * Called on activation: the next admin screen offers the set-up.
     */
    public static function request_setup_notice(): void
    {
        update_option(self::SETUP_OPTION, 1, false);
    }

    /**
     * Whether the set-up notice is still due (requested, and the plugin not configured yet).
     */
    public static function setup_due(): bool
    {
        if (! get_option(self::SETUP_OPTION)) {
            return false;
        }
        if (PressRAG_Settings::webhooks_configured() && PressRAG_Settings::tokens_configured()) {
            delete_option(self::SETUP_OPTION);
            return false;
        }
        return true;
    }

    /**
     * What is wrong right now, as sentences for a notice (empty when all is well).
     *
     * @return string[]
     */
    public static function problems(): array
    {
        if (! PressRAG_Settings::webhooks_configured()) {
            return array();
        }
        $problems = array();
        if (PressRAG_Health::unreachable()) {
            $problems[] = __('PressRAG cannot reach its backend: changes to your content are queued and will not appear in the site’s answers until it is back.', 'pressrag');
        }
        $dead = PressRAG_Outbox::instance()->counts()['dead'];
        if ($dead > 0) {
            $problems[] = sprintf(
                /* translators: %d: number of content changes the backend refused or never received. */
                _n(
                    'PressRAG gave up sending %d content change: it will not appear in the site’s answers until it is sent again.',
                    'PressRAG gave up sending %d content changes: they will not appear in the site’s answers until they are sent again.',
                    $dead,
                    'pressrag'
                ),
                $dead
            );
        }
        return $problems;
    }

    /**
     * admin_notices: set-up after activation (until configured), trouble on the dashboard.
     */
    public static function render_admin_notices(): void
    {
        if (! current_user_can(PressRAG_Admin::CAPABILITY)) {
            return;
        }
        $screen = function_exists('get_current_screen') ? get_current_screen() : null;
        $on_settings = $screen && 'settings_page_' . PressRAG_Admin::PAGE === $screen->id;
        if (! $on_settings && self::setup_due()) {
            self::print_notice(
                'info',
                __('PressRAG is active. Connect it to your PressRAG backend so visitors can ask questions about this site.', 'pressrag'),
                array(
                    PressRAG_Admin::page_url()  => __('Set up PressRAG', 'pressrag'),
                    self::dismiss_setup_url() => __('Dismiss', 'pressrag'),
                )
            );
        }
        if ($screen && in_array($screen->id, array('dashboard', 'settings_page_' . PressRAG_Admin::PAGE), true)) {
            foreach (self::problems() as $problem) {
                self::print_notice('warning', $problem, array(PressRAG_Admin::page_url() . '#pressrag-outbox' => __('See PressRAG status', 'pressrag')));
            }
        }
    }

    /**
     * Block editor: the same trouble as a warning, for anyone editing content.
     */
    public static function enqueue_editor_notice(): void
    {
        $problems = self::problems();
        if (array() === $problems || ! current_user_can('edit_posts')) {
            return;
        }
        wp_register_script(self::EDITOR_HANDLE, plugins_url('assets/editor-notice.js', PRESSRAG_PLUGIN_FILE), array('wp-data', 'wp-notices', 'wp-dom-ready'), PRESSRAG_VERSION, true);
        $config = array(
            'notices' => $problems,
            'action'  => current_user_can(PressRAG_Admin::CAPABILITY)
                ? array(
                    'label' => __('See PressRAG status', 'pressrag'),
                    'url'   => esc_url_raw(PressRAG_Admin::page_url() . '#pressrag-outbox'),
                )
                : null,
        );
        wp_add_inline_script(self::EDITOR_HANDLE, 'window.pressragEditorNotices = ' . wp_json_encode($config) . ';', 'before');
        wp_enqueue_script(self::EDITOR_HANDLE);
    }

    /**
     * admin-post: hide the set-up notice.
     */
    public static function handle_dismiss_setup(): void
    {
        if (! current_user_can(PressRAG_Admin::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to manage PressRAG.', 'pressrag'), 403);
        }
        check_admin_referer('pressrag_dismiss_setup');
        delete_option(self::SETUP_OPTION);
        wp_safe_redirect(wp_get_referer() ?: admin_url());
        exit;
    }

    /**
     * Nonce'd link that dismisses the set-up notice.
     */
    private static function dismiss_setup_url(): string
    {
        return wp_nonce_url(admin_url('admin-post.php?action=pressrag_dismiss_setup'), 'pressrag_dismiss_setup');
    }

    /**
     * One notice with links.
     *
     * @param string               $level info|warning|error.
     * @param string               $text  Text (escaped here).
     * @param array<string,string> $links URL => label.
     */
    private static function print_notice(string $level, string $text, array $links): void
    {
        $actions = array();
        foreach ($links as $url => $label) {
            $actions[] = '<a href="' . esc_url($url) . '">' . esc_html($label) . '</a>';
        }
        printf(
            '<div class="notice notice-%1$s pressrag-notice"><p>%2$s %3$s</p></div>',
            esc_attr($level),
            esc_html($text),
            implode(' | ', $actions) // phpcs:ignore -- built from esc_url() and esc_html() above.
        );
    }
}
