<?php

/**
 * The write-back callback route: signatures as the shared vectors say, and a forged, stale or
 * replayed message is refused with a 401 before anything is written.
 *
 * @package PressRAG
 */

/**
 * POST /wp-json/pressrag/v1/callback.
 */
final class CallbackRouteTest extends PressRAGTestCase
{
    /**
     * Posts created by a test.
     *
     * @var int[]
     */
    private array $posts = array();

    protected function setUp(): void
    {
        parent::setUp();
        rest_get_server();
    }

    protected function tearDown(): void
    {
        foreach ($this->posts as $id) {
            wp_delete_post($id, true);
        }
        parent::tearDown();
    }

    /**
     * Every callback vector, by name.
     *
     * @return array<string,array{0:array<string,mixed>}>
     */
    public function callbackCases(): array
    {
        $cases = array();
        foreach (self::vectors('callback_signatures.json')['cases'] as $case) {
            $cases[ $case['name'] ] = array($case);
        }
        return $cases;
    }

    /**
     * @dataProvider callbackCases
     * @param array<string,mixed> $case Vector.
     */
    public function testSignaturesMatchTheSharedVectors(array $case): void
    {
        $secrets = $case['secrets'] ?? array($case['secret']);
        $header = implode(' ', array_map(static fn(string $s): string => PressRAG_Callback_Route::signature($s, $case['id'], (int) $case['timestamp'], $case['body']), $secrets));
        $this->assertSame($case['expected_signature'], $header);
        foreach ($secrets as $secret) {
            $this->assertTrue(PressRAG_Callback_Route::signature_matches($secret, $case['id'], (int) $case['timestamp'], $case['body'], $case['expected_signature']));
        }
        if (isset($case['callback_key'])) {
            $this->assertSame($case['callback_key'], base64_encode((string) PressRAG_Callback_Route::callback_key($case['secret'])));
            $this->assertFalse(
                PressRAG_Callback_Route::signature_matches($case['secret'], $case['id'], (int) $case['timestamp'], $case['body'], $case['webhook_signature']),
                'a webhook signature (the other direction) never verifies as a callback'
            );
            $this->assertFalse(PressRAG_Callback_Route::signature_matches($case['secret'], $case['id'], (int) $case['timestamp'], $case['body'] . ' ', $case['expected_signature']));
        }
    }

