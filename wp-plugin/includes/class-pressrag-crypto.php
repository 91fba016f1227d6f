<?php

/**
 * Signing primitives shared with the backend (see docs/contracts.md and tests/vectors/).
 *
 * Written by hand on purpose: no Composer dependencies in a WordPress plugin, and the formats
 * are small enough that the shared test vectors pin them down completely.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Standard Webhooks signatures and HS256 JWTs.
 */
final class PressRAG_Crypto
{
    public const SECRET_PREFIX = 'whsec_';

    /**
     * Whether a secret has the `whsec_<base64>` form and decodes to a usable key.
     *
     * @param string $secret Secret as configured.
     */
    public static function is_valid_secret(string $secret): bool
    {
        return null !== self::key_from_secret($secret);
    }

    /**
     * The HMAC key: the base64-decoded part after `whsec_`, or null when it is not valid base64.
     *
     * @param string $secret Secret as configured.
     */
    public static function key_from_secret(string $secret): ?string
    {
        $encoded = str_starts_with($secret, self::SECRET_PREFIX)
            ? substr($secret, strlen(self::SECRET_PREFIX))
            : $secret;
        if ('' === $encoded) {
            return null;
        }
        $key = base64_decode($encoded, true);
        if (false === $key || strlen($key) < 16) {
            return null;
        }
        return $key;
    }

    /**
     * One `v1,<base64 signature>` entry of the `webhook-signature` header.
     *
     * @param string $secret    Webhook secret (`whsec_...`).
     * @param string $msg_id    Value of the `webhook-id` header.
     * @param int    $timestamp Value of the `webhook-timestamp` header (Unix seconds).
     * @param string $body      Exact raw request body.
     * @throws InvalidArgumentException When the secret is not a valid `whsec_` secret.
     */
    public static function webhook_signature(string $secret, string $msg_id, int $timestamp, string $body): string
    {
        $key = self::require_key($secret);
        $mac = hash_hmac('sha256', $msg_id . '.' . $timestamp . '.' . $body, $key, true);
        return 'v1,' . base64_encode($mac);
    }

    /**
     * The full `webhook-signature` header: one signature per secret, space separated (rotation).
     *
     * @param string[] $secrets   Active webhook secrets.
     * @param string   $msg_id    Message id.
     * @param int      $timestamp Unix seconds.
     * @param string   $body      Exact raw body.
     */
    public static function webhook_signature_header(array $secrets, string $msg_id, int $timestamp, string $body): string
    {
        $signatures = array();
        foreach ($secrets as $secret) {
            $signatures[] = self::webhook_signature($secret, $msg_id, $timestamp, $body);
        }
        return implode(' ', $signatures);
    }

    /**
     * Base64url without padding (RFC 7515 section 2).
     *
     * @param string $data Raw bytes.
     */
    public static function base64url_encode(string $data): string
    {
        return rtrim(strtr(base64_encode($data), '+/', '-_'), '=');
    }

    /**
     * Decode base64url (padding optional); null on invalid input.
     *
     * @param string $data Encoded text.
     */
    public static function base64url_decode(string $data): ?string
    {
        if (1 !== preg_match('/^[A-Za-z0-9_-]*$/', $data)) {
            return null;
        }
        $padded = strtr($data, '-_', '+/') . str_repeat('=', (4 - strlen($data) % 4) % 4);
        $raw = base64_decode($padded, true);
        return false === $raw ? null : $raw;
    }

    /**
     * A compact HS256 JWT over the claims, keys kept in the given order.
     *
     * @param string              $secret Token secret (`whsec_...`).
     * @param array<string,mixed> $claims Claims.
     * @throws InvalidArgumentException When the secret is not a valid `whsec_` secret.
     */
    public static function jwt_encode(string $secret, array $claims): string
    {
        $key = self::require_key($secret);
        $header = array(
            'alg' => 'HS256',
            'typ' => 'JWT',
        );
        $signing_input = self::base64url_encode(self::compact_json($header))
            . '.' . self::base64url_encode(self::compact_json($claims));
        return $signing_input . '.' . self::base64url_encode(hash_hmac('sha256', $signing_input, $key, true));
    }

    /**
     * Verify an HS256 JWT's signature and return its claims, or null. Used by the tests and the
     * admin "test connection" check; expiry is the caller's business.
     *
     * @param string $secret Token secret.
     * @param string $jwt    Compact JWT.
     * @return array<string,mixed>|null
     */
    public static function jwt_decode(string $secret, string $jwt): ?array
    {
        $key = self::key_from_secret($secret);
        $parts = explode('.', $jwt);
        if (null === $key || 3 !== count($parts)) {
            return null;
        }
        $expected = self::base64url_encode(hash_hmac('sha256', $parts[0] . '.' . $parts[1], $key, true));
        if (! hash_equals($expected, $parts[2])) {
            return null;
        }
        $header = json_decode((string) self::base64url_decode($parts[0]), true);
        $claims = json_decode((string) self::base64url_decode($parts[1]), true);
        if (! is_array($header) || 'HS256' !== ($header['alg'] ?? null) || ! is_array($claims)) {
            return null;
        }
        return $claims;
    }

    /**
     * Compact JSON matching Python's `json.dumps(separators=(",", ":"))`: slashes unescaped,
     * non-ASCII escaped as \uXXXX.
     *
     * @param array<string,mixed> $value Value to encode.
     */
    public static function compact_json(array $value): string
    {
        return (string) json_encode($value, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    }

    /**
     * Secure random secret in the contract's format (for the settings page's "generate" hint).
     */
    public static function generate_secret(): string
    {
        return self::SECRET_PREFIX . base64_encode(random_bytes(32));
    }

    /**
     * Key bytes or an exception whose message never contains the secret.
     *
     * @param string $secret Secret.
     * @throws InvalidArgumentException When the secret is invalid.
     */
    private static function require_key(string $secret): string
    {
        $key = self::key_from_secret($secret);
        if (null === $key) {
            throw new InvalidArgumentException('Secret is not a valid whsec_<base64> value.');
        }
        return $key;
    }
}
