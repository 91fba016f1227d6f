<?php

/**
 * Outbox delivery and its state machine, with the backend's answers faked at the HTTP seam.
 *
 * @package PressRAG
 */

/**
 * pending → delivered / retry with backoff / dead, claims, retry-failed.
 */
final class OutboxTest extends PressRAGTestCase
{
    private function enqueue_one(string $key = 'document.upserted:42'): int
    {
        $id = PressRAG_Outbox::instance()->enqueue(
            'document.upserted',
            array(
                'wp_id'        => 42,
                'post_type'    => 'post',
                'status'       => 'publish',
                'modified_gmt' => '2026-11-27T04:59:58',
            ),
            $key
        );
        $this->assertIsInt($id);
        PressRAG_Outbox::instance()->forget_request_rows();
        return $id;
    }

    private function row(int $id): object
    {
        $row = PressRAG_Outbox::instance()->row($id);
        $this->assertNotNull($row);
        return $row;
    }

    public function testDeliveredOn202WithContractHeadersAndBody(): void
    {
        $id = $this->enqueue_one();
        $this->answers = array(array(202, '{"status":"stored"}'));
        $before = time();
        $outcome = PressRAG_Outbox::instance()->deliver_due();

        $this->assertSame(1, $outcome['delivered']);
        $row = $this->row($id);
        $this->assertSame('delivered', $row->status);
        $this->assertSame(1, (int) $row->attempts);
        $this->assertNotNull($row->delivered_at);
        $this->assertNull($row->last_error);

        $this->assertCount(1, $this->sent);
        list($url, $args) = $this->sent[0];
        $this->assertSame(self::BACKEND . '/v1/webhooks/wordpress', $url);
        $this->assertSame('POST', $args['method']);
        $headers = $args['headers'];
        $this->assertSame($row->event_id, $headers['webhook-id']);
        $this->assertMatchesRegularExpression('/^msg_[0-9a-f-]{36}$/', $headers['webhook-id']);
        $timestamp = (int) $headers['webhook-timestamp'];
        $this->assertGreaterThanOrEqual($before, $timestamp);
        $this->assertLessThanOrEqual(time(), $timestamp);
        $this->assertSame(self::SITE, $headers['X-PressRAG-Site']);
        $this->assertSame('application/json', $headers['Content-Type']);

        // Verify the signature with plain hash_hmac, not with the plugin's own helper.
        $key = base64_decode(substr(self::webhook_vector()['secret'], 6), true);
        $expected = 'v1,' . base64_encode(hash_hmac('sha256', $headers['webhook-id'] . '.' . $timestamp . '.' . $args['body'], $key, true));
        $this->assertSame($expected, $headers['webhook-signature']);

        $body = json_decode($args['body'], true);
        $this->assertSame(array('type', 'site', 'occurred_at', 'data'), array_keys($body));
        $this->assertSame('document.upserted', $body['type']);
        $this->assertSame(self::SITE, $body['site']);
        $this->assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/', $body['occurred_at']);
        $this->assertSame(42, $body['data']['wp_id']);
        $this->assertSame('2026-11-27T04:59:58', $body['data']['modified_gmt']);
        $this->assertLessThanOrEqual(5.0, (float) $args['timeout']);
        $this->assertSame(0, (int) $args['redirection']);
    }

    public function testDeliveredOn200Duplicate(): void
    {
        $id = $this->enqueue_one();
        $this->answers = array(array(200, '{"status":"duplicate"}'));
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame('delivered', $this->row($id)->status);
    }

    public function testServerErrorBacksOffAndCountsAttempts(): void
    {
        $id = $this->enqueue_one();
        $this->answers = array(array(500, '{"error":"internal","message":"boom"}'));
        $now = time();
        $outcome = PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame(1, $outcome['retry']);
        $row = $this->row($id);
        $this->assertSame('pending', $row->status);
        $this->assertSame(1, (int) $row->attempts);
        $this->assertStringContainsString('HTTP 500', $row->last_error);
        $delay = strtotime($row->next_attempt_at . ' UTC') - $now;
        $this->assertGreaterThanOrEqual(15, $delay);
        $this->assertLessThanOrEqual(31, $delay);

        // Not due yet: a second run must not send it again.
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertCount(1, $this->sent);

        $this->make_due($id);
        $this->answers = array(array(503, ''));
        PressRAG_Outbox::instance()->deliver_due();
        $row = $this->row($id);
        $this->assertSame(2, (int) $row->attempts);
        $delay = strtotime($row->next_attempt_at . ' UTC') - time();
        $this->assertGreaterThanOrEqual(29, $delay);
        $this->assertLessThanOrEqual(61, $delay);
    }