    public function testASignedDeliveryIsStored(): void
    {
        $post = $this->post('publish');
        $response = $this->send($this->delivery($post, 'First summary.'));
        $this->assertSame(200, $response->get_status());
        $this->assertSame(array(array('wp_id' => $post, 'status' => 'stored')), $response->get_data()['results']);
        $this->assertSame('First summary.', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));
    }

    public function testForgedMessagesAreRefusedAndWriteNothing(): void
    {
        $post = $this->post('publish');
        $body = $this->delivery($post, 'Forged summary.');
        $cases = array(
            'wrong secret'    => $this->request($body, array('secret' => PressRAG_Crypto::generate_secret())),
            'webhook key'     => $this->request($body, array('raw_webhook_key' => true)),
            'no signature'    => $this->request($body, array('signature' => '')),
            'other site'      => $this->request($body, array('site' => 'another-site')),
            'body changed'    => $this->request($body, array('body' => str_replace('Forged', 'Changed', $body))),
        );
        foreach ($cases as $name => $request) {
            $response = rest_do_request($request);
            $this->assertSame(401, $response->get_status(), $name);
            $this->assertSame('pressrag_invalid_signature', $response->get_data()['code'], $name);
        }
        $this->assertSame('', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));
    }

    public function testReplayedAndStaleMessagesAreRefused(): void
    {
        $post = $this->post('publish');
        $request = $this->request($this->delivery($post, 'Once.'));
        $this->assertSame(200, rest_do_request($request)->get_status());
        update_post_meta($post, PressRAG_Summaries::META_SUMMARY, 'changed since');

        $replay = rest_do_request($request);
        $this->assertSame(401, $replay->get_status());
        $this->assertSame('pressrag_replayed', $replay->get_data()['code']);
        $this->assertSame('changed since', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));

        foreach (array(-400, 400) as $skew) {
            $stale = rest_do_request($this->request($this->delivery($post, 'Stale.'), array('timestamp' => time() + $skew)));
            $this->assertSame(401, $stale->get_status());
            $this->assertSame('pressrag_stale_timestamp', $stale->get_data()['code']);
        }
        $this->assertSame('changed since', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));
    }

    public function testMalformedOrUnknownMessagesAre400(): void
    {
        foreach (array('not json', '{"type":"summaries.deliver","site":"phpunit-site"}', '{"type":"other","site":"phpunit-site"}', '{"type":"draft.progress","site":"other-site"}') as $body) {
            $response = rest_do_request($this->request($body));
            $this->assertSame(400, $response->get_status(), $body);
        }
    }

    public function testUnconfiguredSiteAnswers503(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['webhook_secret'] = '';
        update_option(PressRAG_Settings::OPTION, $settings);
        $this->assertSame(503, rest_do_request($this->request('{}'))->get_status());
    }

    public function testTheRouteIsReachableOverHttpWithoutPrettyPermalinks(): void
    {
        $this->use_real_http();
        $post = $this->post('publish');
        $body = $this->delivery($post, 'Over HTTP.');
        $response = wp_remote_post(
            add_query_arg('rest_route', '/pressrag/v1/callback', home_url('/')),
            array(
                'timeout' => 10,
                'headers' => $this->headers($body, array()),
                'body'    => $body,
            )
        );
        $this->assertFalse(is_wp_error($response));
        $this->assertSame(200, wp_remote_retrieve_response_code($response), wp_remote_retrieve_body($response));
        wp_cache_delete($post, 'post_meta');
        $this->assertSame('Over HTTP.', get_post_meta($post, PressRAG_Summaries::META_SUMMARY, true));
    }

    /**
     * A post of this test.
     *
     * @param string $status Post status.
     */
    private function post(string $status): int
    {
        $id = wp_insert_post(
            array(
                'post_title'   => 'Callback target',
                'post_content' => 'Some content.',
                'post_status'  => $status,
            ),
            true
        );
        $this->assertIsInt($id);
        $this->posts[] = $id;
        return $id;
    }

    /**
     * A `summaries.deliver` body for one post.
     *
     * @param int    $post_id Post.
     * @param string $summary Summary text.
     */
    private function delivery(int $post_id, string $summary): string
    {
        return (string) wp_json_encode(
            array(
                'type'  => 'summaries.deliver',
                'site'  => self::SITE,
                'items' => array(
                    array(
                        'wp_id'        => $post_id,
                        'content_hash' => 'abc123',
                        'summary'      => $summary,
                        'generator'    => 'extractive',
                        'model'        => 'local:test',
                        'language'     => null,
                        'generated_at' => gmdate('Y-m-d\TH:i:s.u+00:00'),
                    ),
                ),
            ),
            JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
        );
    }

    /**
     * A callback request (see headers()); `body` in the options replaces the signed body.
     *
     * @param string              $body    Raw body that is signed.
     * @param array<string,mixed> $options See headers(), plus body.
     */
    private function request(string $body, array $options = array()): WP_REST_Request
    {
        $request = new WP_REST_Request('POST', '/pressrag/v1/callback');
        foreach ($this->headers($body, $options) as $name => $value) {
            $request->set_header($name, $value);
        }
        $request->set_body($options['body'] ?? $body);
        return $request;
    }

    /**
     * HTTP headers of a callback signed the way the backend signs it, unless told otherwise.
     *
     * @param string              $body    Raw body.
     * @param array<string,mixed> $options secret, signature, site, timestamp, raw_webhook_key.
     * @return array<string,string>
     */
    private function headers(string $body, array $options): array
    {
        $secret = $options['secret'] ?? self::webhook_vector()['secret'];
        $id = 'cb_' . wp_generate_uuid4();
        $timestamp = (int) ($options['timestamp'] ?? time());
        $signature = ! empty($options['raw_webhook_key'])
            ? PressRAG_Crypto::webhook_signature($secret, $id, $timestamp, $body)
            : PressRAG_Callback_Route::signature($secret, $id, $timestamp, $body);
        return array(
            'Content-Type'      => 'application/json',
            'webhook-id'        => $id,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => $options['signature'] ?? $signature,
            'X-PressRAG-Site'   => $options['site'] ?? self::SITE,
        );
    }

    /**
     * Dispatch a correctly signed body.
     *
     * @param string $body Raw body.
     */
    private function send(string $body): WP_REST_Response
    {
        return rest_do_request($this->request($body));
    }
}
