<?php

/**
 * Server-side calls from the admin screens to the backend (health and index status).
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
            return self::failure(__('No admin API key is configured, so the index status cannot be read.', 'pressrag'));
        }
        return self::get('/v1/sites/' . rawurlencode($site) . '/status', true);
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