    public function testBackoffGrowsAndIsCappedAtAnHour(): void
    {
        $this->assertLessThanOrEqual(30, PressRAG_Outbox::backoff_seconds(1));
        $this->assertGreaterThanOrEqual(240, PressRAG_Outbox::backoff_seconds(5));
        $this->assertLessThanOrEqual(480, PressRAG_Outbox::backoff_seconds(5));
        $this->assertLessThanOrEqual(3600, PressRAG_Outbox::backoff_seconds(40));
        $this->assertGreaterThanOrEqual(1800, PressRAG_Outbox::backoff_seconds(40));
    }

    /**
     * Transport errors, 408 and 429 are temporary: the row stays pending.
     *
     * @dataProvider temporaryFailures
     * @param mixed $answer Fake answer.
     */
    public function testTemporaryFailuresAreRetried($answer): void
    {
        $id = $this->enqueue_one();
        $this->answers = array(is_array($answer) ? $answer : new WP_Error('http_request_failed', 'cURL error 7: Connection refused'));
        PressRAG_Outbox::instance()->deliver_due();
        $row = $this->row($id);
        $this->assertSame('pending', $row->status);
        $this->assertSame(1, (int) $row->attempts);
        $this->assertNotEmpty($row->last_error);
    }

    /**
     * @return array<string,array{0:mixed}>
     */
    public function temporaryFailures(): array
    {
        return array(
            'transport error' => array('wp_error'),
            '408 stale'       => array(array(408, '{"error":"stale_timestamp"}')),
            '429 busy'        => array(array(429, '{"error":"rate_limited"}')),
            '302 redirect'    => array(array(302, '')),
        );
    }

    /**
     * Client errors other than 408/429 cannot be fixed by retrying: dead at once.
     *
     * @dataProvider permanentFailures
     * @param int    $status HTTP status.
     * @param string $code   Backend error code.
     */
    public function testClientErrorsAreDeadImmediately(int $status, string $code): void
    {
        $id = $this->enqueue_one();
        $this->answers = array(array($status, wp_json_encode(array('error' => $code, 'message' => 'nope'))));
        $outcome = PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame(1, $outcome['dead']);
        $row = $this->row($id);
        $this->assertSame('dead', $row->status);
        $this->assertSame(1, (int) $row->attempts);
        $this->assertStringContainsString('HTTP ' . $status, $row->last_error);
        $this->assertStringContainsString($code, $row->last_error);
        $this->assertStringNotContainsString(self::webhook_vector()['secret'], $row->last_error);
    }

    /**
     * @return array<string,array{0:int,1:string}>
     */
    public function permanentFailures(): array
    {
        return array(
            '400 malformed' => array(400, 'invalid_body'),
            '401 signature' => array(401, 'invalid_signature'),
            '404 site'      => array(404, 'unknown_site'),
            '413 too large' => array(413, 'too_large'),
        );
    }

    public function testDeadAfterMaxAttempts(): void
    {
        $this->add_filter(
            'pressrag_outbox_max_attempts',
            static function (): int {
                return 3;
            }
        );
        $id = $this->enqueue_one();
        $this->answers = array(array(500, ''), array(502, ''), array(504, ''));
        for ($i = 1; $i <= 3; $i++) {
            $this->make_due($id);
            PressRAG_Outbox::instance()->deliver_due();
            $this->assertSame($i, (int) $this->row($id)->attempts);
        }
        $this->assertSame('dead', $this->row($id)->status);
        $this->assertStringContainsString('HTTP 504', $this->row($id)->last_error);
        $this->make_due($id);
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertCount(3, $this->sent, 'a dead row is never sent again by the worker');
    }

    public function testDeliveryDrainsSeveralBatchesInOneRun(): void
    {
        $ids = array();
        for ($i = 0; $i < 5; $i++) {
            $ids[] = $this->enqueue_one('batch:' . $i);
        }
        $outcome = PressRAG_Outbox::instance()->deliver_due(2);
        $this->assertSame(5, $outcome['delivered']);
        $sent_ids = array();
        foreach ($this->sent as $request) {
            $sent_ids[] = $request[1]['headers']['webhook-id'];
        }
        $this->assertSame(5, count(array_unique($sent_ids)), 'each row is sent exactly once');
        foreach ($ids as $id) {
            $this->assertSame('delivered', $this->row($id)->status);
        }
    }

