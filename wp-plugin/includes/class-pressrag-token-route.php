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
 *
 * Each token carries `sub`, a keyed hash of the visitor's id cookie and the client address:
 * the backend's per-visitor rate limit keys on it. A visitor without the cookie gets a new
 * random id (HttpOnly, SameSite=Lax, Secure on https sites). Minting itself is limited per
 * address with a counter incremented atomically in the database, so a client that drops
 * its cookie gets at most that many fresh visitor ids a minute.
 */
final class PressRAG_Token_Route
{
    public const REST_NAMESPACE = 'pressrag/v1';
    public const TTL = 300;
    public const DEFAULT_RATE_LIMIT = 30;
    public const RATE_WINDOW = 60;
    public const VISITOR_COOKIE = 'pressrag_visitor';
    public const VISITOR_COOKIE_SECONDS = 31536000;

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
        $ip = self::client_ip();
        $retry_after = self::hit_rate_limit($ip);
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
        $visitor = self::visitor_cookie_id();
        $is_new_visitor = '' === $visitor;
        if ($is_new_visitor) {
            $visitor = bin2hex(random_bytes(16));
        }
        $response = new WP_REST_Response(
            array(
                'token'      => self::mint(time(), self::visitor_key($visitor, $ip)),
                'expires_in' => self::TTL,
                'site'       => PressRAG_Settings::site_id(),
                'backend'    => PressRAG_Settings::backend_url(),
            ),
            200
        );
        // A token is per visitor and short-lived: no shared cache may keep it.
        $response->header('Cache-Control', 'no-store, private');
        if ($is_new_visitor) {
            $response->header('Set-Cookie', self::visitor_cookie_header($visitor));
        }
        return $response;
    }

    /**
     * The token for this site issued at $now (claims per docs/contracts.md).
     *
     * @param int    $now     Issue time (Unix seconds).
     * @param string $visitor Visitor key (`sub`); omitted when empty.
     */
    public static function mint(int $now, string $visitor = ''): string
    {
        $claims = array(
            'site'   => PressRAG_Settings::site_id(),
            'origin' => self::site_origin(),
            'iat'    => $now,
            'exp'    => $now + self::TTL,
            'aud'    => 'pressrag',
        );
        if ('' !== $visitor) {
            $claims['sub'] = $visitor;
        }
        return PressRAG_Crypto::jwt_encode(PressRAG_Settings::token_secret(), $claims);
    }

    /**
     * The visitor key: a keyed hash (WordPress's salts) of the visitor id and the client
     * address, so the token reveals neither and a copied cookie used elsewhere is another key.
     *
     * @param string $visitor_id Visitor id from the cookie.
     * @param string $ip         Client address.
     */
    public static function visitor_key(string $visitor_id, string $ip): string
    {
        return wp_hash('pressrag-visitor|' . $visitor_id . '|' . $ip, 'nonce');
    }

    /**
     * The visitor id from the request's cookie, or '' when absent or malformed.
     */
    public static function visitor_cookie_id(): string
    {
        if (! isset($_COOKIE[ self::VISITOR_COOKIE ]) || ! is_string($_COOKIE[ self::VISITOR_COOKIE ])) {
            return '';
        }
        $value = sanitize_text_field(wp_unslash($_COOKIE[ self::VISITOR_COOKIE ]));
        return 1 === preg_match('/^[a-f0-9]{32}$/', $value) ? $value : '';
    }

    /**
     * `Set-Cookie` value for a new visitor id: HttpOnly (scripts never read it), SameSite=Lax,
     * Secure when the site is served over https.
     *
     * @param string $visitor_id Visitor id.
     */
    public static function visitor_cookie_header(string $visitor_id): string
    {
        $path = defined('COOKIEPATH') && '' !== COOKIEPATH ? COOKIEPATH : '/';
        $parts = array(
            self::VISITOR_COOKIE . '=' . $visitor_id,
            'Expires=' . gmdate('D, d M Y H:i:s', time() + self::VISITOR_COOKIE_SECONDS) . ' GMT',
            'Max-Age=' . self::VISITOR_COOKIE_SECONDS,
            'Path=' . $path,
            'HttpOnly',
            'SameSite=Lax',
        );
        if (is_ssl() || 'https' === wp_parse_url(home_url(), PHP_URL_SCHEME)) {
            $parts[] = 'Secure';
        }
        return implode('; ', $parts);
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
        $count = self::increment_counter('pressrag_rl_' . md5($ip . '|' . $window), ($window + 2) * self::RATE_WINDOW);
        if ($count > $limit) {
            return max(1, ($window + 1) * self::RATE_WINDOW - $now);
        }
        return 0;
    }

    /**
     * Add one to a named counter and return the new count, atomically: one UPDATE under the
     * row lock, its result read back through LAST_INSERT_ID() of this connection. (A
     * transient's get-then-set loses counts when requests run at the same time.) The rows are
     * named like a transient's, with a timeout row, so WordPress's cleanup of expired
     * transients removes old windows.
     *
     * @param string $name    Counter name (a transient name).
     * @param int    $expires When the counter may be removed (Unix seconds).
     */
    private static function increment_counter(string $name, int $expires): int
    {
        global $wpdb;
        $wpdb->query(
            $wpdb->prepare(
                "INSERT IGNORE INTO {$wpdb->options} (option_name, option_value, autoload) VALUES (%s, %s, 'no'), (%s, '0', 'no')",
                '_transient_timeout_' . $name,
                (string) $expires,
                '_transient_' . $name
            )
        );
        $updated = $wpdb->query(
            $wpdb->prepare(
                "UPDATE {$wpdb->options} SET option_value = LAST_INSERT_ID(option_value + 1) WHERE option_name = %s",
                '_transient_' . $name
            )
        );
        if (1 !== $updated) {
            return 0; // No counter (a database error): never lock visitors out because of it.
        }
        return (int) $wpdb->get_var('SELECT LAST_INSERT_ID()');
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
