<?php

/**
 * Public REST route that mints short-lived browser tokens for the chat.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * `GET /wp-json/pressrag/v1/token`.
 */
final class PressRAG_Token_Route
{
    public const REST_NAMESPACE = 'pressrag/v1';
    public const TTL = 300;
    public const DEFAULT_RATE_LIMIT = 30;
    public const RATE_WINDOW = 60;

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
            self::REST_NAMESPACE,
            '/token',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array(self::class, 'handle'),
                // Public on purpose: any visitor who can see the chat may ask questions, and the
                // token only grants asking this site's public content for a few minutes. No nonce
                // either, so full-page caches keep working; abuse is bounded by the per-IP limit.
                'permission_callback' => '__return_true',
            )
        );
    }

    /**
     * Mint a token, or 429 when this client asked too often, or 503 when not configured.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function handle(WP_REST_Request $request)
    {
        unset($request);
        $retry_after = self::hit_rate_limit(self::client_ip());
        if ($retry_after > 0) {
            $response = new WP_REST_Response(
                array(
                    'code'    => 'pressrag_rate_limited',
                    'message' => __('Too many requests. Please wait a moment and try again.', 'pressrag'),
                    'data'    => array('status' => 429),
                ),
                429
            );
            $response->header('Retry-After', (string) $retry_after);
            $response->header('Cache-Control', 'no-store');
            return $response;
        }
        if (! PressRAG_Settings::tokens_configured()) {
            return new WP_Error('pressrag_not_configured', __('The chat is not configured yet.', 'pressrag'), array('status' => 503));
        }
        $response = new WP_REST_Response(
            array(
                'token'      => self::mint(time()),
                'expires_in' => self::TTL,
                'site'       => PressRAG_Settings::site_id(),
                'backend'    => PressRAG_Settings::backend_url(),
            ),
            200
        );
        // A token is per visitor and short-lived: no shared cache may keep it.
        $response->header('Cache-Control', 'no-store, private');
        return $response;
    }

    /**
     * The token for this site issued at $now (claims per docs/contracts.md).
     *
     * @param int $now Issue time (Unix seconds).
     */
    public static function mint(int $now): string
    {
        return PressRAG_Crypto::jwt_encode(
            PressRAG_Settings::token_secret(),
            array(
                'site'   => PressRAG_Settings::site_id(),
                'origin' => self::site_origin(),
                'iat'    => $now,
                'exp'    => $now + self::TTL,
                'aud'    => 'pressrag',
            )
        );
    }

    /**
     * Origin (scheme://host[:port]) of home_url(), as a browser would send it.
     */
    public static function site_origin(): string
    {
        $parts = wp_parse_url(home_url());
        $scheme = strtolower((string) ($parts['scheme'] ?? 'http'));
        $origin = $scheme . '://' . strtolower((string) ($parts['host'] ?? ''));
        $port = isset($parts['port']) ? (int) $parts['port'] : 0;
        $default_port = 'https' === $scheme ? 443 : 80;
        if ($port > 0 && $port !== $default_port) {
            $origin .= ':' . $port;
        }
        return $origin;
    }

    /**
     * Count a request for this IP in a fixed one-minute window.
     *
     * @param string $ip Client IP.
     * @return int 0 when allowed, else seconds until the window resets.
     */
    public static function hit_rate_limit(string $ip): int
    {
        /** Filters how many tokens one IP may fetch per minute (0 disables the limit). */
        $limit = (int) apply_filters('pressrag_token_rate_limit', self::DEFAULT_RATE_LIMIT);
        if ($limit <= 0) {
            return 0;
        }
        $now = time();
        $window = intdiv($now, self::RATE_WINDOW);
        $key = 'pressrag_rl_' . md5($ip . '|' . $window);
        $count = (int) get_transient($key);
        if ($count >= $limit) {
            return max(1, ($window + 1) * self::RATE_WINDOW - $now);
        }
        set_transient($key, $count + 1, self::RATE_WINDOW * 2);
        return 0;
    }

    /**
     * Client IP from REMOTE_ADDR. Proxy headers are spoofable, so they are only honoured via the
     * `pressrag_client_ip` filter by a site that knows its proxy.
     */
    public static function client_ip(): string
    {
        $ip = isset($_SERVER['REMOTE_ADDR']) ? sanitize_text_field(wp_unslash($_SERVER['REMOTE_ADDR'])) : '';
        $ip = false !== filter_var($ip, FILTER_VALIDATE_IP) ? $ip : '0.0.0.0';
        return (string) apply_filters('pressrag_client_ip', $ip);
    }
}
