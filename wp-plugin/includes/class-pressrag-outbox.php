<?php

/**
 * Transactional outbox of signed webhooks: events are written to a table in the same request
 * that changed the content, then delivered (and retried) independently of that request.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Outbox table, enqueueing, claiming, delivery and retry policy.
 */
class PressRAG_Outbox
{
    public const STATUS_PENDING = 'pending';
    public const STATUS_DELIVERED = 'delivered';
    public const STATUS_DEAD = 'dead';

    public const CRON_HOOK = 'pressrag_deliver_outbox';
    public const CRON_SCHEDULE = 'pressrag_every_minute';

    /** Seconds a claimed row stays invisible to other deliverers (covers a crash mid-send). */
    public const CLAIM_LEASE = 120;

    public const DEFAULT_MAX_ATTEMPTS = 8;

    /**
     * Shared instance whose hooks are registered.
     *
     * @var PressRAG_Outbox|null
     */
    private static ?PressRAG_Outbox $instance = null;

    /**
     * Dedupe key => row id, for events enqueued in this request.
     *
     * @var array<string,int>
     */
    private array $request_rows = array();

    /**
     * The shared instance.
     */
    public static function instance(): self
    {
        if (null === self::$instance) {
            self::$instance = new self();
        }
        return self::$instance;
    }

    /**
     * Hook the cron schedule, the cron worker and the end-of-request attempt.
     */
    public function register(): void
    {
        add_filter('cron_schedules', array(self::class, 'add_cron_schedule'));
        add_action(self::CRON_HOOK, array($this, 'run_cron'));
        add_action('shutdown', array($this, 'deliver_request_rows'));
    }

    /**
     * Adds the every-minute schedule WP-cron lacks.
     *
     * @param array<string,array<string,mixed>> $schedules Schedules.
     * @return array<string,array<string,mixed>>
     */
    public static function add_cron_schedule($schedules): array
    {
        $schedules = is_array($schedules) ? $schedules : array();
        $schedules[ self::CRON_SCHEDULE ] = array(
            'interval' => MINUTE_IN_SECONDS,
            'display'  => __('Every minute (PressRAG outbox)', 'pressrag'),
        );
        return $schedules;
    }

    /**
     * Fully qualified table name for the current site.
     */
    public static function table(): string
    {
        global $wpdb;
        return $wpdb->prefix . 'pressrag_outbox';
    }

