<?php

/**
 * Draft with PressRAG: who may ask (edit_posts), what is filed, and the draft the callback
 * creates — a draft, by the requesting user, citing and linking public posts only, once.
 *
 * @package PressRAG
 */

/**
 * PressRAG_Drafts.
 */
final class DraftsTest extends PressRAGTestCase
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
    }

    protected function tearDown(): void
    {
        global $wpdb;
        foreach ($this->created['posts'] as $id) {
            wp_delete_post($id, true);
        }
        require_once ABSPATH . 'wp-admin/includes/user.php';
        foreach ($this->created['users'] as $id) {
            $wpdb->delete(PressRAG_Writeback_Schema::drafts_table(), array('user_id' => $id));
            wp_delete_user($id);
        }
        $this->created = array(
            'posts' => array(),
            'users' => array(),
        );
        wp_set_current_user(0);
        parent::tearDown();
    }

    public function testOnlyUsersWhoWritePostsCanAsk(): void
    {
        $request = $this->start_request(array('topic' => 'Bees'));
        $this->assertSame(401, rest_do_request($request)->get_status(), 'signed out');
        wp_set_current_user($this->user('subscriber'));
        $this->assertSame(403, rest_do_request($request)->get_status());
        $this->assertSame(403, rest_do_request(new WP_REST_Request('GET', '/pressrag/v1/drafts'))->get_status());
        $this->assertSame(array(), $this->outbox_rows());
    }

    public function testARequestIsRecordedAndFiled(): void
    {
        $author = $this->user('author');
        wp_set_current_user($author);
        $response = rest_do_request($this->start_request(array('topic' => '  Bees in <b>winter</b> ', 'outline' => "- Cluster\n\n* Food stores\n", 'words' => 300)));
        $this->assertSame(201, $response->get_status());
        $started = $response->get_data();
        $this->assertMatchesRegularExpression(PressRAG_Drafts::REQUEST_ID_PATTERN, $started['request_id']);
        $this->assertSame('queued', $started['status']);
        $this->assertSame('Bees in winter', $started['topic']);
        $rows = $this->outbox_rows();
        $this->assertCount(1, $rows);
        $this->assertSame('draft.requested', $rows[0]->type);
        $this->assertSame(
            array(
                'request_id' => $started['request_id'],
                'topic'      => 'Bees in winter',
                'outline'    => array('Cluster', 'Food stores'),
                'words'      => 300,
            ),
            json_decode($rows[0]->payload, true)
        );
        $listed = rest_do_request(new WP_REST_Request('GET', '/pressrag/v1/drafts'))->get_data();
        $this->assertSame($started['request_id'], $listed[0]['request_id']);

        foreach (array(array('topic' => ''), array('topic' => 'x', 'words' => 123)) as $bad) {
            $this->assertSame(400, rest_do_request($this->start_request($bad))->get_status());
        }
        $this->assertCount(1, $this->outbox_rows());
    }

    public function testTheCallbackCreatesOneDraftByTheRequester(): void
    {
        $author = $this->user('author');
        $public = $this->post(array('post_title' => 'Feeding bees'));
        $private = $this->post(array('post_title' => 'Private notes', 'post_status' => 'private'));
        $request = $this->started($author, 'Bees in winter');
        $this->assertSame(array('status' => 'recorded'), PressRAG_Drafts::progress($this->message('draft.progress', $request, array('status' => 'running', 'message' => 'Finding'))));

        $answer = PressRAG_Drafts::create($this->message('draft.create', $request, array('draft' => $this->draft($public, $private))));
        $this->assertSame('created', $answer['status']);
        $post = get_post($answer['post_id']);
        $this->created['posts'][] = $post->ID;
        $this->assertSame('draft', $post->post_status);
        $this->assertSame($author, (int) $post->post_author);
        $this->assertSame('Bees in winter, a guide', $post->post_title);
        $content = $post->post_content;
        $link = esc_url(get_permalink($public));
        $this->assertStringContainsString('<a href="' . $link . '">[1]</a>', $content, 'citations link the source');
        $this->assertStringContainsString('<a href="' . $link . '">Feeding bees</a>', $content, 'sources listed');
        $this->assertStringNotContainsString('Private notes', $content);
        $this->assertStringNotContainsString('[2]', $content, 'a marker of a source that is not public is dropped');
        $this->assertStringNotContainsString('[9]', $content);
        $this->assertStringNotContainsString('<script', $content);
        $this->assertStringContainsString('&lt;script&gt;', $content);
        $this->assertStringContainsString('<!-- wp:heading -->', $content);
        $this->assertStringContainsString('Draft written by PressRAG (fake-chat-1)', $content);
        $this->assertSame(array($public), get_post_meta($post->ID, '_pressrag_draft_sources', true));

        $again = PressRAG_Drafts::create($this->message('draft.create', $request, array('draft' => $this->draft($public, $private))));
        $this->assertSame(array('exists', $post->ID), array($again['status'], $again['post_id']));
        $this->assertCount(1, get_posts(array('post_status' => 'draft', 'meta_key' => '_pressrag_draft_request', 'meta_value' => $request, 'numberposts' => -1)));
        $row = PressRAG_Drafts::find($request);
        $this->assertSame(array('done', $post->ID), array($row->status, (int) $row->post_id));
        $this->assertSame(array('status' => 'ignored'), PressRAG_Drafts::progress($this->message('draft.progress', $request, array('status' => 'failed'))));
    }

    public function testAResearchBriefSaysWhatItIs(): void
    {
        $author = $this->user('editor');
        $public = $this->post(array('post_title' => 'Feeding bees'));
        $request = $this->started($author, 'Bees');
        $draft = array(
            'title'     => 'Bees',
            'kind'      => 'research_brief',
            'generator' => 'extractive',
            'model'     => 'none',
            'blocks'    => array(array('type' => 'quote', 'text' => 'Bees eat honey.', 'source' => 1)),
            'sources'   => array(array('n' => 1, 'wp_id' => $public, 'title' => 'ignored', 'url' => 'https://evil.example/')),
        );
        $answer = PressRAG_Drafts::create($this->message('draft.create', $request, array('draft' => $draft)));
        $this->created['posts'][] = $answer['post_id'];
        $content = get_post($answer['post_id'])->post_content;
        $this->assertStringContainsString('Research brief by PressRAG', $content);
        $this->assertStringContainsString('<cite><a href="' . esc_url(get_permalink($public)) . '">Feeding bees</a></cite>', $content);
        $this->assertStringNotContainsString('evil.example', $content, 'links come from WordPress, not the message');
    }

    public function testNoDraftForAUserWhoMayNoLongerWrite(): void
    {
        $author = $this->user('author');
        $request = $this->started($author, 'Bees');
        ( new WP_User($author) )->set_role('subscriber');
        $answer = PressRAG_Drafts::create($this->message('draft.create', $request, array('draft' => $this->draft(0, 0))));
        $this->assertSame(array('status' => 'refused', 'reason' => 'author_cannot_edit_posts'), $answer);
        $this->assertSame('failed', PressRAG_Drafts::find($request)->status);
        $this->assertSame(array('status' => 'unknown_request'), PressRAG_Drafts::create($this->message('draft.create', 'drq_00000000-0000-4000-8000-00000000dead', array())));
    }

    public function testTheScreenAndItsFormNeedTheCapability(): void
    {
        $this->add_filter(
            'wp_die_handler',
            static function (): callable {
                return static function (...$die_args): void {
                    $details = $die_args[2] ?? array();
                    throw new RuntimeException('wp_die: ' . (is_array($details) ? ($details['response'] ?? '') : ''));
                };
            }
        );
        wp_set_current_user($this->user('subscriber'));
        try {
            PressRAG_Drafts::handle_form();
            $this->fail('no capability, no draft');
        } catch (RuntimeException $e) {
            $this->assertSame('wp_die: 403', $e->getMessage());
        }
        wp_set_current_user($this->user('author'));
        require_once ABSPATH . 'wp-admin/includes/template.php';
        ob_start();
        PressRAG_Drafts::render_page();
        $page = (string) ob_get_clean();
        $this->assertStringContainsString('name="_wpnonce"', $page);
        $this->assertStringContainsString('id="pressrag-draft-topic"', $page);
        $this->assertSame(array(), $this->outbox_rows());
    }

    /**
     * A draft as the backend sends it, citing a public post [1], a private one [2] and [9].
     *
     * @param int $public  Public post.
     * @param int $private Private post.
     * @return array<string,mixed>
     */
    private function draft(int $public, int $private): array
    {
        return array(
            'title'     => 'Bees in winter, a guide',
            'kind'      => 'prose',
            'generator' => 'openai',
            'model'     => 'fake-chat-1',
            'blocks'    => array(
                array('type' => 'heading', 'text' => 'Keeping warm', 'level' => 2),
                array('type' => 'paragraph', 'text' => 'Bees cluster [1]. Notes say more [2]. Nobody said this [9]. <script>alert(1)</script>'),
                array('type' => 'list', 'items' => array('Feed fondant [1]', '')),
                array('type' => 'unknown', 'text' => 'dropped'),
            ),
            'sources'   => array(
                array('n' => 1, 'wp_id' => $public, 'title' => 'Feeding bees', 'url' => 'https://x/'),
                array('n' => 2, 'wp_id' => $private, 'title' => 'Private notes', 'url' => 'https://x/p'),
            ),
        );
    }

    /**
     * A verified callback message.
     *
     * @param string              $type       Type.
     * @param string              $request_id Request id.
     * @param array<string,mixed> $fields     More fields.
     * @return array<string,mixed>
     */
    private function message(string $type, string $request_id, array $fields): array
    {
        return array_merge(
            array(
                'type'       => $type,
                'site'       => self::SITE,
                'request_id' => $request_id,
            ),
            $fields
        );
    }

    /**
     * A request started by a user; its id.
     *
     * @param int    $user_id User.
     * @param string $topic   Topic.
     */
    private function started(int $user_id, string $topic): string
    {
        $started = PressRAG_Drafts::start($user_id, $topic, '', 600);
        $this->assertIsArray($started);
        return $started['request_id'];
    }

    /**
     * `POST /pressrag/v1/drafts` with these parameters.
     *
     * @param array<string,mixed> $params Body parameters.
     */
    private function start_request(array $params): WP_REST_Request
    {
        $request = new WP_REST_Request('POST', '/pressrag/v1/drafts');
        $request->set_header('content-type', 'application/json');
        $request->set_body((string) wp_json_encode($params));
        return $request;
    }

    /**
     * A post of this test.
     *
     * @param array<string,mixed> $fields Fields.
     */
    private function post(array $fields): int
    {
        $id = wp_insert_post(array_merge(array('post_content' => 'Bees.', 'post_status' => 'publish'), $fields), true);
        $this->assertIsInt($id);
        $this->created['posts'][] = $id;
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
