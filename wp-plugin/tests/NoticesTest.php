<?php

/**
 * Guidance: the set-up notice after activation, and trouble (dead events, an unreachable
 * backend) on the dashboard and in the block editor.
 *
 * @package PressRAG
 */

/**
 * Notices and the backend health they read.
 */
final class NoticesTest extends PressRAGTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        require_once ABSPATH . 'wp-admin/includes/class-wp-screen.php';
        require_once ABSPATH . 'wp-admin/includes/screen.php';
        wp_set_current_user($this->admin_id());
    }

    protected function tearDown(): void
    {
        delete_option(PressRAG_Notices::SETUP_OPTION);
        delete_option(PressRAG_Health::OPTION);
        wp_dequeue_script(PressRAG_Notices::EDITOR_HANDLE);
        wp_deregister_script(PressRAG_Notices::EDITOR_HANDLE);
        wp_set_current_user(0);
        $GLOBALS['current_screen'] = null;
        parent::tearDown();
    }

    private function admin_id(): int
    {
        return (int) get_users(array('role' => 'administrator', 'number' => 1, 'fields' => 'ID'))[0];
    }

    private function notices_on(string $screen): string
    {
        set_current_screen($screen);
        ob_start();
        PressRAG_Notices::render_admin_notices();
        return (string) ob_get_clean();
    }

    private function unconfigure(): void
    {
        update_option(PressRAG_Settings::OPTION, array_merge(PressRAG_Settings::stored(), array('backend_url' => '', 'webhook_secret' => '')));
    }

    public function testActivationAsksForSetupUntilConfigured(): void
    {
        $this->unconfigure();
        PressRAG_Installer::activate(false);
        $html = $this->notices_on('plugins');
        $this->assertStringContainsString('Set up PressRAG', $html);
        $this->assertStringContainsString(esc_url(PressRAG_Admin::page_url()), $html);
        $this->assertStringContainsString('_wpnonce=', $html, 'the dismiss link carries a nonce');
        $this->assertStringNotContainsString('Set up PressRAG', $this->notices_on('settings_page_pressrag'));

        wp_set_current_user(0);
        $this->assertSame('', $this->notices_on('plugins'), 'only for those who can set it up');
        wp_set_current_user($this->admin_id());

        // Configured: the notice retires itself.
        update_option(PressRAG_Settings::OPTION, array_merge(PressRAG_Settings::stored(), array('backend_url' => self::BACKEND, 'webhook_secret' => self::webhook_vector()['secret'])));
        $this->assertStringNotContainsString('Set up PressRAG', $this->notices_on('plugins'));
        $this->assertFalse(get_option(PressRAG_Notices::SETUP_OPTION));
    }

    public function testDismissNeedsANonce(): void
    {
        update_option(PressRAG_Notices::SETUP_OPTION, 1);
        $_REQUEST['_wpnonce'] = 'forged';
        add_filter('wp_die_handler', array($this, 'die_handler'));
        try {
            PressRAG_Notices::handle_dismiss_setup();
            $this->fail('dismissed without a nonce');
        } catch (RuntimeException $e) {
            $this->assertSame('1', (string) get_option(PressRAG_Notices::SETUP_OPTION));
        } finally {
            remove_filter('wp_die_handler', array($this, 'die_handler'));
            unset($_REQUEST['_wpnonce']);
        }
    }

    public function die_handler(): callable
    {
        return static function (): void {
            throw new RuntimeException('wp_die');
        };
    }

    public function testNoTroubleNoNotice(): void
    {
        $this->assertSame(array(), PressRAG_Notices::problems());
        $this->assertSame('', $this->notices_on('dashboard'));
        PressRAG_Notices::enqueue_editor_notice();
        $this->assertFalse(wp_script_is(PressRAG_Notices::EDITOR_HANDLE, 'enqueued'));
    }

    public function testDeadEventsAndAnUnreachableBackendAreShownOnTheDashboard(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $id = $outbox->enqueue('document.upserted', array('wp_id' => 5, 'post_type' => 'post', 'status' => 'publish'), 'document.upserted:5');
        $outbox->forget_request_rows();
        $this->answers = array(array(401, '{"error":"invalid_signature","message":"the webhook signature does not verify"}'));
        $outbox->deliver_ids(array($id), 5.0, 1.0);
        $this->assertSame('dead', $this->outbox_rows()[0]->status);

        $html = $this->notices_on('dashboard');
        $this->assertStringContainsString('gave up sending 1 content change', $html);
        $this->assertStringContainsString('#pressrag-outbox', $html);
        $this->assertFalse(PressRAG_Health::unreachable(), 'an HTTP answer means the backend is there');
        $this->assertStringNotContainsString('gave up', $this->notices_on('edit-post'), 'the dashboard, not every screen');

        $this->answers = array(new WP_Error('http_request_failed', 'cURL error 7: Failed to connect'));
        $outbox->enqueue('document.deleted', array('wp_id' => 6, 'post_type' => 'post'), 'document.deleted:6');
        $outbox->deliver_request_rows();
        $this->assertTrue(PressRAG_Health::unreachable());
        $this->assertStringContainsString('cannot reach its backend', $this->notices_on('dashboard'));

        $this->answers = array(array(202, '{}'));
        $this->make_due((int) $this->outbox_rows()[1]->id);
        $outbox->deliver_due();
        $this->assertFalse(PressRAG_Health::unreachable(), 'the next answer clears it');
    }

    public function testTheBlockEditorWarnsWhoeverEdits(): void
    {
        PressRAG_Health::record(false, 'transport: timed out');
        PressRAG_Notices::enqueue_editor_notice();
        $this->assertTrue(wp_script_is(PressRAG_Notices::EDITOR_HANDLE, 'enqueued'));
        $script = wp_scripts()->registered[ PressRAG_Notices::EDITOR_HANDLE ];
        $this->assertContains('wp-notices', $script->deps);
        $inline = implode("\n", (array) $script->extra['before']);
        $this->assertStringContainsString('cannot reach its backend', $inline);
        $this->assertStringContainsString('options-general.php?page=pressrag', $inline, 'admins get a link to the status');
        foreach (array(self::webhook_vector()['secret'], self::token_vector()['secret'], 'phpunit-admin-key-not-a-real-one') as $secret) {
            $this->assertStringNotContainsString($secret, $inline);
        }
        wp_dequeue_script(PressRAG_Notices::EDITOR_HANDLE);
        wp_deregister_script(PressRAG_Notices::EDITOR_HANDLE);

        $author = wp_insert_user(array('user_login' => 'author' . wp_generate_password(6, false), 'user_pass' => wp_generate_password(), 'role' => 'author'));
        $this->assertIsInt($author);
        try {
            wp_set_current_user($author);
            PressRAG_Notices::enqueue_editor_notice();
            $inline = implode("\n", (array) wp_scripts()->registered[ PressRAG_Notices::EDITOR_HANDLE ]->extra['before']);
            $this->assertStringContainsString('cannot reach its backend', $inline, 'authors see it too');
            $this->assertStringContainsString('"action":null', $inline, 'but no link to a screen they cannot open');
        } finally {
            require_once ABSPATH . 'wp-admin/includes/user.php';
            wp_delete_user($author);
        }
    }

    public function testHealthIsProbedFromCronAtMostEveryTenMinutes(): void
    {
        $this->answers = array(array(200, '{"status":"ok"}'));
        PressRAG_Health::maybe_probe();
        $this->assertCount(1, $this->sent);
        $this->assertSame(self::BACKEND . '/healthz', $this->sent[0][0]);
        PressRAG_Health::maybe_probe();
        $this->assertCount(1, $this->sent, 'recently known: no second probe');
        $this->assertTrue(PressRAG_Health::state()['ok']);
    }
}
