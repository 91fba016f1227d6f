<?php

/**
 * Shared set-up: known settings, a clean outbox, and a fake backend answer via
 * WordPress's own `pre_http_request` seam (the request is still built by the real code).
 *
 * @package PressRAG
 */

use PHPUnit\Framework\TestCase;

/**
 * Base class for PressRAG tests against a live WordPress.
 */
abstract class PressRAGTestCase extends TestCase
{
    protected const BACKEND = 'http://127.0.0.1:9';
    protected const SITE = 'phpunit-site';

    /**
     * Requests the code under test tried to send: [url, args].
     *
     * @var array<int,array{0:string,1:array<string,mixed>}>
     */
    protected array $sent = array();

    /**
     * Answers to give, in order; each is an array (status, body[, headers]) or a WP_Error.
     *
     * @var array<int,mixed>
     */
    protected array $answers = array();

    /**
     * Option value before the test.
     *
     * @var mixed
     */
    private $saved_option;

    /**
     * Filters added by a test, removed afterwards: [hook, callback, priority].
     *
     * @var array<int,array{0:string,1:callable,2:int}>
     */
    private array $filters = array();

    protected function setUp(): void
    {
        parent::setUp();
        $this->saved_option = get_option(PressRAG_Settings::OPTION, null);
        update_option(
            PressRAG_Settings::OPTION,
            array_merge(
                PressRAG_Settings::defaults(),
                array(
                    'backend_url'    => self::BACKEND,
                    'site_id'        => self::SITE,
                    'webhook_secret' => self::webhook_vector()['secret'],
                    'token_secret'   => self::token_vector()['secret'],
                    'admin_api_key'  => 'phpunit-admin-key-not-a-real-one',
                )
            )
        );
        $this->clear_outbox();
        $this->sent = array();
        $this->answers = array();
        $this->add_filter('pre_http_request', array($this, 'fake_http'), 10, 3);
    }

    protected function tearDown(): void
    {
        foreach ($this->filters as $filter) {
            remove_filter($filter[0], $filter[1], $filter[2]);
        }
        $this->filters = array();
        if (null === $this->saved_option) {
            delete_option(PressRAG_Settings::OPTION);
        } else {
            update_option(PressRAG_Settings::OPTION, $this->saved_option);
        }
        // After restoring: restoring the option may itself record a settings event.
        $this->clear_outbox();
        parent::tearDown();
    }

    /**
     * add_filter that the tear-down undoes.
     *
     * @param string   $hook     Hook.
     * @param callable $callback Callback.
     * @param int      $priority Priority.
     * @param int      $args     Accepted args.
     */
    protected function add_filter(string $hook, callable $callback, int $priority = 10, int $args = 1): void
    {
        add_filter($hook, $callback, $priority, $args);
        $this->filters[] = array($hook, $callback, $priority);
    }

    /**
     * pre_http_request: record the request and answer from $this->answers.
     *
     * @param false|array|WP_Error $pre  Short-circuit value.
     * @param array                $args Request args.
     * @param string               $url  URL.
     * @return array|WP_Error
     */
    public function fake_http($pre, $args, $url)
    {
        unset($pre);
        $this->sent[] = array($url, $args);
        $answer = array() === $this->answers ? array(202, '{"status":"stored"}') : array_shift($this->answers);
        if ($answer instanceof WP_Error) {
            return $answer;
        }
        return array(
            'headers'  => array_merge(array('content-type' => 'application/json'), $answer[2] ?? array()),
            'body'     => $answer[1],
            'response' => array(
                'code'    => $answer[0],
                'message' => get_status_header_desc($answer[0]),
            ),
            'cookies'  => array(),
            'filename' => null,
        );
    }

    /**
     * Stop faking HTTP for this test (requests then really go out).
     */
    protected function use_real_http(): void
    {
        remove_filter('pre_http_request', array($this, 'fake_http'), 10);
    }

    /**
     * Empty this site's outbox and forget rows remembered for the end-of-request attempt.
     */
    protected function clear_outbox(): void
    {
        global $wpdb;
        $wpdb->query('DELETE FROM ' . PressRAG_Outbox::table());
        PressRAG_Outbox::instance()->forget_request_rows();
    }

    /**
     * All outbox rows, oldest first.
     *
     * @return array<int,object>
     */
    protected function outbox_rows(): array
    {
        global $wpdb;
        return $wpdb->get_results('SELECT * FROM ' . PressRAG_Outbox::table() . ' ORDER BY id ASC');
    }

    /**
     * Make a row due now (instead of waiting out its backoff).
     *
     * @param int $id Row id.
     */
    protected function make_due(int $id): void
    {
        global $wpdb;
        $wpdb->update(PressRAG_Outbox::table(), array('next_attempt_at' => gmdate('Y-m-d H:i:s', time() - 1)), array('id' => $id));
    }

    /**
     * Decoded shared vectors file.
     *
     * @param string $name File name in tests/vectors/.
     * @return array<string,mixed>
     */
    protected static function vectors(string $name): array
    {
        $dir = getenv('PRESSRAG_VECTORS_DIR') ?: dirname(__DIR__, 2) . '/tests/vectors';
        $decoded = json_decode((string) file_get_contents($dir . '/' . $name), true);
        if (! is_array($decoded) || empty($decoded['cases'])) {
            throw new RuntimeException("Vectors file {$dir}/{$name} is missing or empty");
        }
        return $decoded;
    }

    /**
     * First single-secret webhook vector.
     *
     * @return array<string,mixed>
     */
    protected static function webhook_vector(): array
    {
        return self::vectors('webhook_signatures.json')['cases'][0];
    }

    /**
     * First token vector.
     *
     * @return array<string,mixed>
     */
    protected static function token_vector(): array
    {
        return self::vectors('tokens.json')['cases'][0];
    }
}
