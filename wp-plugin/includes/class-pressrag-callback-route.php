<?php

/**
 * `POST /wp-json/pressrag/v1/callback`: signed write-back messages from the backend.
 *
 * The webhooks' Standard Webhooks scheme in the other direction (docs/contracts.md): headers
 * `webhook-id`, `webhook-timestamp`, `webhook-signature` over the exact raw body, with a key
 * derived from the webhook secret so a message of one direction never verifies in the other.
 * Everything is checked in the permission callback, before the body is parsed or anything is
 * written: a forged, stale or replayed message gets a 401 and changes nothing.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Verification, replay protection and dispatch of callbacks.
 */
final class PressRAG_Callback_Route
{
    public const ROUTE = '/callback';
    public const KEY_LABEL = 'pressrag-callback-v1';
    public const TOLERANCE = 300;
    public const MAX_BODY_BYTES = 1048576;

    /**
     * Hook route registration.
     */
    public static function register(): void
    {
        add_action('rest_api_init', array(self::class, 'register_routes'));
    }

    /**
     * Register the route.
     */
    public static function register_routes(): void
    {
        register_rest_route(
            PressRAG_Token_Route::REST_NAMESPACE,
            self::ROUTE,
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array(self::class, 'handle'),
                // The signature is the credential: only the backend holding this site's webhook
                // secret can call, and nothing runs before it is verified.
                'permission_callback' => array(self::class, 'authorize'),
            )
        );
    }

    /**
     * The callback HMAC key of a webhook secret, or null for an invalid secret.
     *
     * @param string $secret Webhook secret (`whsec_...`).
     */
    public static function callback_key(string $secret): ?string
    {
        $key = PressRAG_Crypto::key_from_secret($secret);
        return null === $key ? null : hash_hmac('sha256', self::KEY_LABEL, $key, true);
    }

    /**
     * One `v1,<base64>` signature of a callback.
     *
     * @param string $secret    Webhook secret.
     * @param string $msg_id    `webhook-id`.
     * @param int    $timestamp `webhook-timestamp`.
     * @param string $body      Exact raw body.
     */
    public static function signature(string $secret, string $msg_id, int $timestamp, string $body): string
    {
        $key = (string) self::callback_key($secret);
        return 'v1,' . base64_encode(hash_hmac('sha256', $msg_id . '.' . $timestamp . '.' . $body, $key, true));
    }

    /**
     * Permission callback: true for an authentic, fresh, first-seen message; else a WP_Error.
     *
     * @param WP_REST_Request $request Request.
     * @return true|WP_Error
     */
    public static function authorize(WP_REST_Request $request)
    {
        $secret = PressRAG_Settings::webhook_secret();
        if ('' === PressRAG_Settings::site_id() || ! PressRAG_Crypto::is_valid_secret($secret)) {
            return new WP_Error('pressrag_not_configured', __('PressRAG is not configured on this site.', 'pressrag'), array('status' => 503));
        }
        $body = (string) $request->get_body();
        if (strlen($body) > self::MAX_BODY_BYTES) {
            return new WP_Error('pressrag_too_large', __('The message is too large.', 'pressrag'), array('status' => 413));
        }
        $msg_id = (string) $request->get_header('webhook-id');
        $timestamp = (string) $request->get_header('webhook-timestamp');
        $site = (string) $request->get_header('x-pressrag-site');
        if (
            1 !== preg_match('/^[A-Za-z0-9_.:-]{1,100}$/', $msg_id) || ! ctype_digit($timestamp)
            || $site !== PressRAG_Settings::site_id()
            || ! self::signature_matches($secret, $msg_id, (int) $timestamp, $body, (string) $request->get_header('webhook-signature'))
        ) {
            return self::refuse('pressrag_invalid_signature', __('The message signature does not verify.', 'pressrag'));
        }
        if (abs(time() - (int) $timestamp) > self::TOLERANCE) {
            return self::refuse('pressrag_stale_timestamp', __('The message is too old or from the future.', 'pressrag'));
        }
        if (! self::remember($msg_id)) {
            return self::refuse('pressrag_replayed', __('This message was already received.', 'pressrag'));
        }
        return true;
    }

    /**
     * Dispatch a verified message by type.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function handle(WP_REST_Request $request)
    {
        $message = json_decode((string) $request->get_body(), true);
        if (! is_array($message) || ($message['site'] ?? null) !== PressRAG_Settings::site_id()) {
            return new WP_Error('pressrag_invalid_body', __('The message is not a JSON object for this site.', 'pressrag'), array('status' => 400));
        }
        switch ($message['type'] ?? '') {
            case 'summaries.deliver':
                $items = $message['items'] ?? null;
                if (! is_array($items) || count($items) > 500) {
                    return new WP_Error('pressrag_invalid_body', __('items must be a list of at most 500 summaries.', 'pressrag'), array('status' => 400));
                }
                return new WP_REST_Response(array('results' => PressRAG_Summaries::deliver($items)), 200);
            case 'draft.progress':
                return new WP_REST_Response(PressRAG_Drafts::progress($message), 200);
            case 'draft.create':
                return new WP_REST_Response(PressRAG_Drafts::create($message), 200);
            default:
                return new WP_Error('pressrag_unknown_type', __('Unknown message type.', 'pressrag'), array('status' => 400));
        }
    }

    /**
     * Whether any `v1` signature in the header is this message's under our key (constant time).
     *
     * @param string $secret    Webhook secret.
     * @param string $msg_id    Message id.
     * @param int    $timestamp Unix seconds.
     * @param string $body      Raw body.
     * @param string $header    `webhook-signature` header.
     */
    public static function signature_matches(string $secret, string $msg_id, int $timestamp, string $body, string $header): bool
    {
        $expected = self::signature($secret, $msg_id, $timestamp, $body);
        $ok = false;
        foreach (preg_split('/\s+/', trim($header)) ?: array() as $given) {
            $ok = hash_equals($expected, $given) || $ok;
        }
        return $ok;
    }

    /**
     * Record a message id; false when it was seen before. The unique key makes this atomic across
     * concurrent requests; ids older than twice the window are forgotten (their timestamps
     * would be refused anyway).
     *
     * @param string $msg_id Message id.
     */
    private static function remember(string $msg_id): bool
    {
        global $wpdb;
        $table = PressRAG_Writeback_Schema::callback_ids_table();
        $wpdb->query($wpdb->prepare("DELETE FROM {$table} WHERE received_at < %s", gmdate('Y-m-d H:i:s', time() - 2 * self::TOLERANCE)));
        $inserted = $wpdb->query($wpdb->prepare("INSERT IGNORE INTO {$table} (id, received_at) VALUES (%s, %s)", $msg_id, gmdate('Y-m-d H:i:s')));
        return 1 === $inserted;
    }

    /**
     * A 401 that says what was wrong but nothing about the secret.
     *
     * @param string $code    Error code.
     * @param string $message Message.
     */
    private static function refuse(string $code, string $message): WP_Error
    {
        return new WP_Error($code, $message, array('status' => 401));
    }
}
