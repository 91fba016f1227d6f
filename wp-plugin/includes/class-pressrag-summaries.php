<?php

/**
 * Summaries from the backend: stored in post meta, shown in the block editor's sidebar, and —
 * when the site opts in — used to fill empty excerpts.
 *
 * A summary is written only for a post that is public at that moment (published, no password;
 * media: attached to a public post or to none), whatever the backend believed when it sent it.
 * Delivery is idempotent: the same (post, content hash, generated_at) again is `unchanged`, an
 * older one than stored is `stale`.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Summary storage, editor panel and its REST routes.
 */
final class PressRAG_Summaries
{
    public const META_SUMMARY = '_pressrag_summary';
    public const META_INFO = '_pressrag_summary_info';
    public const META_REGENERATE = '_pressrag_summary_regenerate_requested';
    public const SCRIPT = 'pressrag-summary-panel';
    public const MAX_SUMMARY_CHARS = 5000;
    public const GENERATORS = array('extractive', 'openai');

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('rest_api_init', array(self::class, 'register_routes'));
        add_action('enqueue_block_editor_assets', array(self::class, 'enqueue_panel'));
    }

    /**
     * Store a batch of summaries (a `summaries.deliver` callback, already verified).
     *
     * @param array<int,mixed> $items Items as sent.
     * @return array<int,array<string,mixed>> One result per item, in order.
     */
    public static function deliver(array $items): array
    {
        $results = array();
        foreach ($items as $item) {
            $results[] = self::deliver_one(is_array($item) ? $item : array());
        }
        return $results;
    }

    /**
     * Store one summary if its post is public and it is newer than what is stored.
     *
     * @param array<string,mixed> $item Item as sent.
     * @return array<string,mixed>
     */
    private static function deliver_one(array $item): array
    {
        $wp_id = $item['wp_id'] ?? 0;
        $wp_id = is_int($wp_id) && $wp_id > 0 ? $wp_id : 0;
        $summary = self::clean_item($item);
        if (0 === $wp_id || null === $summary) {
            return self::result($wp_id, 'skipped', 'invalid');
        }
        $post = get_post($wp_id);
        if (! $post instanceof WP_Post) {
            return self::result($wp_id, 'skipped', 'not_found');
        }
        if (! self::is_public($post)) {
            return self::result($wp_id, 'skipped', 'not_public');
        }
        $stored = self::info($wp_id);
        if (null !== $stored) {
            if ($stored['content_hash'] === $summary['content_hash'] && $stored['generated_at'] === $summary['generated_at']) {
                return self::result($wp_id, 'unchanged');
            }
            if (self::timestamp($stored['generated_at']) > self::timestamp($summary['generated_at'])) {
                return self::result($wp_id, 'stale');
            }
        }
        $text = $summary['summary'];
        unset($summary['summary']);
        $summary['received_at'] = gmdate('c');
        $summary['excerpt_filled'] = self::maybe_fill_excerpt($post, $text);
        update_post_meta($wp_id, self::META_SUMMARY, wp_slash($text));
        update_post_meta($wp_id, self::META_INFO, wp_slash($summary));
        delete_post_meta($wp_id, self::META_REGENERATE);
        return self::result($wp_id, 'stored');
    }

    /**
     * The item's fields, validated and sanitized; null when unusable.
     *
     * @param array<string,mixed> $item Item as sent.
     * @return array<string,mixed>|null
     */
    private static function clean_item(array $item): ?array
    {
        $summary = is_string($item['summary'] ?? null) ? sanitize_textarea_field($item['summary']) : '';
        $hash = is_string($item['content_hash'] ?? null) ? $item['content_hash'] : '';
        $generated_at = is_string($item['generated_at'] ?? null) ? $item['generated_at'] : '';
        $generator = $item['generator'] ?? '';
        if (
            '' === trim($summary) || mb_strlen($summary) > self::MAX_SUMMARY_CHARS
            || 1 !== preg_match('/^[a-f0-9]{6,128}$/', $hash) || null === self::timestamp($generated_at)
            || ! in_array($generator, self::GENERATORS, true)
        ) {
            return null;
        }
        $language = is_string($item['language'] ?? null) ? sanitize_text_field($item['language']) : '';
        return array(
            'summary'      => $summary,
            'content_hash' => $hash,
            'generated_at' => $generated_at,
            'generator'    => $generator,
            'model'        => sanitize_text_field(is_string($item['model'] ?? null) ? substr($item['model'], 0, 200) : ''),
            'language'     => substr($language, 0, 40),
        );
    }

    /**
     * Whether the public can see this post right now.
     *
     * @param WP_Post $post Post.
     */
    public static function is_public(WP_Post $post): bool
    {
        if ('' !== $post->post_password) {
            return false;
        }
        if ('attachment' === $post->post_type) {
            if (! in_array($post->post_status, array('inherit', 'publish'), true)) {
                return false;
            }
            $parent = $post->post_parent ? get_post($post->post_parent) : null;
            return ! $parent instanceof WP_Post || self::is_public($parent);
        }
        return 'publish' === $post->post_status && is_post_type_viewable($post->post_type);
    }

    /**
     * Fill an empty excerpt with the summary when the site opted in.
     *
     * @param WP_Post $post    Post.
     * @param string  $summary Summary text.
     */
    private static function maybe_fill_excerpt(WP_Post $post, string $summary): bool
    {
        if (! PressRAG_Writeback_Settings::fill_excerpts() || '' !== trim($post->post_excerpt) || ! post_type_supports($post->post_type, 'excerpt')) {
            return false;
        }
        $updated = wp_update_post(
            wp_slash(
                array(
                    'ID'           => $post->ID,
                    'post_excerpt' => $summary,
                )
            ),
            true
        );
        return ! is_wp_error($updated) && $updated > 0;
    }

    /**
     * Stored summary details of a post (without the text), or null.
     *
     * @param int $post_id Post id.
     * @return array<string,mixed>|null
     */
    public static function info(int $post_id): ?array
    {
        $info = get_post_meta($post_id, self::META_INFO, true);
        return is_array($info) && isset($info['content_hash'], $info['generated_at']) ? $info : null;
    }

    /**
     * Unix time (with microseconds) of an ISO 8601 timestamp, or null.
     *
     * @param string $iso Timestamp.
     */
    private static function timestamp(string $iso): ?float
    {
        if ('' === $iso) {
            return null;
        }
        try {
            return (float) ( new DateTimeImmutable($iso) )->format('U.u');
        } catch (Exception $e) {
            return null;
        }
    }

    /**
     * One item's result.
     *
     * @param int    $wp_id  Post id.
     * @param string $status stored | unchanged | stale | skipped.
     * @param string $reason Why it was skipped.
     * @return array<string,mixed>
     */
    private static function result(int $wp_id, string $status, string $reason = ''): array
    {
        $result = array(
            'wp_id'  => $wp_id,
            'status' => $status,
        );
        if ('' !== $reason) {
            $result['reason'] = $reason;
        }
        return $result;
    }

    /**
     * REST routes of the editor panel (signed-in users who may edit the post; nonce via
     * wp.apiFetch).
     */
    public static function register_routes(): void
    {
        $args = array(
            'id' => array(
                'type'              => 'integer',
                'minimum'           => 1,
                'required'          => true,
                'sanitize_callback' => 'absint',
            ),
        );
        register_rest_route(
            PressRAG_Token_Route::REST_NAMESPACE,
            '/summary/(?P<id>\d+)',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array(self::class, 'rest_get'),
                'permission_callback' => array(self::class, 'can_edit'),
                'args'                => $args,
            )
        );
        register_rest_route(
            PressRAG_Token_Route::REST_NAMESPACE,
            '/summary/(?P<id>\d+)/regenerate',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array(self::class, 'rest_regenerate'),
                'permission_callback' => array(self::class, 'can_edit'),
                'args'                => $args,
            )
        );
    }

    /**
     * Permission callback: the current user may edit this post.
     *
     * @param WP_REST_Request $request Request.
     */
    public static function can_edit(WP_REST_Request $request): bool
    {
        return current_user_can('edit_post', (int) $request['id']);
    }

    /**
     * `GET /pressrag/v1/summary/{id}`: the summary shown in the panel.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response
     */
    public static function rest_get(WP_REST_Request $request): WP_REST_Response
    {
        return new WP_REST_Response(self::panel_data((int) $request['id']), 200);
    }

    /**
     * What the panel shows for a post.
     *
     * @param int $post_id Post id.
     * @return array<string,mixed>
     */
    public static function panel_data(int $post_id): array
    {
        $info = self::info($post_id);
        $summary = (string) get_post_meta($post_id, self::META_SUMMARY, true);
        $generated = null === $info ? null : self::timestamp((string) $info['generated_at']);
        $requested = (int) get_post_meta($post_id, self::META_REGENERATE, true);
        return array(
            'post_id'                 => $post_id,
            'summary'                 => '' === $summary ? null : $summary,
            'generator'               => $info['generator'] ?? null,
            'model'                   => $info['model'] ?? null,
            'extractive'              => 'extractive' === ( $info['generator'] ?? null ),
            'generated_at'            => $info['generated_at'] ?? null,
            'generated_display'       => null === $generated ? null : wp_date(get_option('date_format') . ' ' . get_option('time_format'), (int) $generated),
            'excerpt_filled'          => (bool) ( $info['excerpt_filled'] ?? false ),
            'regenerate_requested_at' => $requested > 0 ? gmdate('c', $requested) : null,
        );
    }

    /**
     * `POST /pressrag/v1/summary/{id}/regenerate`: ask the backend for a new summary by filing
     * an outbox event (delivered and retried like every webhook).
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function rest_regenerate(WP_REST_Request $request)
    {
        $post = get_post((int) $request['id']);
        if (! $post instanceof WP_Post || ! self::is_public($post)) {
            return new WP_Error('pressrag_not_public', __('Only published posts have summaries.', 'pressrag'), array('status' => 409));
        }
        if (! PressRAG_Settings::webhooks_configured() || ! PressRAG_Settings::outbox_enabled()) {
            return new WP_Error('pressrag_not_configured', __('PressRAG is not connected to its backend yet.', 'pressrag'), array('status' => 503));
        }
        $row = PressRAG_Outbox::instance()->enqueue(
            'summary.regenerate_requested',
            array(
                'wp_id'     => $post->ID,
                'post_type' => $post->post_type,
            ),
            'summary.regenerate_requested:' . $post->ID
        );
        if (null === $row) {
            return new WP_Error('pressrag_not_queued', __('The request could not be recorded. Please try again.', 'pressrag'), array('status' => 500));
        }
        update_post_meta($post->ID, self::META_REGENERATE, time());
        return new WP_REST_Response(self::panel_data($post->ID), 202);
    }

    /**
     * The sidebar panel, on edit screens of the post types PressRAG indexes.
     */
    public static function enqueue_panel(): void
    {
        $screen = function_exists('get_current_screen') ? get_current_screen() : null;
        if (! $screen || '' === (string) $screen->post_type || ! PressRAG_Settings::is_indexed_type($screen->post_type) || ! is_post_type_viewable($screen->post_type)) {
            return;
        }
        wp_enqueue_script(
            self::SCRIPT,
            plugins_url('assets/summary-panel.js', PRESSRAG_PLUGIN_FILE),
            array('wp-plugins', 'wp-edit-post', 'wp-element', 'wp-components', 'wp-data', 'wp-api-fetch', 'wp-i18n'),
            PRESSRAG_VERSION,
            true
        );
        wp_set_script_translations(self::SCRIPT, 'pressrag', PRESSRAG_PLUGIN_DIR . 'languages');
    }
}
