<?php

/**
 * Whether the backend answered lately: learnt from every delivery, "Test connection" and a
 * probe at most every ten minutes from the outbox worker, so no admin page waits on it.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * The last known reachability of the backend, kept in one small option.
 */
final class PressRAG_Health
{
    public const OPTION = 'pressrag_backend_health';
    public const PROBE_EVERY = 10 * MINUTE_IN_SECONDS;
    /** Rewrite an unchanged state at most this often (a busy outbox delivers constantly). */
    public const REFRESH_EVERY = MINUTE_IN_SECONDS;

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('pressrag_backend_answered', array(self::class, 'record'), 10, 2);
        add_action(PressRAG_Outbox::CRON_HOOK, array(self::class, 'maybe_probe'), 20);
    }

    /**
     * Remember whether the backend answered (any HTTP status counts as an answer).
     *
     * @param bool   $reachable Whether it answered.
     * @param string $error     What went wrong, when it did not (never a secret).
     */
    public static function record($reachable, $error = ''): void
    {
        $reachable = (bool) $reachable;
        $state = self::state();
        $unchanged = null !== $state && $state['ok'] === $reachable;
        if ($unchanged && time() - $state['checked'] < self::REFRESH_EVERY) {
            return;
        }
        $since = $unchanged ? $state['since'] : time();
        update_option(
            self::OPTION,
            array(
                'ok'      => $reachable,
                'error'   => $reachable ? '' : substr(sanitize_text_field((string) $error), 0, 300),
                'checked' => time(),
                'since'   => $since,
            ),
            false
        );
    }

    /**
     * The last known state, or null before anything was learnt.
     *
     * @return array{ok:bool,error:string,checked:int,since:int}|null
     */
    public static function state(): ?array
    {
        $state = get_option(self::OPTION, null);
        if (! is_array($state) || ! isset($state['ok'], $state['checked'])) {
            return null;
        }
        return array(
            'ok'      => (bool) $state['ok'],
            'error'   => (string) ($state['error'] ?? ''),
            'checked' => (int) $state['checked'],
            'since'   => (int) ($state['since'] ?? $state['checked']),
        );
    }

    /**
     * Whether the backend is configured and did not answer the last time it was asked.
     */
    public static function unreachable(): bool
    {
        $state = self::state();
        return '' !== PressRAG_Settings::backend_url() && null !== $state && ! $state['ok'];
    }

    /**
     * From the outbox worker: ask /healthz when nothing was learnt for a while.
     */
    public static function maybe_probe(): void
    {
        $state = self::state();
        if ('' === PressRAG_Settings::backend_url() || (null !== $state && time() - $state['checked'] < self::PROBE_EVERY)) {
            return;
        }
        self::probe();
    }

    /**
     * Ask /healthz now and remember the outcome.
     *
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    public static function probe(): array
    {
        $result = PressRAG_Backend::health();
        // An HTTP error status is still an answer: the backend is there, something else is wrong.
        self::record($result['ok'] || $result['status'] > 0, $result['error']);
        return $result;
    }
}
