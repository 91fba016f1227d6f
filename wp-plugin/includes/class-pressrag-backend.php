<?php

/**
 * Server-side calls from the admin screens to the backend (health, index status, and the
 * connection test).
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Backend API client for admin use. The admin API key never leaves the server.
 */
final class PressRAG_Backend
{
    /**
     * `GET /healthz`.
     *
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    public static function health(): array
    {
        return self::get('/healthz', false);
    }

    /**
     * `GET /v1/sites/{site}/status` with the admin key.
     *
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    public static function site_status(): array
    {
        $site = PressRAG_Settings::site_id();
        if ('' === $site) {
            return self::failure(__('No site id is configured.', 'pressrag'));
        }
        if ('' === PressRAG_Settings::admin_api_key()) {
            return self::failure(__('No admin API key is configured, so the index status cannot be read: paste the key "pressrag sites add" printed (or "pressrag keys create").', 'pressrag'));
        }
        return self::get('/v1/sites/' . rawurlencode($site) . '/status', true);
    }

    /**
     * `GET /v1/sites/{site}/usage` with the admin key: this month's requests, model calls,
     * tokens and cost per day, and the budget state.
     *
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    public static function site_usage(): array
    {
        $site = PressRAG_Settings::site_id();
        if ('' === $site || '' === PressRAG_Settings::admin_api_key()) {
            return self::failure(__('The usage needs the site id and the admin API key.', 'pressrag'));
        }
        return self::get('/v1/sites/' . rawurlencode($site) . '/usage', true);
    }

    /**
     * `POST /v1/sites/{site}/connection-test`: one request proving all three credentials. The
     * body (a fresh browser token) is signed with the webhook secret like a webhook, the admin
     * key rides in `Authorization`, and the backend's answer must come back signed with the
     * same webhook secret: a round trip only the backend holding the secret can complete.
     *
     * @return array{ok:bool,status:int,data:mixed,error:string,signed:bool}
     */
    public static function connection_test(): array
    {
        $base = PressRAG_Settings::backend_url();
        $site = PressRAG_Settings::site_id();
        if ('' === $base || '' === $site) {
            return self::failure(__('The backend URL and the site id must be set first.', 'pressrag')) + array('signed' => false);
        }
        $body = (string) wp_json_encode(
            array('token' => PressRAG_Settings::tokens_configured() ? PressRAG_Token_Route::mint(time()) : '')
        );
        $msg_id = 'msg_conn_' . wp_generate_uuid4();
        $timestamp = time();
        $headers = array(
            'Accept'            => 'application/json',
            'Content-Type'      => 'application/json',
            'webhook-id'        => $msg_id,
            'webhook-timestamp' => (string) $timestamp,
        );
        if (PressRAG_Crypto::is_valid_secret(PressRAG_Settings::webhook_secret())) {
            $headers['webhook-signature'] = PressRAG_Crypto::webhook_signature(PressRAG_Settings::webhook_secret(), $msg_id, $timestamp, $body);
        }
        if ('' !== PressRAG_Settings::admin_api_key()) {
            $headers['Authorization'] = 'Bearer ' . PressRAG_Settings::admin_api_key();
        }
        $response = wp_remote_post(
            $base . '/v1/sites/' . rawurlencode($site) . '/connection-test',
            array(
                'timeout'     => 10,
                'redirection' => 0,
                'headers'     => $headers,
                'body'        => $body,
            )
        );
        $result = self::result($response);
        $result['signed'] = ! is_wp_error($response) && self::signed_by_backend($response);
        return $result;
    }

    /**
     * Whether a response carries a valid signature under our webhook secret (fresh, and over
     * the exact body).
     *
     * @param array $response wp_remote_* response.
     */
    private static function signed_by_backend(array $response): bool
    {
        $secret = PressRAG_Settings::webhook_secret();
        $id = (string) wp_remote_retrieve_header($response, 'webhook-id');
        $timestamp = (string) wp_remote_retrieve_header($response, 'webhook-timestamp');
        $header = (string) wp_remote_retrieve_header($response, 'webhook-signature');
        if (! PressRAG_Crypto::is_valid_secret($secret) || '' === $id || ! ctype_digit($timestamp) || abs(time() - (int) $timestamp) > 300) {
            return false;
        }
        $expected = PressRAG_Crypto::webhook_signature($secret, $id, (int) $timestamp, (string) wp_remote_retrieve_body($response));
        foreach (explode(' ', $header) as $given) {
            if (hash_equals($expected, $given)) {
                return true;
            }
        }
        return false;
    }

    /**
     * A GET to the backend; errors are described without echoing any secret.
     *
     * @param string $path       Path below the backend URL.
     * @param bool   $with_admin Whether to send the admin API key.
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    private static function get(string $path, bool $with_admin): array
    {
        $base = PressRAG_Settings::backend_url();
        if ('' === $base) {
            return self::failure(__('No backend URL is configured.', 'pressrag'));
        }
        $headers = array('Accept' => 'application/json');
        if ($with_admin) {
            $headers['Authorization'] = 'Bearer ' . PressRAG_Settings::admin_api_key();
        }
        $response = wp_remote_get(
            $base . $path,
            array(
                'timeout'     => 5,
                'redirection' => 0,
                'headers'     => $headers,
            )
        );
        return self::result($response);
    }

    /**
     * A response as a result; errors are described without echoing any secret.
     *
     * @param array|WP_Error $response wp_remote_* response.
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    private static function result($response): array
    {
        if (is_wp_error($response)) {
            /* translators: %s: transport error message. */
            return self::failure(sprintf(__('Could not reach the backend: %s', 'pressrag'), $response->get_error_message()));
        }
        $status = (int) wp_remote_retrieve_response_code($response);
        $data = json_decode((string) wp_remote_retrieve_body($response), true);
        if ($status < 200 || $status >= 300) {
            $detail = is_array($data) && isset($data['error']) ? (string) $data['error'] : '';
            return array(
                'ok'     => false,
                'status' => $status,
                'data'   => $data,
                /* translators: 1: HTTP status code, 2: backend error code. */
                'error'  => trim(sprintf(__('Backend answered HTTP %1$d %2$s', 'pressrag'), $status, $detail)),
            );
        }
        return array(
            'ok'     => true,
            'status' => $status,
            'data'   => $data,
            'error'  => '',
        );
    }

    /**
     * A failed result without an HTTP status.
     *
     * @param string $message Message.
     * @return array{ok:bool,status:int,data:mixed,error:string}
     */
    private static function failure(string $message): array
    {
        return array(
            'ok'     => false,
            'status' => 0,
            'data'   => null,
            'error'  => $message,
        );
    }
}
