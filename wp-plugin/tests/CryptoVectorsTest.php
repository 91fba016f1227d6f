<?php

/**
 * The PHP signing code must reproduce the shared vectors made by an independent implementation.
 *
 * @package PressRAG
 */

/**
 * Webhook signatures and JWTs against tests/vectors/.
 */
final class CryptoVectorsTest extends PressRAGTestCase
{
    /**
     * Every webhook vector, by name.
     *
     * @return array<string,array{0:array<string,mixed>}>
     */
    public function webhookCases(): array
    {
        $cases = array();
        foreach (self::vectors('webhook_signatures.json')['cases'] as $case) {
            $cases[ $case['name'] ] = array($case);
        }
        return $cases;
    }

    /**
     * Every token vector, by name.
     *
     * @return array<string,array{0:array<string,mixed>}>
     */
    public function tokenCases(): array
    {
        $cases = array();
        foreach (self::vectors('tokens.json')['cases'] as $case) {
            $cases[ $case['name'] ] = array($case);
        }
        return $cases;
    }

    /**
     * @dataProvider webhookCases
     * @param array<string,mixed> $case Vector.
     */
    public function testWebhookSignatureMatchesVector(array $case): void
    {
        $secrets = $case['secrets'] ?? array($case['secret']);
        $header = PressRAG_Crypto::webhook_signature_header($secrets, $case['id'], (int) $case['timestamp'], $case['body']);
        $this->assertSame($case['expected_signature'], $header);
    }

    /**
     * @dataProvider webhookCases
     * @param array<string,mixed> $case Vector.
     */
    public function testChangingAnySignedPartChangesTheSignature(array $case): void
    {
        $secret = $case['secrets'][0] ?? $case['secret'];
        $good = PressRAG_Crypto::webhook_signature($secret, $case['id'], (int) $case['timestamp'], $case['body']);
        $this->assertNotSame($good, PressRAG_Crypto::webhook_signature($secret, $case['id'] . 'x', (int) $case['timestamp'], $case['body']));
        $this->assertNotSame($good, PressRAG_Crypto::webhook_signature($secret, $case['id'], (int) $case['timestamp'] + 1, $case['body']));
        $this->assertNotSame($good, PressRAG_Crypto::webhook_signature($secret, $case['id'], (int) $case['timestamp'], $case['body'] . ' '));
    }

    /**
     * @dataProvider tokenCases
     * @param array<string,mixed> $case Vector.
     */
    public function testJwtMatchesVector(array $case): void
    {
        $this->assertSame($case['expected_jwt'], PressRAG_Crypto::jwt_encode($case['secret'], $case['claims']));
        $this->assertSame($case['claims'], PressRAG_Crypto::jwt_decode($case['secret'], $case['expected_jwt']));
    }

    /**
     * @dataProvider tokenCases
     * @param array<string,mixed> $case Vector.
     */
    public function testTamperedJwtIsRejected(array $case): void
    {
        $parts = explode('.', $case['expected_jwt']);
        $claims = $case['claims'];
        $claims['site'] = 'someone-else';
        $forged = $parts[0] . '.' . PressRAG_Crypto::base64url_encode(PressRAG_Crypto::compact_json($claims)) . '.' . $parts[2];
        $this->assertNull(PressRAG_Crypto::jwt_decode($case['secret'], $forged));
        $this->assertNull(PressRAG_Crypto::jwt_decode(self::webhook_vector()['secret'], $case['expected_jwt']));
    }

    public function testMintedTokenFollowsTheContract(): void
    {
        $now = 1795755600;
        $claims = PressRAG_Crypto::jwt_decode(self::token_vector()['secret'], PressRAG_Token_Route::mint($now));
        $this->assertIsArray($claims);
        $this->assertSame(self::SITE, $claims['site']);
        $this->assertSame('pressrag', $claims['aud']);
        $this->assertSame($now, $claims['iat']);
        $this->assertSame(300, $claims['exp'] - $claims['iat']);
        $this->assertLessThanOrEqual(600, $claims['exp'] - $claims['iat']);
        $home = wp_parse_url(home_url());
        $this->assertStringStartsWith($home['scheme'] . '://' . $home['host'], $claims['origin']);
        $this->assertStringEndsNotWith('/', $claims['origin']);
    }

    public function testMalformedSecretsAreRejectedWithoutEchoingThem(): void
    {
        $this->assertFalse(PressRAG_Crypto::is_valid_secret('whsec_not base64!'));
        $this->assertFalse(PressRAG_Crypto::is_valid_secret('whsec_'));
        $this->assertFalse(PressRAG_Crypto::is_valid_secret('whsec_c2hvcnQ='));
        try {
            PressRAG_Crypto::webhook_signature('whsec_TOPSECRET!!', 'msg_1', 1, '{}');
            $this->fail('An invalid secret must throw');
        } catch (InvalidArgumentException $e) {
            $this->assertStringNotContainsString('TOPSECRET', $e->getMessage());
        }
    }
}
