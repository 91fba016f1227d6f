<?php

/**
 * Settings → PressRAG: configuration, connection test, index status and outbox panel.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Admin screen and its form actions (each checks capability and nonce).
 */
final class PressRAG_Admin
{
    public const PAGE = 'pressrag';
    public const CAPABILITY = 'manage_options';
    public const NOTICE_TRANSIENT = 'pressrag_notice_';

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('admin_menu', array(self::class, 'add_page'));
        add_action('admin_init', array(self::class, 'register_settings'));
        add_action('admin_post_pressrag_test_connection', array(self::class, 'handle_test_connection'));
        add_action('admin_post_pressrag_reindex', array(self::class, 'handle_reindex'));
        add_action('admin_post_pressrag_retry_failed', array(self::class, 'handle_retry_failed'));
        add_filter('plugin_action_links_' . plugin_basename(PRESSRAG_PLUGIN_FILE), array(self::class, 'action_links'));
    }

    /**
     * Settings link on the plugins screen.
     *
     * @param string[] $links Links.
     * @return string[]
     */
    public static function action_links($links): array
    {
        $links = is_array($links) ? $links : array();
        array_unshift($links, '<a href="' . esc_url(self::page_url()) . '">' . esc_html__('Settings', 'pressrag') . '</a>');
        return $links;
    }

    /**
     * Add Settings → PressRAG.
     */
    public static function add_page(): void
    {
        add_options_page(__('PressRAG', 'pressrag'), __('PressRAG', 'pressrag'), self::CAPABILITY, self::PAGE, array(self::class, 'render_page'));
    }

    /**
     * Settings API registration.
     */
    public static function register_settings(): void
    {
        register_setting(
            'pressrag',
            PressRAG_Settings::OPTION,
            array(
                'type'              => 'array',
                'sanitize_callback' => array('PressRAG_Settings', 'sanitize'),
                'show_in_rest'      => false,
                'default'           => PressRAG_Settings::defaults(),
            )
        );
        add_settings_section('pressrag_backend', __('Backend', 'pressrag'), '__return_false', self::PAGE);
        add_settings_section('pressrag_indexing', __('Indexing', 'pressrag'), '__return_false', self::PAGE);
        add_settings_section('pressrag_chat', __('Chat defaults', 'pressrag'), '__return_false', self::PAGE);

        self::field('backend_url', __('Backend URL', 'pressrag'), 'pressrag_backend', array(self::class, 'field_text'), array('type' => 'url'));
        self::field('site_id', __('Site id', 'pressrag'), 'pressrag_backend', array(self::class, 'field_text'), array('type' => 'text'));
        self::field('webhook_secret', __('Webhook secret', 'pressrag'), 'pressrag_backend', array(self::class, 'field_secret'));
        self::field('token_secret', __('Token secret', 'pressrag'), 'pressrag_backend', array(self::class, 'field_secret'));
        self::field('admin_api_key', __('Admin API key', 'pressrag'), 'pressrag_backend', array(self::class, 'field_secret'));
        self::field('post_types', __('Content to index', 'pressrag'), 'pressrag_indexing', array(self::class, 'field_post_types'));
        self::field('outbox_enabled', __('Send changes', 'pressrag'), 'pressrag_indexing', array(self::class, 'field_outbox_enabled'));
        self::field('chat_title', __('Title', 'pressrag'), 'pressrag_chat', array(self::class, 'field_text'), array('type' => 'text'));
        self::field('chat_placeholder', __('Placeholder', 'pressrag'), 'pressrag_chat', array(self::class, 'field_text'), array('type' => 'text'));
        self::field('chat_k', __('Passages per answer (k)', 'pressrag'), 'pressrag_chat', array(self::class, 'field_text'), array('type' => 'number'));
    }

    /**
     * Text-like field (wp-config constants shown read-only).
     *
     * @param array<string,string> $args Field args.
     */
    public static function field_text(array $args): void
    {
        $key = $args['key'];
        $name = PressRAG_Settings::OPTION . '[' . $key . ']';
        if (PressRAG_Settings::from_constant($key)) {
            printf(
                '<code>%s</code> <p class="description">%s</p>',
                esc_html((string) PressRAG_Settings::get($key)),
                esc_html__('Set in wp-config.php; change it there.', 'pressrag')
            );
            return;
        }
        $stored = PressRAG_Settings::stored();
        $extra = 'number' === $args['type'] ? ' min="1" max="20" step="1"' : '';
        printf(
            '<input class="regular-text" type="%1$s" id="%2$s" name="%3$s" value="%4$s"%5$s />',
            esc_attr($args['type']),
            esc_attr('pressrag-' . $key),
            esc_attr($name),
            esc_attr((string) $stored[ $key ]),
            $extra
        );
    }

    /**
     * Secret field: never echoes the value, only whether it is set and where from.
     *
     * @param array<string,string> $args Field args.
     */
    public static function field_secret(array $args): void
    {
        $key = $args['key'];
        if (PressRAG_Settings::from_constant($key)) {
            echo '<strong>' . esc_html__('set (from wp-config)', 'pressrag') . '</strong>';
            return;
        }
        $stored = PressRAG_Settings::stored();
        $is_set = '' !== (string) $stored[ $key ];
        printf(
            '<input class="regular-text" type="password" id="%1$s" name="%2$s" value="" autocomplete="new-password" placeholder="%3$s" /> <strong>%4$s</strong>',
            esc_attr('pressrag-' . $key),
            esc_attr(PressRAG_Settings::OPTION . '[' . $key . ']'),
            esc_attr($is_set ? __('Leave empty to keep the current value', 'pressrag') : ''),
            esc_html($is_set ? __('set', 'pressrag') : __('not set', 'pressrag'))
        );
        if ($is_set) {
            printf(
                ' <label><input type="checkbox" name="%1$s" value="1" /> %2$s</label>',
                esc_attr(PressRAG_Settings::OPTION . '[clear_' . $key . ']'),
                esc_html__('Clear', 'pressrag')
            );
        }
        if ('admin_api_key' === $key) {
            echo '<p class="description">' . esc_html__('Used only by this server to read the index status; never sent to browsers.', 'pressrag') . '</p>';
        } else {
            echo '<p class="description">' . esc_html__('The whsec_… value printed by "pressrag sites add".', 'pressrag') . '</p>';
        }
    }

    /**
     * Post type checkboxes.
     */
    public static function field_post_types(): void
    {
        $selected = PressRAG_Settings::stored()['post_types'];
        $selected = is_array($selected) ? $selected : array();
        echo '<fieldset><legend class="screen-reader-text">' . esc_html__('Content to index', 'pressrag') . '</legend>';
        foreach (PressRAG_Settings::available_post_types() as $name => $label) {
            printf(
                '<label><input type="checkbox" name="%1$s[]" value="%2$s" %3$s /> %4$s</label><br />',
                esc_attr(PressRAG_Settings::OPTION . '[post_types]'),
                esc_attr($name),
                checked(in_array($name, $selected, true), true, false),
                esc_html($label)
            );
        }
        echo '</fieldset>';
    }

    /**
     * Outbox on/off.
     */
    public static function field_outbox_enabled(): void
    {
        printf(
            '<label><input type="checkbox" name="%1$s" value="1" %2$s /> %3$s</label>',
            esc_attr(PressRAG_Settings::OPTION . '[outbox_enabled]'),
            checked((bool) PressRAG_Settings::stored()['outbox_enabled'], true, false),
            esc_html__('Record content changes and send them to the backend as signed webhooks', 'pressrag')
        );
    }

    /**
     * The settings page.
     */
    public static function render_page(): void
    {
        if (! current_user_can(self::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to manage PressRAG.', 'pressrag'), 403);
        }
        $notice = get_transient(self::NOTICE_TRANSIENT . get_current_user_id());
        if (is_array($notice)) {
            delete_transient(self::NOTICE_TRANSIENT . get_current_user_id());
        }
        ?>
<div class="wrap">
    <h1><?php esc_html_e('PressRAG', 'pressrag'); ?></h1>
        <?php
        if (is_array($notice)) {
            foreach ($notice as $line) {
                printf(
                    '<div class="notice notice-%1$s is-dismissible"><p>%2$s</p></div>',
                    esc_attr('error' === ($line['level'] ?? '') ? 'error' : 'success'),
                    esc_html((string) ($line['text'] ?? ''))
                );
            }
        }
        // Settings errors are printed by wp-admin/options-head.php on Settings pages.
        ?>
    <form action="options.php" method="post">
        <?php
        settings_fields('pressrag');
        do_settings_sections(self::PAGE);
        submit_button();
        ?>
    </form>
    <p><?php esc_html_e('Add the chat to any page with the [ai_chat] shortcode, e.g. [ai_chat title="Ask us" k="6"].', 'pressrag'); ?></p>
    <hr />
        <?php
        self::render_actions();
        self::render_index_status();
        self::render_outbox_panel();
        ?>
</div>
        <?php
    }

    /**
     * Connection test and reindex buttons.
     */
    private static function render_actions(): void
    {
        echo '<h2>' . esc_html__('Connection', 'pressrag') . '</h2>';
        self::action_form('pressrag_test_connection', __('Test connection', 'pressrag'));
        self::action_form('pressrag_reindex', __('Reindex now', 'pressrag'));
    }

    /**
     * Index status from the backend (server-side call with the admin key).
     */
    private static function render_index_status(): void
    {
        echo '<h2>' . esc_html__('Index status', 'pressrag') . '</h2>';
        if ('' === PressRAG_Settings::backend_url()) {
            echo '<p>' . esc_html__('Configure the backend URL to see the index status.', 'pressrag') . '</p>';
            return;
        }
        $result = PressRAG_Backend::site_status();
        if (! $result['ok'] || ! is_array($result['data'])) {
            echo '<p>' . esc_html($result['error']) . '</p>';
            return;
        }
        $data = $result['data'];
        $rows = array(
            'documents'      => __('Documents', 'pressrag'),
            'chunks'         => __('Chunks', 'pressrag'),
            'excluded'       => __('Excluded', 'pressrag'),
            'failures'       => __('Failures', 'pressrag'),
            'quarantined'    => __('Quarantined documents (tried again when they change)', 'pressrag'),
            'pending_events' => __('Events waiting on the backend', 'pressrag'),
            'dead_events'    => __('Events that failed on the backend', 'pressrag'),
        );
        echo '<table class="widefat striped" style="max-width:40em"><tbody>';
        foreach ($rows as $key => $label) {
            printf('<tr><th scope="row">%1$s</th><td>%2$s</td></tr>', esc_html($label), esc_html(self::scalar($data[ $key ] ?? '—')));
        }
        $last_run = $data['last_run'] ?? null;
        $last_run_text = is_array($last_run) ? (string) wp_json_encode($last_run) : self::scalar($last_run ?? '—');
        printf('<tr><th scope="row">%1$s</th><td><code>%2$s</code></td></tr>', esc_html__('Last run', 'pressrag'), esc_html($last_run_text));
        echo '</tbody></table>';
    }

    /**
     * Local outbox counts and the retry button.
     */
    private static function render_outbox_panel(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $counts = $outbox->counts();
        echo '<h2>' . esc_html__('Outbox', 'pressrag') . '</h2>';
        if (! PressRAG_Settings::webhooks_configured()) {
            echo '<p>' . esc_html__('Webhooks are not sent until the backend URL, site id and webhook secret are set.', 'pressrag') . '</p>';
        }
        echo '<table class="widefat striped" style="max-width:40em"><tbody>';
        $labels = array(
            'pending'   => __('Pending', 'pressrag'),
            'failed'    => __('Failed, will retry', 'pressrag'),
            'dead'      => __('Dead (gave up)', 'pressrag'),
            'delivered' => __('Delivered (last 7 days)', 'pressrag'),
        );
        foreach ($labels as $key => $label) {
            printf('<tr><th scope="row">%1$s</th><td>%2$d</td></tr>', esc_html($label), (int) $counts[ $key ]);
        }
        echo '</tbody></table>';
        $error = $outbox->last_error();
        if ('' !== $error) {
            printf('<p>%1$s <code>%2$s</code></p>', esc_html__('Latest error:', 'pressrag'), esc_html($error));
        }
        if ($counts['failed'] + $counts['dead'] > 0) {
            self::action_form('pressrag_retry_failed', __('Retry failed', 'pressrag'));
        }
    }

    /**
     * admin-post: call /healthz and the status API.
     */
    public static function handle_test_connection(): void
    {
        self::guard('pressrag_test_connection');
        $lines = array();
        $health = PressRAG_Backend::health();
        $lines[] = $health['ok']
            ? self::line('success', __('Backend health check: OK.', 'pressrag'))
            : self::line('error', __('Backend health check failed: ', 'pressrag') . $health['error']);
        $status = PressRAG_Backend::site_status();
        $lines[] = $status['ok']
            ? self::line('success', __('Site status API: OK (the site id and admin key are accepted).', 'pressrag'))
            : self::line('error', __('Site status API failed: ', 'pressrag') . $status['error']);
        self::finish($lines);
    }

    /**
     * admin-post: enqueue site.reindex_requested and try to send it right away.
     */
    public static function handle_reindex(): void
    {
        self::guard('pressrag_reindex');
        $outbox = PressRAG_Outbox::instance();
        $id = PressRAG_Events::reindex_requested();
        if (null === $id) {
            self::finish(array(self::line('error', __('The reindex request could not be recorded (is "Send changes" on?).', 'pressrag'))));
        }
        $outbox->forget_request_rows();
        $outcome = $outbox->deliver_ids(array($id), 5.0, 5.0);
        $lines = array(
            $outcome['delivered'] > 0
                ? self::line('success', __('Reindex requested: the backend accepted the request.', 'pressrag'))
                : self::line('error', __('Reindex request recorded; it will be sent by the outbox when the backend answers.', 'pressrag')),
        );
        self::finish($lines);
    }

    /**
     * admin-post: make failed and dead events due again.
     */
    public static function handle_retry_failed(): void
    {
        self::guard('pressrag_retry_failed');
        $count = PressRAG_Outbox::instance()->retry_failed();
        /* translators: %d: number of events. */
        self::finish(array(self::line('success', sprintf(_n('%d event will be retried.', '%d events will be retried.', $count, 'pressrag'), $count))));
    }

    /**
     * Capability and nonce check for an admin-post action.
     *
     * @param string $action Action (also the nonce action).
     */
    private static function guard(string $action): void
    {
        if (! current_user_can(self::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to manage PressRAG.', 'pressrag'), 403);
        }
        check_admin_referer($action);
    }

    /**
     * Store the notice and go back to the settings page.
     *
     * @param array<int,array<string,string>> $lines Notice lines.
     * @return never
     */
    private static function finish(array $lines): void
    {
        set_transient(self::NOTICE_TRANSIENT . get_current_user_id(), $lines, 5 * MINUTE_IN_SECONDS);
        wp_safe_redirect(self::page_url());
        exit;
    }

    /**
     * A notice line.
     *
     * @param string $level success|error.
     * @param string $text  Text (escaped on output).
     * @return array<string,string>
     */
    private static function line(string $level, string $text): array
    {
        return array(
            'level' => $level,
            'text'  => $text,
        );
    }

    /**
     * A one-button form posting to admin-post.php with a nonce.
     *
     * @param string $action Action.
     * @param string $label  Button label.
     */
    private static function action_form(string $action, string $label): void
    {
        echo '<form method="post" action="' . esc_url(admin_url('admin-post.php')) . '" style="display:inline-block;margin-right:1em">';
        echo '<input type="hidden" name="action" value="' . esc_attr($action) . '" />';
        wp_nonce_field($action);
        submit_button($label, 'secondary', 'submit', false);
        echo '</form>';
    }

    /**
     * Add one settings field.
     *
     * @param string              $key      Setting key.
     * @param string              $label    Label.
     * @param string              $section  Section.
     * @param callable            $callback Renderer.
     * @param array<string,mixed> $args     Extra args.
     */
    private static function field(string $key, string $label, string $section, callable $callback, array $args = array()): void
    {
        add_settings_field(
            'pressrag-' . $key,
            $label,
            $callback,
            self::PAGE,
            $section,
            array_merge(
                array(
                    'key'       => $key,
                    'label_for' => 'pressrag-' . $key,
                ),
                $args
            )
        );
    }

    /**
     * Settings page URL.
     */
    private static function page_url(): string
    {
        return admin_url('options-general.php?page=' . self::PAGE);
    }

    /**
     * Display text for a scalar from the backend.
     *
     * @param mixed $value Value.
     */
    private static function scalar($value): string
    {
        return is_scalar($value) ? (string) $value : (string) wp_json_encode($value);
    }
}
