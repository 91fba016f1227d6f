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

    public function testTestConnectionCallsHealthAndStatusWithTheAdminKey(): void
    {
        wp_set_current_user($this->admin_id());
        $_REQUEST['_wpnonce'] = wp_create_nonce('pressrag_test_connection');
        $this->answers = array(array(200, '{"status":"ok"}'), array(200, '{"site":"phpunit-site","documents":3}'));
        $this->call(array('PressRAG_Admin', 'handle_test_connection'));
        $this->assertSame(self::BACKEND . '/healthz', $this->sent[0][0]);
        $this->assertSame(self::BACKEND . '/v1/sites/phpunit-site/status', $this->sent[1][0]);
        $this->assertSame('Bearer phpunit-admin-key-not-a-real-one', $this->sent[1][1]['headers']['Authorization']);
        $this->assertArrayNotHasKey('Authorization', $this->sent[0][1]['headers']);
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
