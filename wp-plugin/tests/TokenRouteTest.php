<?php

/**
 * The public token route: answers with a contract-conforming token and rate-limits per IP.
 *
 * @package PressRAG
 */

/**
 * GET /wp-json/pressrag/v1/token.
 */
final class TokenRouteTest extends PressRAGTestCase
{
    private function dispatch(string $ip): WP_REST_Response
    {
        $_SERVER['REMOTE_ADDR'] = $ip;
        $response = rest_do_request(new WP_REST_Request('GET', '/pressrag/v1/token'));
        $_SERVER['REMOTE_ADDR'] = '127.0.0.1';
        return $response;
    }

    /**
     * A client address no other request in this run used (198.18.0.0/15 is reserved for
     * benchmarks: never a real client).
     */
    private function fresh_ip(): string
    {
        static $next = null;
        $next = null === $next ? random_int(0, 60000) : $next + 1;
        return '198.18.' . intdiv($next % 65536, 256) . '.' . ($next % 256);
    }

    protected function setUp(): void
    {
        parent::setUp();
        // Internal dispatch needs the REST server and routes.
        rest_get_server();
    }

    public function testAnswersWithAValidToken(): void
    {
        $response = $this->dispatch($this->fresh_ip());
        $this->assertSame(200, $response->get_status());
        $data = $response->get_data();
        $this->assertSame(array('token', 'expires_in', 'site', 'backend'), array_keys($data));
        $this->assertSame(300, $data['expires_in']);
        $this->assertSame(self::SITE, $data['site']);
        $this->assertSame(self::BACKEND, $data['backend']);
        $this->assertStringContainsString('no-store', $response->get_headers()['Cache-Control']);

        $claims = PressRAG_Crypto::jwt_decode(self::token_vector()['secret'], $data['token']);
        $this->assertIsArray($claims);
        $this->assertSame(self::SITE, $claims['site']);
        $this->assertSame('pressrag', $claims['aud']);
        $this->assertSame(PressRAG_Token_Route::site_origin(), $claims['origin']);
        $this->assertEqualsWithDelta(time(), $claims['iat'], 5);
        $this->assertSame(300, $claims['exp'] - $claims['iat']);
        $this->assertStringNotContainsString(self::token_vector()['secret'], wp_json_encode($data));
    }

    public function testRateLimitedPerIp(): void
    {
        $this->add_filter(
            'pressrag_token_rate_limit',
            static function (): int {
                return 3;
            }
        );
        $ip = $this->fresh_ip();
        $statuses = array();
        // Seven requests straddle a minute boundary at most once (3 + 3 allowed): one is refused.
        for ($i = 0; $i < 7; $i++) {
            $statuses[] = $this->dispatch($ip)->get_status();
        }
        $this->assertSame(array(200, 200, 200), array_slice($statuses, 0, 3));
        $this->assertContains(429, $statuses, 'statuses: ' . implode(',', $statuses) . ' at ' . microtime(true));
        $limited = $this->dispatch($ip);
        if (429 === $limited->get_status()) {
            $this->assertGreaterThanOrEqual(1, (int) $limited->get_headers()['Retry-After']);
            $this->assertLessThanOrEqual(60, (int) $limited->get_headers()['Retry-After']);
        }
        // Another client is unaffected.
        $this->assertSame(200, $this->dispatch($this->fresh_ip())->get_status());
    }

    public function testUnconfiguredSiteAnswers503(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['token_secret'] = '';
        update_option(PressRAG_Settings::OPTION, $settings);
        $response = $this->dispatch($this->fresh_ip());
        $this->assertSame(503, $response->get_status());
    }

    public function testRouteIsPublic(): void
    {
        wp_set_current_user(0);
        $response = $this->dispatch($this->fresh_ip());
        $this->assertSame(200, $response->get_status());
    }

    public function testOverRealHttpAndLimitedThere(): void
    {
        $this->use_real_http();
        // The server sees this process as 127.0.0.1: start from a fresh counter for it (a warm
        // test site may hold one from a previous run). This process never cached it.
        global $wpdb;
        $wpdb->query(
            $wpdb->prepare(
                "DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
                $wpdb->esc_like('_transient_pressrag_rl_') . '%',
                $wpdb->esc_like('_transient_timeout_pressrag_rl_') . '%'
            )
        );
        wp_cache_flush();
        $url = rest_url('pressrag/v1/token');
        $response = wp_remote_get($url, array('timeout' => 10));
        $this->assertNotWPError($response);
        $this->assertSame(200, wp_remote_retrieve_response_code($response));
        $body = json_decode(wp_remote_retrieve_body($response), true);
        $claims = PressRAG_Crypto::jwt_decode(self::token_vector()['secret'], (string) $body['token']);
        $this->assertIsArray($claims);
        $this->assertSame(self::SITE, $claims['site']);

        // Default limit is 30 a minute per IP; a window boundary can reset the count once.
        $statuses = array();
        for ($i = 0; $i < 65 && ! in_array(429, $statuses, true); $i++) {
            $statuses[] = (int) wp_remote_retrieve_response_code(wp_remote_get($url, array('timeout' => 10)));
        }
        $this->assertContains(429, $statuses);
        $this->assertGreaterThanOrEqual(29, count($statuses) - 1);
    }

    private function assertNotWPError($value): void
    {
        $this->assertFalse(is_wp_error($value), is_wp_error($value) ? $value->get_error_message() : '');
    }
}