    /**
     * Create or upgrade the table for the current site.
     */
    public static function create_table(): void
    {
        global $wpdb;
        require_once ABSPATH . 'wp-admin/includes/upgrade.php';
        $table = self::table();
        $charset = $wpdb->get_charset_collate();
        // dbDelta wants two spaces after PRIMARY KEY and one column per line.
        dbDelta(
            "CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  event_id varchar(64) NOT NULL,
  type varchar(64) NOT NULL,
  payload longtext NOT NULL,
  status varchar(16) NOT NULL DEFAULT 'pending',
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  next_attempt_at datetime NOT NULL,
  last_error text NULL,
  created_at datetime NOT NULL,
  delivered_at datetime NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY event_id (event_id),
  KEY status_next (status,next_attempt_at)
) {$charset};"
        );
    }

    /**
     * Drop the table for the current site (uninstall).
     */
    public static function drop_table(): void
    {
        global $wpdb;
        $wpdb->query('DROP TABLE IF EXISTS ' . self::table());
    }

    /**
     * Record an event. The same dedupe key is recorded once per request; a later duplicate
     * refreshes the pending row's payload so it describes the final state.
     *
     * @param string              $type       Event type, e.g. `document.upserted`.
     * @param array<string,mixed> $data       Event data (see docs/contracts.md).
     * @param string              $dedupe_key Request-scoped identity, e.g. `document.upserted:12`.
     * @return int|null Row id, or null when the outbox is disabled or the insert failed.
     */
    public function enqueue(string $type, array $data, string $dedupe_key = ''): ?int
    {
        global $wpdb;
        if (! PressRAG_Settings::outbox_enabled()) {
            return null;
        }
        $payload = wp_json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        if (false === $payload) {
            return null;
        }
        $key = '' === $dedupe_key ? $type . ':' . md5($payload) : $dedupe_key;
        if (isset($this->request_rows[ $key ])) {
            $wpdb->query(
                $wpdb->prepare(
                    'UPDATE ' . self::table() . ' SET payload = %s WHERE id = %d AND status = %s AND attempts = 0',
                    $payload,
                    $this->request_rows[ $key ],
                    self::STATUS_PENDING
                )
            );
            return $this->request_rows[ $key ];
        }
        $now = self::now();
        $inserted = $wpdb->insert(
            self::table(),
            array(
                'event_id'        => 'msg_' . wp_generate_uuid4(),
                'type'            => $type,
                'payload'         => $payload,
                'status'          => self::STATUS_PENDING,
                'attempts'        => 0,
                'next_attempt_at' => self::datetime($now),
                'created_at'      => self::datetime($now),
            ),
            array('%s', '%s', '%s', '%s', '%d', '%s', '%s')
        );
        if (false === $inserted) {
            return null;
        }
        $this->request_rows[ $key ] = (int) $wpdb->insert_id;
        return $this->request_rows[ $key ];
    }

    /**
     * Cron worker: deliver a batch of due rows, then purge old delivered rows.
     */
    public function run_cron(): void
    {
        $this->deliver_due();
        $this->purge_delivered();
    }

    /**
     * At the end of a request, try the rows it created once, with a short timeout, so content
     * usually reaches the backend in about a second; anything left is for the cron worker.
     */
    public function deliver_request_rows(): void
    {
        if (array() === $this->request_rows || ! PressRAG_Settings::webhooks_configured()) {
            return;
        }
        $ids = array_values($this->request_rows);
        $this->request_rows = array();
        /** Filters the per-request delivery timeout in seconds (keep it short: the saver waits). */
        $timeout = (float) apply_filters('pressrag_outbox_request_timeout', 1.0);
        $this->deliver_ids($ids, $timeout, $timeout);
    }

    /**
     * Forget which rows this request created (tests, and after a manual delivery).
     */
    public function forget_request_rows(): void
    {
        $this->request_rows = array();
    }

    /**
     * Deliver due pending rows, oldest first, in batches until none is due or the time budget
     * is spent (a large import then drains in a few cron runs, not one batch a minute).
     *
     * @param int   $batch   Rows fetched per query.
     * @param float $budget  Stop starting new sends after this many seconds.
     * @param float $timeout Per-request HTTP timeout in seconds.
     * @return array<string,int> Outcome counts.
     */
    public function deliver_due(int $batch = 25, float $budget = 40.0, float $timeout = 5.0): array
    {
        global $wpdb;
        $outcomes = $this->outcomes();
        if (! PressRAG_Settings::webhooks_configured()) {
            return $outcomes;
        }
        $started = microtime(true);
        $after = 0;
        do {
            $ids = array_map(
                'intval',
                $wpdb->get_col(
                    $wpdb->prepare(
                        'SELECT id FROM ' . self::table() . ' WHERE status = %s AND next_attempt_at <= %s AND id > %d ORDER BY id ASC LIMIT %d',
                        self::STATUS_PENDING,
                        self::datetime(self::now()),
                        $after,
                        $batch
                    )
                )
            );
            $remaining = $budget - (microtime(true) - $started);
            foreach ($this->deliver_ids($ids, $remaining, $timeout) as $key => $count) {
                $outcomes[ $key ] += $count;
            }
            $after = array() === $ids ? $after : max($ids);
            $full_batch = count($ids) === $batch;
        } while ($full_batch && microtime(true) - $started < $budget);
        return $outcomes;
    }

    /**
     * Claim and deliver specific rows.
     *
     * @param int[] $ids     Row ids.
     * @param float $budget  Seconds after which no new send starts.
     * @param float $timeout HTTP timeout per send.
     * @return array<string,int> Outcome counts.
     */
    public function deliver_ids(array $ids, float $budget, float $timeout): array
    {
        $outcomes = $this->outcomes();
        if (! PressRAG_Settings::webhooks_configured()) {
            return $outcomes;
        }
        $started = microtime(true);
        foreach ($ids as $id) {
            if (microtime(true) - $started > $budget) {
                break;
            }
            $row = $this->claim((int) $id);
            if (null === $row) {
                ++$outcomes['skipped'];
                continue;
            }
            ++$outcomes[ $this->deliver_row($row, $timeout) ];
        }
        return $outcomes;
    }

    /**
     * Take a row for delivery. The conditional UPDATE is atomic in MySQL, so of two deliverers
     * racing for the same row exactly one sees an affected row; the lease pushes the row's
     * next_attempt_at forward so it is invisible to others until the result is recorded.
     *
     * @param int $id Row id.
     * @return object|null The claimed row, or null if another deliverer has it or it is not due.
     */
    public function claim(int $id): ?object
    {
        global $wpdb;
        $now = self::now();
        $claimed = $wpdb->query(
            $wpdb->prepare(
                'UPDATE ' . self::table() . ' SET next_attempt_at = %s WHERE id = %d AND status = %s AND next_attempt_at <= %s',
                self::datetime($now + self::CLAIM_LEASE),
                $id,
                self::STATUS_PENDING,
                self::datetime($now)
            )
        );
        if (1 !== $claimed) {
            return null;
        }
        return $this->row($id);
    }

    /**
     * One row by id.
     *
     * @param int $id Row id.
     */
    public function row(int $id): ?object
    {
        global $wpdb;
        $row = $wpdb->get_row(
            $wpdb->prepare('SELECT * FROM ' . self::table() . ' WHERE id = %d', $id)
        );
        return is_object($row) ? $row : null;
    }

    /**
     * The exact JSON body sent for a row (stable across retries while the site id is unchanged).
     *
     * @param object $row Outbox row.
     */
    public static function body(object $row): string
    {
        $data = json_decode((string) $row->payload, true);
        $body = array(
            'type'        => (string) $row->type,
            'site'        => PressRAG_Settings::site_id(),
            'occurred_at' => gmdate('Y-m-d\TH:i:s\Z', (int) strtotime($row->created_at . ' UTC')),
            'data'        => is_array($data) && array() !== $data ? $data : new stdClass(),
        );
        return (string) wp_json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    }

    /**
     * Send one claimed row and record the outcome.
     *
     * @param object $row     Claimed row.
     * @param float  $timeout HTTP timeout in seconds.
     * @return string `delivered`, `retry` or `dead`.
     */
    public function deliver_row(object $row, float $timeout): string
    {
        $body = self::body($row);
        $timestamp = time();
        try {
            $signature = PressRAG_Crypto::webhook_signature(PressRAG_Settings::webhook_secret(), (string) $row->event_id, $timestamp, $body);
        } catch (InvalidArgumentException $e) {
            // Not the row's fault: leave it pending for when the secret is fixed.
            $this->record_retry($row, 'webhook secret is not configured correctly', false);
            return 'retry';
        }
        $response = wp_remote_post(
            PressRAG_Settings::backend_url() . '/v1/webhooks/wordpress',
            array(
                'timeout'     => $timeout,
                'redirection' => 0,
                'blocking'    => true,
                'user-agent'  => 'PressRAG/' . PRESSRAG_VERSION . '; ' . home_url('/'),
                'headers'     => array(
                    'Content-Type'      => 'application/json',
                    'webhook-id'        => (string) $row->event_id,
                    'webhook-timestamp' => (string) $timestamp,
                    'webhook-signature' => $signature,
                    'X-PressRAG-Site'   => PressRAG_Settings::site_id(),
                ),
                'body'        => $body,
            )
        );
        return $this->record_response($row, $response);
    }

    /**
     * Apply the retry policy to an HTTP outcome: 2xx delivered; 4xx other than 408/429 dead at
     * once (retrying cannot help); anything else retried with backoff until the attempt cap.
     *
     * @param object         $row      Row that was sent.
     * @param array|WP_Error $response wp_remote_post() result.
     * @return string `delivered`, `retry` or `dead`.
     */
    public function record_response(object $row, $response): string
    {
        if (is_wp_error($response)) {
            $error = 'transport: ' . $response->get_error_message();
            /**
             * Fires after each delivery attempt: whether the backend answered at all.
             *
             * @param bool   $reachable Whether an HTTP answer came back.
             * @param string $error     The transport error, when none did.
             */
            do_action('pressrag_backend_answered', false, $error);
            return $this->record_retry($row, $error, true);
        }
        do_action('pressrag_backend_answered', true, '');
        $code = (int) wp_remote_retrieve_response_code($response);
        if ($code >= 200 && $code < 300) {
            $this->update(
                (int) $row->id,
                array(
                    'status'       => self::STATUS_DELIVERED,
                    'attempts'     => (int) $row->attempts + 1,
                    'delivered_at' => self::datetime(self::now()),
                    'last_error'   => null,
                )
            );
            return self::STATUS_DELIVERED;
        }
        $error = self::describe_http_error($code, (string) wp_remote_retrieve_body($response));
        if ($code >= 400 && $code < 500 && 408 !== $code && 429 !== $code) {
            $this->update(
                (int) $row->id,
                array(
                    'status'     => self::STATUS_DEAD,
                    'attempts'   => (int) $row->attempts + 1,
                    'last_error' => $error,
                )
            );
            return self::STATUS_DEAD;
        }
        return $this->record_retry($row, $error, true);
    }

    /**
     * Schedule a retry with backoff, or mark the row dead after the last allowed attempt.
     *
     * @param object $row           Row.
     * @param string $error         Error text (never contains secrets).
     * @param bool   $count_attempt Whether this was a real delivery attempt.
     * @return string `retry` or `dead`.
     */
    private function record_retry(object $row, string $error, bool $count_attempt): string
    {
        $attempts = (int) $row->attempts + ($count_attempt ? 1 : 0);
        if ($attempts >= self::max_attempts()) {
            $this->update(
                (int) $row->id,
                array(
                    'status'     => self::STATUS_DEAD,
                    'attempts'   => $attempts,
                    'last_error' => $error,
                )
            );
            return self::STATUS_DEAD;
        }
        $this->update(
            (int) $row->id,
            array(
                'attempts'        => $attempts,
                'next_attempt_at' => self::datetime(self::now() + self::backoff_seconds(max(1, $attempts))),
                'last_error'      => $error,
            )
        );
        return 'retry';
    }

    /**
     * Attempts after which a row is dead (filter `pressrag_outbox_max_attempts`, default 8).
     */
    public static function max_attempts(): int
    {
        return max(1, (int) apply_filters('pressrag_outbox_max_attempts', self::DEFAULT_MAX_ATTEMPTS));
    }

    /**
     * Delay before the next attempt: 30 s · 2^(n-1) capped at an hour, with "equal jitter"
     * (half fixed, half random) so many sites retrying after an outage spread out.
     *
     * @param int $attempts Attempts made so far (≥ 1).
     */
    public static function backoff_seconds(int $attempts): int
    {
        $base = (int) min(HOUR_IN_SECONDS, 30 * (2 ** min(20, max(0, $attempts - 1))));
        $delay = intdiv($base, 2) + random_int(0, intdiv($base, 2));
        return (int) apply_filters('pressrag_outbox_backoff_seconds', $delay, $attempts);
    }

    /**
     * Make failed and dead rows due again with a fresh attempt budget.
     *
     * @return int Rows reset.
     */
    public function retry_failed(): int
    {
        global $wpdb;
        return (int) $wpdb->query(
            $wpdb->prepare(
                'UPDATE ' . self::table() . ' SET status = %s, attempts = 0, next_attempt_at = %s, last_error = NULL WHERE status = %s OR (status = %s AND attempts > 0)',
                self::STATUS_PENDING,
                self::datetime(self::now()),
                self::STATUS_DEAD,
                self::STATUS_PENDING
            )
        );
    }

    /**
     * Counts for the admin panel: pending (never tried), failed (pending, tried), dead, delivered.
     *
     * @return array<string,int>
     */
    public function counts(): array
    {
        global $wpdb;
        $row = $wpdb->get_row(
            $wpdb->prepare(
                'SELECT SUM(status = %s AND attempts = 0) AS pending, SUM(status = %s AND attempts > 0) AS failed, SUM(status = %s) AS dead, SUM(status = %s) AS delivered FROM ' . self::table(),
                self::STATUS_PENDING,
                self::STATUS_PENDING,
                self::STATUS_DEAD,
                self::STATUS_DELIVERED
            ),
            ARRAY_A
        );
        $counts = array();
        foreach (array('pending', 'failed', 'dead', 'delivered') as $key) {
            $counts[ $key ] = (int) ($row[ $key ] ?? 0);
        }
        return $counts;
    }

    /**
     * Latest error text of a failed or dead row, for the admin panel.
     */
    public function last_error(): string
    {
        global $wpdb;
        return (string) $wpdb->get_var(
            'SELECT last_error FROM ' . self::table() . " WHERE last_error IS NOT NULL AND status <> 'delivered' ORDER BY id DESC LIMIT 1"
        );
    }

    /**
     * Remove delivered rows older than a week (filter `pressrag_outbox_keep_days`).
     */
    public function purge_delivered(): void
    {
        global $wpdb;
        $days = max(1, (int) apply_filters('pressrag_outbox_keep_days', 7));
        $wpdb->query(
            $wpdb->prepare(
                'DELETE FROM ' . self::table() . ' WHERE status = %s AND delivered_at < %s LIMIT 1000',
                self::STATUS_DELIVERED,
                self::datetime(self::now() - $days * DAY_IN_SECONDS)
            )
        );
    }

    /**
     * Short error text for a non-2xx answer: status plus the backend's error code if it sent one.
     *
     * @param int    $code HTTP status.
     * @param string $body Response body.
     */
    private static function describe_http_error(int $code, string $body): string
    {
        $decoded = json_decode($body, true);
        $detail = is_array($decoded) && isset($decoded['error']) && is_string($decoded['error'])
            ? $decoded['error'] . (isset($decoded['message']) && is_string($decoded['message']) ? ': ' . $decoded['message'] : '')
            : wp_strip_all_tags($body);
        return substr(trim('HTTP ' . $code . ' ' . $detail), 0, 500);
    }

    /**
     * Update a row by id.
     *
     * @param int                 $id     Row id.
     * @param array<string,mixed> $fields Columns.
     */
    private function update(int $id, array $fields): void
    {
        global $wpdb;
        $wpdb->update(self::table(), $fields, array('id' => $id), null, array('%d'));
    }

    /**
     * Zeroed outcome counters.
     *
     * @return array<string,int>
     */
    private function outcomes(): array
    {
        return array(
            self::STATUS_DELIVERED => 0,
            'retry'                => 0,
            self::STATUS_DEAD      => 0,
            'skipped'              => 0,
        );
    }

    /**
     * Current Unix time (one place, so every comparison uses PHP's clock, not the DB's zone).
     */
    public static function now(): int
    {
        return time();
    }

    /**
     * UTC MySQL datetime.
     *
     * @param int $timestamp Unix seconds.
     */
    public static function datetime(int $timestamp): string
    {
        return gmdate('Y-m-d H:i:s', $timestamp);
    }
}
