<?php

/**
 * The public token route: answers with a contract-conforming token bound to the visitor, and
 * rate-limits minting per IP atomically.
 *
 * @package PressRAG
 */

/**
 * GET /wp-json/pressrag/v1/token.
 */
final class TokenRouteTest extends PressRAGTestCase
{
    private function dispatch(string $ip, ?string $visitor_cookie = null): WP_REST_Response
    {
        $_SERVER['REMOTE_ADDR'] = $ip;
        if (null !== $visitor_cookie) {
            $_COOKIE[ PressRAG_Token_Route::VISITOR_COOKIE ] = $visitor_cookie;
        }
        $response = rest_do_request(new WP_REST_Request('GET', '/pressrag/v1/token'));
        $_SERVER['REMOTE_ADDR'] = '127.0.0.1';
        unset($_COOKIE[ PressRAG_Token_Route::VISITOR_COOKIE ]);
        return $response;
    }

    /**
     * Claims of the token in a 200 answer.
     *
     * @return array<string,mixed>
     */
    private function claims_of(WP_REST_Response $response): array
    {
        $this->assertSame(200, $response->get_status());
        $claims = PressRAG_Crypto::jwt_decode(self::token_vector()['secret'], $response->get_data()['token']);
        $this->assertIsArray($claims);
        return $claims;
    }

    /**
     * The visitor id a `Set-Cookie` header hands out.
     */
    private function cookie_id(WP_REST_Response $response): string
    {
        $cookie = $response->get_headers()['Set-Cookie'] ?? '';
        $this->assertMatchesRegularExpression('/^pressrag_visitor=([a-f0-9]{32});/', $cookie);
        return substr($cookie, strlen('pressrag_visitor='), 32);
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

    public function testNewVisitorGetsAnHttpOnlyCookieAndATokenBoundToIt(): void
    {
        $ip = $this->fresh_ip();
        $first = $this->dispatch($ip);
        $visitor = $this->cookie_id($first);
        $cookie = $first->get_headers()['Set-Cookie'];
        foreach (array('HttpOnly', 'SameSite=Lax', 'Max-Age=31536000', 'Path=/') as $attribute) {
            $this->assertStringContainsString('; ' . $attribute, $cookie);
        }
        $this->assertStringNotContainsString('Secure', $cookie, 'the test site is http');
        $sub = $this->claims_of($first)['sub'];
        $this->assertMatchesRegularExpression('/^[a-f0-9]{32}$/', $sub);
        $this->assertStringNotContainsString($visitor, $sub, 'the token does not reveal the id');

        // The returning visitor keeps its key and gets no new cookie.
        $again = $this->dispatch($ip, $visitor);
        $this->assertArrayNotHasKey('Set-Cookie', $again->get_headers());
        $this->assertSame($sub, $this->claims_of($again)['sub']);
        // The same cookie from another address, or another visitor at this address: other keys.
        $this->assertNotSame($sub, $this->claims_of($this->dispatch($this->fresh_ip(), $visitor))['sub']);
        $this->assertNotSame($sub, $this->claims_of($this->dispatch($ip, str_repeat('a', 32)))['sub']);
    }

    public function testMalformedVisitorCookieIsReplaced(): void
    {
        foreach (array('<script>', str_repeat('A', 32), 'short', str_repeat('a', 33)) as $bad) {
            $response = $this->dispatch($this->fresh_ip(), $bad);
            $this->assertNotSame($bad, $this->cookie_id($response));
        }
    }

    public function testCookieIsSecureOnAnHttpsSite(): void
    {
        $this->add_filter(
            'home_url',
            static function (string $url): string {
                return (string) preg_replace('#^http://#', 'https://', $url);
            }
        );
        $cookie = $this->dispatch($this->fresh_ip())->get_headers()['Set-Cookie'];
        $this->assertStringEndsWith('; Secure', $cookie);
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
        // test site may hold one from a previous run).
        $this->forget_rate_counters();
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

    /**
     * Forty requests at once from one address against a limit of 30: exactly 30 tokens. The
     * former get-then-set transient let concurrent requests read the same count.
     */
    public function testMintingLimitHoldsUnderConcurrentRequests(): void
    {
        $url = rest_url('pressrag/v1/token');
        for ($attempt = 0; $attempt < 3; $attempt++) {
            $this->forget_rate_counters();
            $window = intdiv(time(), PressRAG_Token_Route::RATE_WINDOW);
            $statuses = $this->get_concurrently($url, 40);
            if (intdiv(time(), PressRAG_Token_Route::RATE_WINDOW) === $window) {
                break; // all in one window; otherwise the count was split: measure again
            }
        }
        $counts = array_count_values($statuses);
        $this->assertSame(PressRAG_Token_Route::DEFAULT_RATE_LIMIT, $counts[200] ?? 0, wp_json_encode($counts));
        $this->assertSame(40 - PressRAG_Token_Route::DEFAULT_RATE_LIMIT, $counts[429] ?? 0, wp_json_encode($counts));
    }

    /**
     * Status codes of $count GET requests sent at the same time (curl_multi).
     *
     * @return int[]
     */
    private function get_concurrently(string $url, int $count): array
    {
        // curl_multi directly: WordPress's HTTP API sends one request at a time.
        $multi = curl_multi_init();
        $handles = array();
        for ($i = 0; $i < $count; $i++) {
            $handle = curl_init($url);
            curl_setopt($handle, CURLOPT_RETURNTRANSFER, true);
            curl_setopt($handle, CURLOPT_TIMEOUT, 30);
            curl_multi_add_handle($multi, $handle);
            $handles[] = $handle;
        }
        do {
            $status = curl_multi_exec($multi, $running);
            if ($running) {
                curl_multi_select($multi, 1.0);
            }
        } while ($running && CURLM_OK === $status);
        $codes = array();
        foreach ($handles as $handle) {
            $codes[] = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
            curl_multi_remove_handle($multi, $handle);
            curl_close($handle);
        }
        curl_multi_close($multi);
        return $codes;
    }

    /**
     * Start from fresh per-address counters (a warm test site may hold some).
     */
    private function forget_rate_counters(): void
    {
        global $wpdb;
        $wpdb->query(
            $wpdb->prepare(
                "DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
                $wpdb->esc_like('_transient_pressrag_rl_') . '%',
                $wpdb->esc_like('_transient_timeout_pressrag_rl_') . '%'
            )
        );
        wp_cache_flush();
    }

    private function assertNotWPError($value): void
    {
        $this->assertFalse(is_wp_error($value), is_wp_error($value) ? $value->get_error_message() : '');
    }
}
