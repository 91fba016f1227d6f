<?php

/**
 * Summaries: written only for public posts, idempotent by (post, content hash, generated_at),
 * opt-in excerpts, and the editor panel's routes.
 *
 * @package PressRAG
 */

/**
 * PressRAG_Summaries.
 */
final class SummariesTest extends PressRAGTestCase
{
    /**
     * Posts and users created by a test.
     *
     * @var array{posts:int[],users:int[]}
     */
    private array $created = array(
        'posts' => array(),
        'users' => array(),
    );

    protected function setUp(): void
    {
        parent::setUp();
        rest_get_server();
        delete_option(PressRAG_Writeback_Settings::OPTION);
    }

    protected function tearDown(): void
    {
        foreach ($this->created['posts'] as $id) {
            wp_delete_post($id, true);
        }
        require_once ABSPATH . 'wp-admin/includes/user.php';
        foreach ($this->created['users'] as $id) {
            wp_delete_user($id);
        }
        $this->created = array(
            'posts' => array(),
            'users' => array(),
        );
        delete_option(PressRAG_Writeback_Settings::OPTION);
        wp_set_current_user(0);
        parent::tearDown();
    }

    public function testStoredOnceThenUnchangedStaleOrReplaced(): void
    {
        $post = $this->post();
        $first = $this->item($post, 'The first summary.', '2026-11-27T05:00:00.000001+00:00');
        $this->assertSame('stored', $this->deliver($first));
        $info = PressRAG_Summaries::info($post);
        $this->assertSame('extractive', $info['generator']);
        $this->assertSame('2026-11-27T05:00:00.000001+00:00', $info['generated_at']);

        $writes = 0;
        $count = static function () use (&$writes): void {
            $writes++;
        };
        $this->add_filter('updated_post_meta', $count);
        $this->assertSame('unchanged', $this->deliver($first), 'the same version again lands once');
        $older = $this->item($post, 'An older summary.', '2026-11-27T04:59:59.999999+00:00');
        $this->assertSame('stale', $this->deliver($older));
        $this->assertSame(0, $writes);
        $this->assertSame('The first summary.', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));

