<?php

/**
 * The [ai_chat] shortcode: escaped output, accessible markup, assets only where used.
 *
 * @package PressRAG
 */

/**
 * Shortcode rendering and asset loading.
 */
final class ShortcodeTest extends PressRAGTestCase
{
    /**
     * Posts created by a test.
     *
     * @var int[]
     */
    private array $posts = array();

    protected function tearDown(): void
    {
        foreach ($this->posts as $id) {
            wp_delete_post($id, true);
        }
        $this->posts = array();
        parent::tearDown();
    }

    public function testHostileAttributesAreEscaped(): void
    {
        $html = do_shortcode('[ai_chat title="<script>alert(1)</script>" placeholder="x&quot; onfocus=&quot;alert(2)" k="999"]');
        $this->assertStringNotContainsString('<script', $html);
        $this->assertStringContainsString('&lt;script&gt;alert(1)&lt;/script&gt;', $html);
        $this->assertStringNotContainsString('onfocus="', $html);
        $this->assertStringContainsString('data-k="20"', $html, 'k is clamped');

        $dom = new DOMDocument();
        $this->assertTrue($dom->loadHTML('<!doctype html><html><body>' . $html . '</body></html>', LIBXML_NOERROR));
        $xpath = new DOMXPath($dom);
        $this->assertSame('<script>alert(1)</script>', trim($xpath->query('//h2')->item(0)->textContent));
        $input = $xpath->query('//input[@name="s"]')->item(0);
        $this->assertSame('x" onfocus="alert(2)', $input->getAttribute('placeholder'));
        $this->assertFalse($input->hasAttribute('onfocus'));
    }

    public function testRawQuotesInAttributesCannotBreakOut(): void
    {
        $html = do_shortcode("[ai_chat placeholder='a\" autofocus onfocus=\"alert(3)' title='</h2><img src=x onerror=alert(4)>']");
        $this->assertStringNotContainsString('<img', $html);
        $dom = new DOMDocument();
        $dom->loadHTML('<!doctype html><html><body>' . $html . '</body></html>', LIBXML_NOERROR);
        $xpath = new DOMXPath($dom);
        $input = $xpath->query('//input[@name="s"]')->item(0);
        $this->assertFalse($input->hasAttribute('onfocus'));
        $this->assertFalse($input->hasAttribute('autofocus'));
        $this->assertSame(0, $xpath->query('//img')->length);
    }

    public function testMarkupIsAccessible(): void
    {
        $dom = new DOMDocument();
        $dom->loadHTML('<!doctype html><html><body>' . do_shortcode('[ai_chat]') . '</body></html>', LIBXML_NOERROR);
        $xpath = new DOMXPath($dom);
        $input = $xpath->query('//form//input[@type="text"]')->item(0);
        $this->assertNotNull($input);
        $label = $xpath->query('//label[@for="' . $input->getAttribute('id') . '"]');
        $this->assertSame(1, $label->length, 'the input has a visible label');
        $this->assertSame(1, $xpath->query('//*[@aria-live="polite"]')->length, 'one live region: the announcement');
        $this->assertSame(0, $xpath->query('//*[@role="log"]')->length, 'the streaming log is not live');
        $this->assertSame(1, $xpath->query('//form//button[@type="submit"]')->length, 'Enter in the input submits the form');
        $form = $xpath->query('//form')->item(0);
        $this->assertSame(home_url('/'), $form->getAttribute('action'), 'without JavaScript the form searches the site');
        $this->assertSame('get', $form->getAttribute('method'));
    }

    public function testTwoChatsOnOnePageHaveDistinctIds(): void
    {
        $html = do_shortcode('[ai_chat][ai_chat]');
        preg_match_all('/\sid="([^"]+)"/', $html, $ids);
        $this->assertSame(count($ids[1]), count(array_unique($ids[1])));
    }

    public function testBrowserConfigHoldsNoSecret(): void
    {
        $config = wp_json_encode(PressRAG_Chat::client_config());
        foreach (array(self::webhook_vector()['secret'], self::token_vector()['secret'], 'phpunit-admin-key-not-a-real-one') as $secret) {
            $this->assertStringNotContainsString($secret, $config);
        }
        $this->assertStringContainsString('pressrag\/v1\/token', $config);
    }

    private function page(string $content): string
    {
        $id = wp_insert_post(
            array(
                'post_title'   => 'Chat page ' . wp_generate_password(6, false),
                'post_content' => $content,
                'post_status'  => 'publish',
                'post_type'    => 'page',
            ),
            true
        );
        $this->assertIsInt($id);
        $this->posts[] = $id;
        $response = wp_remote_get(get_permalink($id), array('timeout' => 20));
        $this->assertFalse(is_wp_error($response));
        $this->assertSame(200, wp_remote_retrieve_response_code($response));
        return (string) wp_remote_retrieve_body($response);
    }

    public function testAssetsLoadOnlyOnPagesWithTheShortcode(): void
    {
        $this->use_real_http();
        $with = $this->page('<p>Intro</p>[ai_chat title="<img src=x onerror=alert(1)>"]');
        $without = $this->page('<p>No chat here.</p>');

        $this->assertStringContainsString('assets/chat.js', $with);
        $this->assertStringContainsString('assets/chat.css', $with);
        $this->assertSame(1, substr_count($with, 'window.pressragChatConfig'), 'configuration printed once');
        $this->assertSame(1, substr_count($with, 'assets/chat.js'));
        $this->assertStringContainsString('data-pressrag-chat', $with);
        $this->assertStringNotContainsString('<img src=x', $with);

        $this->assertStringNotContainsString('assets/chat.js', $without);
        $this->assertStringNotContainsString('assets/chat.css', $without);
        $this->assertStringNotContainsString('pressragChatConfig', $without);
    }

    public function testTheBlockPageGetsTheStylesheetInTheHead(): void
    {
        $this->use_real_http();
        $html = $this->page('<!-- wp:pressrag/chat {"title":"Ask the garden"} /-->');
        $head = substr($html, 0, (int) strpos($html, '</head>'));
        $this->assertStringContainsString('assets/chat.css', $head, 'no late stylesheet that would move the page');
        $this->assertStringContainsString('wp-block-pressrag-chat', $html);
        $this->assertStringContainsString('Ask the garden', $html);
        $this->assertSame(1, substr_count($html, 'assets/chat.js'));
    }
}
