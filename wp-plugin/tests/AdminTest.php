<?php

/**
 * Admin actions need capability and nonce; settings never echo secrets.
 *
 * @package PressRAG
 */

/**
 * Settings sanitising and admin-post guards.
 */
final class AdminTest extends PressRAGTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->add_filter(
            'wp_die_handler',
            static function (): callable {
                return static function (...$die_args): void {
                    $details = $die_args[2] ?? array();
                    throw new RuntimeException('wp_die: ' . (is_array($details) ? ($details['response'] ?? '') : ''));
                };
            }
        );
        $this->add_filter(
            'wp_redirect',
            static function ($location): void {
                throw new RuntimeException('redirect: ' . $location);
            }
        );
    }

    protected function tearDown(): void
    {
        // Handlers leave a notice for the settings page; do not leave it to the live site.
        delete_transient(PressRAG_Admin::NOTICE_TRANSIENT . $this->admin_id());
        delete_option(PressRAG_Health::OPTION);
        wp_set_current_user(0);
        unset($_REQUEST['_wpnonce'], $_POST['_wpnonce']);
        parent::tearDown();
    }

    private function admin_id(): int
    {
        $admins = get_users(array('role' => 'administrator', 'number' => 1, 'fields' => 'ID'));
        $this->assertNotEmpty($admins);
        return (int) $admins[0];
    }

    private function call(callable $handler): string
    {
        try {
            $handler();
        } catch (RuntimeException $e) {
            return $e->getMessage();
        }
        $this->fail('the handler neither died nor redirected');
    }

    public function testActionsRefuseVisitorsWithoutCapability(): void
    {
        wp_set_current_user(0);
        foreach (array('handle_retry_failed', 'handle_reindex', 'handle_test_connection') as $method) {
            $this->assertSame('wp_die: 403', $this->call(array('PressRAG_Admin', $method)));
        }
        $this->assertSame(array(), $this->sent);
    }

    public function testActionsRefuseAdminsWithoutNonce(): void
    {
        wp_set_current_user($this->admin_id());
        $_REQUEST['_wpnonce'] = 'not-a-nonce';
        $this->assertStringStartsWith('wp_die', $this->call(array('PressRAG_Admin', 'handle_retry_failed')));
        $this->assertStringStartsWith('wp_die', $this->call(array('PressRAG_Admin', 'handle_reindex')));
        $this->assertCount(0, $this->outbox_rows(), 'nothing was recorded without a nonce');
    }

    public function testReindexWithNonceSendsTheEvent(): void
    {
        wp_set_current_user($this->admin_id());
        $_REQUEST['_wpnonce'] = wp_create_nonce('pressrag_reindex');
        $this->answers = array(array(202, ''));
        $this->assertStringStartsWith('redirect: ', $this->call(array('PressRAG_Admin', 'handle_reindex')));
        $this->assertCount(1, $this->sent);
        $this->assertSame('site.reindex_requested', json_decode($this->sent[0][1]['body'], true)['type']);
        $this->assertSame('delivered', $this->outbox_rows()[0]->status);
    }

    /**
     * A connection-test report as the backend sends it, signed with $secret (null: unsigned).
     *
     * @param array<string,string> $codes  Credential => code ('ok' or why not).
     * @param string|null          $secret Webhook secret to sign the answer with.
     * @return array{0:int,1:string,2:array<string,string>}
     */
    private function report(array $codes, ?string $secret): array
    {
        $report = array('site' => self::SITE, 'ok' => array() === array_diff($codes, array('ok')));
        foreach (array('webhook_secret', 'token_secret', 'admin_api_key') as $name) {
            $code = $codes[ $name ] ?? 'ok';
            $report[ $name ] = array('ok' => 'ok' === $code, 'code' => $code, 'message' => 'ok' === $code ? 'accepted' : 'the backend says ' . $code);
        }
        $body = (string) wp_json_encode($report);
        $headers = array();
        if (null !== $secret) {
            $stamp = time();
            $headers = array(
                'webhook-id'        => 'msg_conn_1',
                'webhook-timestamp' => (string) $stamp,
                'webhook-signature' => 'v1,bm90LXRoaXM= ' . PressRAG_Crypto::webhook_signature($secret, 'msg_conn_1', $stamp, $body),
            );
        }
        return array(200, $body, $headers);
    }

    /**
     * Run Test connection against scripted answers; return the notice lines it left.
     *
     * @param array<int,mixed> $answers Answers for /healthz and the connection test.
     * @return array<int,array<string,string>>
     */
    private function test_connection(array $answers): array
    {
        wp_set_current_user($this->admin_id());
        $_REQUEST['_wpnonce'] = wp_create_nonce('pressrag_test_connection');
        $this->answers = $answers;
        $this->assertStringStartsWith('redirect: ', $this->call(array('PressRAG_Admin', 'handle_test_connection')));
        return (array) get_transient(PressRAG_Admin::NOTICE_TRANSIENT . $this->admin_id());
    }

    public function testTestConnectionIsOneSignedRoundTripProvingEachCredential(): void
    {
        $secret = self::webhook_vector()['secret'];
        $lines = $this->test_connection(array(array(200, '{"status":"ok"}'), $this->report(array(), $secret)));

        $this->assertSame(self::BACKEND . '/healthz', $this->sent[0][0]);
        list($url, $args) = $this->sent[1];
        $this->assertSame(self::BACKEND . '/v1/sites/phpunit-site/connection-test', $url);
        $headers = $args['headers'];
        $this->assertSame('Bearer phpunit-admin-key-not-a-real-one', $headers['Authorization']);
        $this->assertSame(
            PressRAG_Crypto::webhook_signature($secret, $headers['webhook-id'], (int) $headers['webhook-timestamp'], $args['body']),
            $headers['webhook-signature'],
            'the body is signed like a webhook'
        );
        $token = json_decode($args['body'], true)['token'];
        $claims = PressRAG_Crypto::jwt_decode(self::token_vector()['secret'], $token);
        $this->assertSame(self::SITE, $claims['site'], 'the token is minted with the token secret');
        $this->assertArrayNotHasKey('Authorization', $this->sent[0][1]['headers']);

        $this->assertSame(array('success', 'success', 'success', 'success'), array_column($lines, 'level'));
        $this->assertStringContainsString('Webhook secret: works', $lines[1]['text']);
        $this->assertStringContainsString('Token secret: works', $lines[2]['text']);
        $this->assertStringContainsString('Admin API key: works', $lines[3]['text']);
        $this->assertTrue(PressRAG_Health::state()['ok']);
    }

    public function testTheCredentialThatDoesNotWorkIsNamed(): void
    {
        $secret = self::webhook_vector()['secret'];
        $lines = $this->test_connection(array(array(200, '{}'), $this->report(array('webhook_secret' => 'invalid_signature'), $secret)));
        $by_level = array();
        foreach ($lines as $line) {
            $by_level[ $line['level'] ][] = $line['text'];
        }
        $this->assertCount(1, $by_level['error']);
        $this->assertStringStartsWith('Webhook secret: does NOT work (the backend says invalid_signature).', $by_level['error'][0]);
        $this->assertStringContainsString('pressrag sites add', $by_level['error'][0]);

        $lines = $this->test_connection(array(array(200, '{}'), $this->report(array('token_secret' => 'invalid_token', 'admin_api_key' => 'invalid'), $secret)));
        $errors = array_values(array_filter($lines, static fn($line) => 'error' === $line['level']));
        $this->assertCount(2, $errors);
        $this->assertStringStartsWith('Token secret: does NOT work', $errors[0]['text']);
        $this->assertStringStartsWith('Admin API key: does NOT work', $errors[1]['text']);
        $this->assertStringContainsString('pressrag keys create --site SITE --scope admin', $errors[1]['text']);
    }

    public function testAnAnswerNotSignedWithOurSecretIsReported(): void
    {
        foreach (array(null, self::token_vector()['secret']) as $signer) {
            $lines = $this->test_connection(array(array(200, '{}'), $this->report(array(), $signer)));
            $last = end($lines);
            $this->assertSame('error', $last['level']);
            $this->assertStringContainsString('not signed with this webhook secret', $last['text']);
        }
    }

    public function testAMissingAdminKeyIsAWarningNotAFailure(): void
    {
        $this->set_admin_key('');
        $lines = $this->test_connection(array(array(200, '{}'), $this->report(array('admin_api_key' => 'missing'), self::webhook_vector()['secret'])));
        $this->assertArrayNotHasKey('Authorization', $this->sent[1][1]['headers']);
        $this->assertSame(array('success', 'success', 'success', 'warning'), array_column($lines, 'level'));
        $this->assertStringContainsString('Admin API key: not set', $lines[3]['text']);
    }

    public function testAnUnreachableBackendStopsAtTheHealthCheck(): void
    {
        $lines = $this->test_connection(array(new WP_Error('http_request_failed', 'cURL error 7: Failed to connect')));
        $this->assertCount(1, $this->sent);
        $this->assertSame('error', $lines[0]['level']);
        $this->assertStringContainsString('Failed to connect', $lines[0]['text']);
        $this->assertTrue(PressRAG_Health::unreachable());
    }

    public function testRetryFailedSendsNow(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $id = $outbox->enqueue('document.upserted', array('wp_id' => 41, 'post_type' => 'post', 'status' => 'publish'), 'document.upserted:41');
        $outbox->forget_request_rows();
        global $wpdb;
        $wpdb->update(PressRAG_Outbox::table(), array('status' => 'dead', 'attempts' => 8, 'last_error' => 'HTTP 401 invalid_signature'), array('id' => $id));

        wp_set_current_user($this->admin_id());
        $_REQUEST['_wpnonce'] = wp_create_nonce('pressrag_retry_failed');
        $this->answers = array(array(202, '{"status":"accepted"}'));
        $this->call(array('PressRAG_Admin', 'handle_retry_failed'));
        $this->assertCount(1, $this->sent, 'sent at once, not a minute later by cron');
        $this->assertSame('delivered', $this->outbox_rows()[0]->status);
        $lines = get_transient(PressRAG_Admin::NOTICE_TRANSIENT . $this->admin_id());
        $this->assertSame('1 event sent.', $lines[0]['text']);
    }

    public function testLastRunIsShownAsReadableRows(): void
    {
        $run = array(
            'run_id'      => 'abc',
            'kind'        => 'targeted',
            'status'      => 'succeeded',
            'started_at'  => gmdate('c', time() - 300),
            'finished_at' => gmdate('c', time() - 228),
            'stats'       => array('documents_indexed' => 3, 'chunks_written' => 1200, 'seconds' => 71.5, 'error' => 'one PDF had no text'),
        );
        $rows = PressRAG_Admin::last_run_rows($run);
        $this->assertSame(array('When', 'What', 'How long', 'How many', 'Error'), array_keys($rows));
        $this->assertStringContainsString('5 mins ago', $rows['When']);
        $this->assertSame('Changes sent by this site — succeeded', $rows['What']);
        $this->assertSame('1 min 12 s', $rows['How long']);
        $this->assertSame('3 documents indexed, 1,200 passages written', $rows['How many']);
        $this->assertSame('one PDF had no text', $rows['Error']);

        require_once ABSPATH . 'wp-admin/includes/template.php';
        require_once ABSPATH . 'wp-admin/includes/plugin.php';
        wp_set_current_user($this->admin_id());
        $this->answers = array(array(200, (string) wp_json_encode(array('site' => self::SITE, 'documents' => 3, 'last_run' => $run))));
        ob_start();
        PressRAG_Admin::render_page();
        $page = (string) ob_get_clean();
        $this->assertStringContainsString('<th scope="row">How long</th><td>1 min 12 s</td>', $page);
        $this->assertStringNotContainsString('run_id', $page, 'no raw JSON');
    }

    private function set_admin_key(string $key): void
    {
        update_option(PressRAG_Settings::OPTION, array_merge(PressRAG_Settings::stored(), array('admin_api_key' => $key)));
    }

    public function testIndexStatusShowsQuarantinedDocuments(): void
    {
        require_once ABSPATH . 'wp-admin/includes/template.php';
        wp_set_current_user($this->admin_id());
        $this->answers = array(
            array(200, '{"site":"phpunit-site","documents":5,"chunks":9,"excluded":0,"failures":3,"quarantined":2,"pending_events":0,"dead_events":0,"last_run":null}'),
        );
        ob_start();
        PressRAG_Admin::render_page();
        $html = (string) ob_get_clean();
        $this->assertSame(self::BACKEND . '/v1/sites/phpunit-site/status', $this->sent[0][0]);
        $this->assertMatchesRegularExpression('#<th scope="row">Quarantined documents[^<]*</th><td>2</td>#', $html);
    }

    public function testUsagePanelShowsTheMonthAndTheBudget(): void
    {
        require_once ABSPATH . 'wp-admin/includes/template.php';
        wp_set_current_user($this->admin_id());
        $usage = array(
            'site'       => self::SITE,
            'requests'   => 1234,
            'cache_hits' => 200,
            'calls'      => 1500,
            'tokens'     => 45678,
            'cost_usd'   => 0.0123,
            'days'       => array(
                array('day' => '2026-11-01', 'requests' => 10, 'tokens' => 100),
                array('day' => '2026-11-02', 'requests' => 20, 'tokens' => 400),
            ),
            'budget'     => array(
                'state' => 'warning',
                'lines' => array(array('name' => 'tokens_per_month', 'used' => 45678, 'limit' => 50000, 'share' => 0.91)),
            ),
        );
        $this->answers = array(
            array(200, '{"site":"phpunit-site","documents":5,"chunks":9,"last_run":null}'),
            array(200, (string) wp_json_encode($usage)),
        );
        ob_start();
        PressRAG_Admin::render_page();
        $html = (string) ob_get_clean();
        $this->assertSame(self::BACKEND . '/v1/sites/phpunit-site/usage', $this->sent[1][0]);
        $this->assertStringContainsString('<th scope="row">Tokens</th><td>45,678</td>', $html);
        $this->assertStringContainsString('<th scope="row">Requests</th><td>1,234</td>', $html);
        $this->assertStringContainsString('WARNING: close to a budget', $html);
        $this->assertStringContainsString('45,678.00 of 50,000.00 (91%)', $html);
        $this->assertSame(2, substr_count($html, '<rect '));
        $this->assertStringContainsString('<title>2026-11-02: 20 requests, 400 tokens</title>', $html);
        $this->assertStringContainsString('height="60" fill', $html, 'the biggest day is the full height');
    }

    public function testSecretFieldsNeverEchoTheSecret(): void
    {
        foreach (array('webhook_secret', 'token_secret', 'admin_api_key') as $key) {
            ob_start();
            PressRAG_Admin::field_secret(array('key' => $key));
            $html = (string) ob_get_clean();
            $this->assertStringNotContainsString((string) PressRAG_Settings::stored()[ $key ], $html);
            $this->assertStringContainsString('value=""', $html);
            $this->assertStringContainsString('set', $html);
        }
    }

    public function testSanitizeKeepsSecretsWhenLeftEmptyAndRejectsBadInput(): void
    {
        $stored = PressRAG_Settings::stored();
        $clean = PressRAG_Settings::sanitize(
            array(
                'backend_url'    => 'javascript:alert(1)',
                'site_id'        => 'Bad Site!',
                'webhook_secret' => '',
                'token_secret'   => 'not-a-secret',
                'post_types'     => array('post', 'no_such_type'),
                'chat_title'     => '<b>Hi</b>',
                'chat_k'         => '0',
            )
        );
        $this->assertSame($stored['backend_url'], $clean['backend_url']);
        $this->assertSame($stored['site_id'], $clean['site_id']);
        $this->assertSame($stored['webhook_secret'], $clean['webhook_secret']);
        $this->assertSame($stored['token_secret'], $clean['token_secret']);
        $this->assertSame(array('post'), $clean['post_types']);
        $this->assertSame('Hi', $clean['chat_title']);
        $this->assertSame(6, $clean['chat_k']);
        $this->assertFalse($clean['outbox_enabled'], 'an unchecked box is off');

        $new_secret = PressRAG_Crypto::generate_secret();
        $clean = PressRAG_Settings::sanitize(
            array(
                'backend_url'         => 'http://127.0.0.1:8000/',
                'site_id'             => 'demo-2',
                'webhook_secret'      => $new_secret,
                'clear_admin_api_key' => '1',
                'outbox_enabled'      => '1',
            )
        );
        $this->assertSame('http://127.0.0.1:8000', $clean['backend_url']);
        $this->assertSame('demo-2', $clean['site_id']);
        $this->assertSame($new_secret, $clean['webhook_secret']);
        $this->assertSame('', $clean['admin_api_key']);
        $this->assertTrue($clean['outbox_enabled']);
    }
}
