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
        add_settings_section('pressrag_quality', __('Search quality', 'pressrag'), '__return_false', self::PAGE);

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
        self::field('starter_questions', __('Starter questions', 'pressrag'), 'pressrag_chat', array(self::class, 'field_starters'));
        self::field('launcher_enabled', __('Floating launcher', 'pressrag'), 'pressrag_chat', array(self::class, 'field_launcher'));
        self::field('golden_questions', __('Golden questions', 'pressrag'), 'pressrag_quality', array(self::class, 'field_golden'));
    }

    /**
     * What a field shows: the stored value, or the default it stands for.
     *
     * @param string $key Setting key.
     */
    private static function shown_value(string $key): string
    {
        switch ($key) {
            case 'chat_title':
                return PressRAG_Settings::chat_title();
            case 'chat_placeholder':
                return PressRAG_Settings::chat_placeholder();
            case 'chat_k':
                return (string) PressRAG_Settings::chat_k();
            default:
                return (string) PressRAG_Settings::stored()[ $key ];
        }
    }

    /**
     * Starter questions: one per line.
     */
    public static function field_starters(): void
    {
        printf(
            '<textarea class="large-text" rows="4" id="pressrag-starter_questions" name="%1$s" aria-describedby="pressrag-starter_questions-help">%2$s</textarea>'
            . '<p class="description" id="pressrag-starter_questions-help">%3$s</p>',
            esc_attr(PressRAG_Settings::OPTION . '[starter_questions]'),
            esc_textarea(implode("\n", PressRAG_Settings::starter_questions())),
            esc_html(
                sprintf(
                    /* translators: 1: how many questions, 2: how many characters each. */
                    __('One question per line (up to %1$d, %2$d characters each), offered as buttons before the first question.', 'pressrag'),
                    PressRAG_Chat::MAX_STARTERS,
                    PressRAG_Chat::MAX_STARTER_CHARS
                )
            )
        );
    }

    /**
     * Golden questions: `question | URL` per line.
     */
    public static function field_golden(): void
    {
        printf(
            '<textarea class="large-text code" rows="6" id="pressrag-golden_questions" name="%1$s" aria-describedby="pressrag-golden_questions-help" placeholder="%2$s">%3$s</textarea>'
            . '<p class="description" id="pressrag-golden_questions-help">%4$s</p>',
            esc_attr(PressRAG_Settings::OPTION . '[golden_questions]'),
            esc_attr__('What are your opening hours? | /contact/', 'pressrag'),
            esc_textarea(PressRAG_Settings::golden_text(PressRAG_Settings::golden_questions())),
            esc_html(
                sprintf(
                    /* translators: 1: how many questions, 2: how many characters each. */
                    __('One "question | URL" per line (up to %1$d; questions up to %2$d characters): a question visitors ask and the page that answers it, e.g. a path like /about/.', 'pressrag'),
                    PressRAG_Settings::GOLDEN_MAX,
                    PressRAG_Settings::GOLDEN_QUESTION_CHARS
                ) . ' ' . __('After every change to the index, PressRAG checks that its search still finds each page.', 'pressrag')
            )
        );
    }

    /**
     * Floating launcher on/off.
     */
    public static function field_launcher(): void
    {
        printf(
            '<label><input type="checkbox" id="pressrag-launcher_enabled" name="%1$s" value="1" %2$s /> %3$s</label>',
            esc_attr(PressRAG_Settings::OPTION . '[launcher_enabled]'),
            checked(PressRAG_Settings::launcher_enabled(), true, false),
            esc_html__('Show an "Ask" button in the corner of every page that opens the chat', 'pressrag')
        );
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
        $extra = 'number' === $args['type'] ? ' min="1" max="20" step="1"' : '';
        printf(
            '<input class="regular-text" type="%1$s" id="%2$s" name="%3$s" value="%4$s"%5$s />',
            esc_attr($args['type']),
            esc_attr('pressrag-' . $key),
            esc_attr($name),
            esc_attr(self::shown_value($key)),
            $extra // phpcs:ignore -- a fixed string.
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
                $level = (string) ($line['level'] ?? '');
                printf(
                    '<div class="notice notice-%1$s is-dismissible pressrag-result"><p>%2$s</p></div>',
                    esc_attr(in_array($level, array('error', 'warning'), true) ? $level : 'success'),
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
    <p>
        <?php
        esc_html_e('Add the chat to any post, page or widget area with the “Ask this site (PressRAG)” block, or with the [ai_chat] shortcode, e.g. [ai_chat title="Ask us" k="6"].', 'pressrag');
        ?>
    </p>
    <hr />
        <?php
        self::render_actions();
        self::render_index_status();
        self::render_usage();
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
        echo '</tbody></table>';
        self::render_last_run($data['last_run'] ?? null);
    }

    /**
     * This month's usage from the backend's ledger: requests, tokens, cost, a small per-day
     * chart, and the budget state.
     */
    private static function render_usage(): void
    {
        if ('' === PressRAG_Settings::backend_url()) {
            return;
        }
        echo '<h2>' . esc_html__('Usage this month', 'pressrag') . '</h2>';
        $result = PressRAG_Backend::site_usage();
        if (! $result['ok'] || ! is_array($result['data'])) {
            echo '<p>' . esc_html($result['error']) . '</p>';
            return;
        }
        echo '<table class="widefat striped pressrag-usage" style="max-width:40em"><tbody>';
        foreach (self::usage_rows($result['data']) as $label => $value) {
            printf('<tr><th scope="row">%1$s</th><td>%2$s</td></tr>', esc_html($label), esc_html($value));
        }
        echo '</tbody></table>';
        $days = $result['data']['days'] ?? array();
        echo self::usage_chart(is_array($days) ? $days : array()); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- built from escaped parts.
    }

    /**
     * Label => text of a usage report (`GET /v1/sites/{site}/usage`).
     *
     * @param array<string,mixed> $usage Usage report.
     * @return array<string,string>
     */
    public static function usage_rows(array $usage): array
    {
        $rows = array(
            __('Requests', 'pressrag')     => number_format_i18n((int) ($usage['requests'] ?? 0)),
            __('Cached answers', 'pressrag') => number_format_i18n((int) ($usage['cache_hits'] ?? 0)),
            __('Model calls', 'pressrag')  => number_format_i18n((int) ($usage['calls'] ?? 0)),
            __('Tokens', 'pressrag')       => number_format_i18n((int) ($usage['tokens'] ?? 0)),
            __('Cost (USD)', 'pressrag')   => number_format_i18n((float) ($usage['cost_usd'] ?? 0), 4),
        );
        $budget = isset($usage['budget']) && is_array($usage['budget']) ? $usage['budget'] : array();
        $states = array(
            'ok'        => __('within budget', 'pressrag'),
            'warning'   => __('WARNING: close to a budget', 'pressrag'),
            'exhausted' => __('EXHAUSTED: requests are refused until it resets', 'pressrag'),
        );
        $lines = isset($budget['lines']) && is_array($budget['lines']) ? $budget['lines'] : array();
        if (! $lines) {
            $rows[ __('Budget', 'pressrag') ] = __('no budget set', 'pressrag');
            return $rows;
        }
        $rows[ __('Budget', 'pressrag') ] = $states[ (string) ($budget['state'] ?? 'ok') ] ?? (string) ($budget['state'] ?? '');
        foreach ($lines as $line) {
            if (! is_array($line)) {
                continue;
            }
            $rows[ (string) ($line['name'] ?? '') ] = sprintf(
                /* translators: 1: amount used, 2: the limit, 3: percentage used. */
                __('%1$s of %2$s (%3$s%%)', 'pressrag'),
                number_format_i18n((float) ($line['used'] ?? 0), 2),
                number_format_i18n((float) ($line['limit'] ?? 0), 2),
                number_format_i18n(100 * (float) ($line['share'] ?? 0))
            );
        }
        return $rows;
    }

    /**
     * Tokens per day as a small bar chart (inline SVG, one bar per day, its title the figures).
     *
     * @param array<int,mixed> $days `days` of a usage report.
     */
    public static function usage_chart(array $days): string
    {
        $days = array_values(array_filter($days, 'is_array'));
        if (! $days) {
            return '<p>' . esc_html__('No usage recorded this month yet.', 'pressrag') . '</p>';
        }
        $top = max(1, max(array_map(static fn ($d) => (int) ($d['tokens'] ?? 0), $days)));
        $width = 12;
        $height = 60;
        $bars = '';
        foreach ($days as $i => $day) {
            $tokens = (int) ($day['tokens'] ?? 0);
            $bar = max($tokens > 0 ? 1 : 0, (int) round($height * $tokens / $top));
            $title = sprintf(
                /* translators: 1: day, 2: requests, 3: tokens. */
                __('%1$s: %2$s requests, %3$s tokens', 'pressrag'),
                (string) ($day['day'] ?? ''),
                number_format_i18n((int) ($day['requests'] ?? 0)),
                number_format_i18n($tokens)
            );
            $bars .= sprintf(
                '<rect x="%1$d" y="%2$d" width="%3$d" height="%4$d" fill="#2271b1"><title>%5$s</title></rect>',
                $i * ($width + 2),
                $height - $bar,
                $width,
                $bar,
                esc_html($title)
            );
        }
        return sprintf(
            '<svg class="pressrag-usage-chart" role="img" aria-label="%1$s" width="%2$d" height="%3$d" viewBox="0 0 %2$d %3$d">%4$s</svg>',
            esc_attr__('Tokens per day', 'pressrag'),
            count($days) * ($width + 2),
            $height,
            $bars
        );
    }

    /**
     * The last index run as readable rows: when, what, how long, how many, the error if any.
     *
     * @param mixed $run `last_run` of the status API.
     */
    private static function render_last_run($run): void
    {
        echo '<h3>' . esc_html__('Last index run', 'pressrag') . '</h3>';
        if (! is_array($run)) {
            echo '<p>' . esc_html__('No index run yet.', 'pressrag') . '</p>';
            return;
        }
        echo '<table class="widefat striped pressrag-last-run" style="max-width:40em"><tbody>';
        foreach (self::last_run_rows($run) as $label => $value) {
            printf('<tr><th scope="row">%1$s</th><td>%2$s</td></tr>', esc_html($label), esc_html($value));
        }
        echo '</tbody></table>';
    }

    /**
     * Label => text for each known part of a run record; unknown parts are left out.
     *
     * @param array<string,mixed> $run Run record.
     * @return array<string,string>
     */
    public static function last_run_rows(array $run): array
    {
        $stats = isset($run['stats']) && is_array($run['stats']) ? $run['stats'] : array();
        $started = isset($run['started_at']) ? strtotime((string) $run['started_at']) : false;
        $finished = isset($run['finished_at']) ? strtotime((string) $run['finished_at']) : false;
        $rows = array();
        if (false !== $started) {
            $rows[ __('When', 'pressrag') ] = sprintf(
                /* translators: 1: date and time, 2: how long ago, e.g. "5 mins". */
                __('%1$s (%2$s ago)', 'pressrag'),
                wp_date(get_option('date_format') . ' ' . get_option('time_format'), $started),
                human_time_diff($started)
            );
        }
        $kinds = array(
            'targeted'  => __('Changes sent by this site', 'pressrag'),
            'reconcile' => __('Nightly reconcile', 'pressrag'),
            'full'      => __('Full index', 'pressrag'),
        );
        $kind = (string) ($run['kind'] ?? '');
        $rows[ __('What', 'pressrag') ] = sprintf(
            /* translators: 1: kind of run, 2: its status (running, succeeded, failed). */
            __('%1$s — %2$s', 'pressrag'),
            $kinds[ $kind ] ?? ('' !== $kind ? $kind : __('Index run', 'pressrag')),
            (string) ($run['status'] ?? '')
        );
        if (false !== $started && false !== $finished) {
            $rows[ __('How long', 'pressrag') ] = self::duration(max(0, $finished - $started));
        }
        $counts = array(
            'documents_indexed' => __('documents indexed', 'pressrag'),
            'chunks_written'    => __('passages written', 'pressrag'),
            'chunks_embedded'   => __('passages embedded', 'pressrag'),
        );
        $parts = array();
        foreach ($counts as $key => $label) {
            if (isset($stats[ $key ]) && is_numeric($stats[ $key ])) {
                $parts[] = number_format_i18n((int) $stats[ $key ]) . ' ' . $label;
            }
        }
        if (array() !== $parts) {
            $rows[ __('How many', 'pressrag') ] = implode(', ', $parts);
        }
        foreach (array('error', 'last_error') as $key) {
            if (! empty($stats[ $key ]) && is_scalar($stats[ $key ])) {
                $rows[ __('Error', 'pressrag') ] = (string) $stats[ $key ];
                break;
            }
        }
        return $rows;
    }

    /**
     * Seconds as "1 min 5 s" / "42 s".
     *
     * @param int $seconds Seconds.
     */
    private static function duration(int $seconds): string
    {
        if ($seconds < MINUTE_IN_SECONDS) {
            /* translators: %d: seconds. */
            return sprintf(__('%d s', 'pressrag'), $seconds);
        }
        /* translators: 1: minutes, 2: seconds. */
        return sprintf(__('%1$d min %2$d s', 'pressrag'), intdiv($seconds, MINUTE_IN_SECONDS), $seconds % MINUTE_IN_SECONDS);
    }

    /**
     * Local outbox counts and the retry button.
     */
    private static function render_outbox_panel(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $counts = $outbox->counts();
        echo '<h2 id="pressrag-outbox">' . esc_html__('Outbox', 'pressrag') . '</h2>';
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
     * admin-post: reach the backend, then prove each credential by name.
     */
    public static function handle_test_connection(): void
    {
        self::guard('pressrag_test_connection');
        $health = PressRAG_Health::probe();
        if (! $health['ok']) {
            self::finish(array(self::line('error', __('Backend health check failed: ', 'pressrag') . $health['error'])));
        }
        $lines = array(self::line('success', __('Backend health check: OK.', 'pressrag')));
        self::finish(array_merge($lines, self::connection_lines(PressRAG_Backend::connection_test())));
    }

    /**
     * Notice lines for a connection test: one verdict per credential, naming the one that fails.
     *
     * @param array<string,mixed> $result PressRAG_Backend::connection_test() result.
     * @return array<int,array<string,string>>
     */
    public static function connection_lines(array $result): array
    {
        if (! $result['ok'] || ! is_array($result['data'])) {
            if (404 === $result['status'] && is_array($result['data']) && 'unknown_site' === ($result['data']['error'] ?? '')) {
                $text = __('Site id: the backend has no site with this id (the admin API key was accepted). Check the site id, or add the site with "pressrag sites add".', 'pressrag');
                return array(self::line('error', $text));
            }
            return array(self::line('error', __('Connection test failed: ', 'pressrag') . $result['error']));
        }
        $names = array(
            'webhook_secret' => __('Webhook secret', 'pressrag'),
            'token_secret'   => __('Token secret', 'pressrag'),
            'admin_api_key'  => __('Admin API key', 'pressrag'),
        );
        $lines = array();
        foreach ($names as $key => $name) {
            $check = is_array($result['data'][ $key ] ?? null) ? $result['data'][ $key ] : array();
            if (! empty($check['ok'])) {
                /* translators: %s: name of a credential, e.g. "Webhook secret". */
                $lines[] = self::line('success', sprintf(__('%s: works.', 'pressrag'), $name));
                continue;
            }
            $lines[] = self::credential_failure($key, $name, $check);
        }
        $webhook_ok = ! empty($result['data']['webhook_secret']['ok']);
        if ($webhook_ok && empty($result['signed'])) {
            $lines[] = self::line('error', __('The backend’s answer was not signed with this webhook secret: check that the backend URL points at your PressRAG backend.', 'pressrag'));
        }
        return $lines;
    }

    /**
     * The line for a credential that does not work: what the backend said, and what to do.
     *
     * @param string              $key   Setting key.
     * @param string              $name  Display name.
     * @param array<string,mixed> $check The backend's verdict.
     * @return array<string,string>
     */
    private static function credential_failure(string $key, string $name, array $check): array
    {
        $code = (string) ($check['code'] ?? '');
        if ('admin_api_key' === $key && 'missing' === $code) {
            /* translators: %s: "Admin API key". */
            return self::line('warning', sprintf(__('%s: not set (it is only needed for the index status below).', 'pressrag'), $name));
        }
        if ('missing' === $code || ('admin_api_key' !== $key && ! PressRAG_Crypto::is_valid_secret((string) PressRAG_Settings::get($key)))) {
            /* translators: %s: name of a secret, e.g. "Token secret". */
            return self::line('error', sprintf(__('%s: not set. Paste the value printed by "pressrag sites add".', 'pressrag'), $name));
        }
        $hints = array(
            'stale_timestamp'  => __('The clocks of this server and the backend differ by more than five minutes.', 'pressrag'),
            'future_timestamp' => __('The clocks of this server and the backend differ by more than five minutes.', 'pressrag'),
            'token_expired'    => __('The clocks of this server and the backend differ.', 'pressrag'),
        );
        $hint = $hints[ $code ] ?? ('admin_api_key' === $key
            ? __('Use the site\'s admin API key printed by "pressrag sites add", or make one with "pressrag keys create --site SITE --scope admin".', 'pressrag')
            : __('It does not match the backend: paste the value printed by "pressrag sites add" again.', 'pressrag'));
        return self::line(
            'error',
            sprintf(
                /* translators: 1: name of a credential, 2: the backend's reason, 3: what to do. */
                __('%1$s: does NOT work (%2$s). %3$s', 'pressrag'),
                $name,
                sanitize_text_field((string) ($check['message'] ?? $code)),
                $hint
            )
        );
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
     * admin-post: make failed and dead events due again, and send them now.
     */
    public static function handle_retry_failed(): void
    {
        self::guard('pressrag_retry_failed');
        $outbox = PressRAG_Outbox::instance();
        $count = $outbox->retry_failed();
        $sent = $outbox->deliver_due(25, 10.0, 5.0);
        $left = $count - $sent['delivered'];
        $lines = array(
            /* translators: %d: number of events. */
            self::line('success', sprintf(_n('%d event sent.', '%d events sent.', $sent['delivered'], 'pressrag'), $sent['delivered'])),
        );
        if ($left > 0) {
            $text = sprintf(
                /* translators: %d: number of events. */
                _n('%d event could not be sent yet; it will be retried.', '%d events could not be sent yet; they will be retried.', $left, 'pressrag'),
                $left
            );
            $lines[] = self::line('error', $text . ' ' . $outbox->last_error());
        }
        self::finish($lines);
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
    public static function page_url(): string
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