    public function testDefaultMaxAttemptsIsEight(): void
    {
        $this->assertSame(8, PressRAG_Outbox::max_attempts());
    }

    public function testRetryFailedResetsDeadAndFailedRows(): void
    {
        $dead = $this->enqueue_one('a');
        $failed = $this->enqueue_one('b');
        $this->answers = array(array(400, '{"error":"invalid_body"}'), array(500, ''));
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame('dead', $this->row($dead)->status);
        $this->assertSame(1, (int) $this->row($failed)->attempts);
        $this->assertSame(array('pending' => 0, 'failed' => 1, 'dead' => 1, 'delivered' => 0), PressRAG_Outbox::instance()->counts());

        $this->assertSame(2, PressRAG_Outbox::instance()->retry_failed());
        foreach (array($dead, $failed) as $id) {
            $row = $this->row($id);
            $this->assertSame('pending', $row->status);
            $this->assertSame(0, (int) $row->attempts);
            $this->assertNull($row->last_error);
        }
        $this->answers = array(array(202, ''), array(202, ''));
        $outcome = PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame(2, $outcome['delivered']);
        $this->assertSame(2, PressRAG_Outbox::instance()->counts()['delivered']);
    }

    public function testARowIsClaimedByOnlyOneDeliverer(): void
    {
        $id = $this->enqueue_one();
        $first = PressRAG_Outbox::instance()->claim($id);
        $second = (new PressRAG_Outbox())->claim($id);
        $this->assertNotNull($first);
        $this->assertNull($second);
        // The claimed row is leased: a concurrent batch does not pick it up either.
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertCount(0, $this->sent);
    }

    public function testSameKeyIsRecordedOncePerRequestWithTheLatestPayload(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $first = $outbox->enqueue('document.upserted', array('wp_id' => 7, 'status' => 'draft'), 'document.upserted:7');
        $second = $outbox->enqueue('document.upserted', array('wp_id' => 7, 'status' => 'publish'), 'document.upserted:7');
        $other = $outbox->enqueue('document.deleted', array('wp_id' => 7), 'document.deleted:7');
        $this->assertSame($first, $second);
        $this->assertNotSame($first, $other);
        $rows = $this->outbox_rows();
        $this->assertCount(2, $rows);
        $this->assertSame('publish', json_decode($rows[0]->payload, true)['status']);
    }

    public function testNothingIsRecordedWhenTheOutboxIsOff(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['outbox_enabled'] = false;
        update_option(PressRAG_Settings::OPTION, $settings);
        $this->assertNull(PressRAG_Outbox::instance()->enqueue('document.upserted', array('wp_id' => 1), 'x'));
        $this->assertCount(0, $this->outbox_rows());
    }

    public function testNothingIsSentUntilConfigured(): void
    {
        $id = $this->enqueue_one();
        $settings = PressRAG_Settings::stored();
        $settings['webhook_secret'] = '';
        update_option(PressRAG_Settings::OPTION, $settings);
        PressRAG_Outbox::instance()->deliver_due();
        $this->assertCount(0, $this->sent);
        $this->assertSame(0, (int) $this->row($id)->attempts);
    }

    public function testEndOfRequestAttemptUsesAShortTimeout(): void
    {
        $outbox = PressRAG_Outbox::instance();
        $id = $outbox->enqueue('document.deleted', array('wp_id' => 9, 'post_type' => 'post'), 'document.deleted:9');
        $this->answers = array(array(202, ''));
        $outbox->deliver_request_rows();
        $this->assertCount(1, $this->sent);
        $this->assertLessThanOrEqual(1.0, (float) $this->sent[0][1]['timeout']);
        $this->assertSame('delivered', $this->row((int) $id)->status);
        // Rows are attempted once per request: a second shutdown call sends nothing.
        $outbox->deliver_request_rows();
        $this->assertCount(1, $this->sent);
    }

    public function testDeletingANetworkSiteDropsItsOutbox(): void
    {
        global $wpdb;
        $tables = apply_filters('wpmu_drop_tables', array(), 5);
        $this->assertContains($wpdb->get_blog_prefix(5) . 'pressrag_outbox', $tables);
    }

    public function testCronScheduleAndEventExist(): void
    {
        $this->assertArrayHasKey(PressRAG_Outbox::CRON_SCHEDULE, wp_get_schedules());
        $this->assertSame(60, wp_get_schedules()[ PressRAG_Outbox::CRON_SCHEDULE ]['interval']);
        $this->assertNotFalse(wp_next_scheduled(PressRAG_Outbox::CRON_HOOK));
    }
}