        $newer = $this->item($post, 'A regenerated summary.', '2026-11-27T05:00:00.000002+00:00');
        $this->assertSame('stored', $this->deliver($newer));
        $this->assertSame('A regenerated summary.', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));
    }

    public function testNeverWrittenForWhatThePublicCannotSee(): void
    {
        $private = $this->post(array('post_status' => 'private'));
        $draft = $this->post(array('post_status' => 'draft'));
        $protected = $this->post(array('post_password' => 'secret'));
        $parent = $this->post(array('post_status' => 'private'));
        $media = $this->post(
            array(
                'post_type'      => 'attachment',
                'post_status'    => 'inherit',
                'post_parent'    => $parent,
                'post_mime_type' => 'application/pdf',
            )
        );
        $deleted = $this->post();
        wp_delete_post($deleted, true);
        foreach (array($private, $draft, $protected, $media) as $id) {
            $this->assertSame(array('wp_id' => $id, 'status' => 'skipped', 'reason' => 'not_public'), PressRAG_Summaries::deliver(array($this->item($id, 'No.')))[0]);
            $this->assertSame('', get_post_meta($id, PressRAG_Summaries::META_SUMMARY, true));
        }
        $this->assertSame('not_found', PressRAG_Summaries::deliver(array($this->item($deleted, 'No.')))[0]['reason']);
    }

    public function testInvalidItemsAreSkippedAndTheRestStored(): void
    {
        $post = $this->post();
        $other = $this->post();
        $bad = $this->item($post, 'Bad hash.');
        $bad['content_hash'] = 'not a hash!';
        $results = PressRAG_Summaries::deliver(array($bad, 'not an object', $this->item($other, '<b>Bold</b> <script>x()</script>text.')));
        $this->assertSame(array('skipped', 'skipped', 'stored'), array_column($results, 'status'));
        $this->assertSame('invalid', $results[0]['reason']);
        $this->assertSame('Bold text.', get_post_meta($other, PressRAG_Summaries::META_SUMMARY, true), 'markup never stored');
    }

    public function testExcerptsAreFilledOnlyWhenEmptyAndOptedIn(): void
    {
        $empty = $this->post();
        $this->deliver($this->item($empty, 'Not an excerpt yet.'));
        $this->assertSame('', get_post($empty)->post_excerpt, 'off by default');

        update_option(PressRAG_Writeback_Settings::OPTION, array('fill_excerpts' => true));
        $empty2 = $this->post();
        $written = $this->post(array('post_excerpt' => 'Written by hand.'));
        $this->deliver($this->item($empty2, 'Now an excerpt.'));
        $this->deliver($this->item($written, 'Not over a written one.'));
        $this->assertSame('Now an excerpt.', get_post($empty2)->post_excerpt);
        $this->assertTrue(PressRAG_Summaries::info($empty2)['excerpt_filled']);
        $this->assertSame('Written by hand.', get_post($written)->post_excerpt);
        $this->assertFalse(PressRAG_Summaries::info($written)['excerpt_filled']);
    }

    public function testPanelRoutesNeedEditRights(): void
    {
        $post = $this->post();
        $this->deliver($this->item($post, 'Shown in the panel.'));
        $subscriber = $this->user('subscriber');
        wp_set_current_user($subscriber);
        $this->assertSame(403, rest_do_request(new WP_REST_Request('GET', "/pressrag/v1/summary/{$post}"))->get_status());
        $this->assertSame(403, rest_do_request(new WP_REST_Request('POST', "/pressrag/v1/summary/{$post}/regenerate"))->get_status());
        $this->assertSame(array(), $this->outbox_rows());

        wp_set_current_user($this->user('editor'));
        $data = rest_do_request(new WP_REST_Request('GET', "/pressrag/v1/summary/{$post}"))->get_data();
        $this->assertSame('Shown in the panel.', $data['summary']);
        $this->assertTrue($data['extractive']);
        $this->assertSame('local:test', $data['model']);
        $this->assertNotEmpty($data['generated_display']);
    }

    public function testRegenerateFilesAnOutboxEvent(): void
    {
        $post = $this->post();
        $draft = $this->post(array('post_status' => 'draft'));
        wp_set_current_user($this->user('editor'));
        $response = rest_do_request(new WP_REST_Request('POST', "/pressrag/v1/summary/{$post}/regenerate"));
        $this->assertSame(202, $response->get_status());
        $this->assertNotNull($response->get_data()['regenerate_requested_at']);
        $rows = $this->outbox_rows();
        $this->assertCount(1, $rows);
        $this->assertSame('summary.regenerate_requested', $rows[0]->type);
        $this->assertSame(array('wp_id' => $post, 'post_type' => 'post'), json_decode($rows[0]->payload, true));

        $this->assertSame(409, rest_do_request(new WP_REST_Request('POST', "/pressrag/v1/summary/{$draft}/regenerate"))->get_status());
        $this->assertCount(1, $this->outbox_rows());
    }

    public function testThePanelScriptLoadsOnlyForIndexedTypes(): void
    {
        require_once ABSPATH . 'wp-admin/includes/class-wp-screen.php';
        require_once ABSPATH . 'wp-admin/includes/screen.php';
        set_current_screen('post');
        PressRAG_Summaries::enqueue_panel();
        $this->assertTrue(wp_script_is(PressRAG_Summaries::SCRIPT, 'enqueued'));
        wp_dequeue_script(PressRAG_Summaries::SCRIPT);
        $settings = PressRAG_Settings::stored();
        $settings['post_types'] = array('page');
        update_option(PressRAG_Settings::OPTION, $settings);
        PressRAG_Summaries::enqueue_panel();
        $this->assertFalse(wp_script_is(PressRAG_Summaries::SCRIPT, 'enqueued'));
        set_current_screen('front');
    }

    /**
     * Deliver one item; its result status.
     *
     * @param array<string,mixed> $item Item.
     */
    private function deliver(array $item): string
    {
        return PressRAG_Summaries::deliver(array($item))[0]['status'];
    }

    /**
     * A summary item as the backend sends it.
     *
     * @param int    $post_id      Post.
     * @param string $summary      Text.
     * @param string $generated_at ISO timestamp.
     * @return array<string,mixed>
     */
    private function item(int $post_id, string $summary, string $generated_at = '2026-11-27T05:00:00.000000+00:00'): array
    {
        return array(
            'wp_id'        => $post_id,
            'content_hash' => 'abc123def456',
            'summary'      => $summary,
            'generator'    => 'extractive',
            'model'        => 'local:test',
            'language'     => null,
            'generated_at' => $generated_at,
        );
    }

    /**
     * A post of this test (published unless told otherwise).
     *
     * @param array<string,mixed> $fields Post fields.
     */
    private function post(array $fields = array()): int
    {
        $id = wp_insert_post(
            array_merge(
                array(
                    'post_title'   => 'Summary target',
                    'post_content' => 'Some content.',
                    'post_status'  => 'publish',
                ),
                $fields
            ),
            true
        );
        $this->assertIsInt($id);
        $this->created['posts'][] = $id;
        $this->clear_outbox();
        return $id;
    }

    /**
     * A user of this test.
     *
     * @param string $role Role.
     */
    private function user(string $role): int
    {
        $id = wp_insert_user(array('user_login' => $role . wp_generate_password(6, false), 'user_pass' => wp_generate_password(), 'role' => $role));
        $this->assertIsInt($id);
        $this->created['users'][] = $id;
        return $id;
    }
}
