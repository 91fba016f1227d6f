<?php

/**
 * The block, the launcher and the chat settings: one markup, defaults shown, starters offered.
 *
 * @package PressRAG
 */

/**
 * Block rendering, floating launcher, starter questions and the settings behind them.
 */
final class ChatBlockTest extends PressRAGTestCase
{
    protected function tearDown(): void
    {
        remove_all_filters('pressrag_show_launcher');
        parent::tearDown();
    }

    private function settings(array $values): void
    {
        update_option(PressRAG_Settings::OPTION, array_merge(PressRAG_Settings::stored(), $values));
    }

    private function xpath(string $html): DOMXPath
    {
        $dom = new DOMDocument();
        $this->assertTrue($dom->loadHTML('<!doctype html><html><head><meta charset="utf-8"></head><body>' . $html . '</body></html>', LIBXML_NOERROR));
        return new DOMXPath($dom);
    }

    /**
     * Markup with the per-request element ids and wrapper classes normalised.
     */
    private function shape(string $html): string
    {
        $html = (string) preg_replace('/pressrag-chat-\d+/', 'pressrag-chat-N', $html);
        return (string) preg_replace('/<section [^>]*?id=/', '<section id=', $html, 1);
    }

    public function testTheBlockIsRegisteredFromBlockJson(): void
    {
        $block = WP_Block_Type_Registry::get_instance()->get_registered('pressrag/chat');
        $this->assertNotNull($block);
        $this->assertSame(2, $block->api_version);
        $supports = array_flip(array('lock', 'className', 'style', 'backgroundColor', 'textColor', 'fontSize', 'align'));
        $this->assertSame(array('title', 'placeholder', 'k'), array_keys(array_diff_key($block->attributes, $supports)));
        $this->assertTrue($block->is_dynamic());
        $this->assertSame(PressRAG_Block::EDITOR_HANDLE, $block->editor_script);
        $this->assertTrue(wp_script_is(PressRAG_Block::EDITOR_HANDLE, 'registered'));
        $deps = wp_scripts()->registered[ PressRAG_Block::EDITOR_HANDLE ]->deps;
        foreach (array('wp-blocks', 'wp-block-editor', 'wp-element', 'wp-server-side-render') as $dep) {
            $this->assertContains($dep, $deps);
        }
    }

    public function testBlockRendersTheShortcodeMarkup(): void
    {
        $block = do_blocks('<!-- wp:pressrag/chat {"title":"Ask us","placeholder":"Your words","k":4} /-->');
        $shortcode = do_shortcode('[ai_chat title="Ask us" placeholder="Your words" k="4"]');
        $this->assertSame($this->shape($shortcode), $this->shape($block), 'one markup for both');
        $classes = explode(' ', $this->xpath($block)->query('//section')->item(0)->getAttribute('class'));
        $this->assertEqualsCanonicalizing(array('pressrag-chat', 'wp-block-pressrag-chat'), $classes);
    }

    public function testBlockColourSupportReachesTheWrapper(): void
    {
        $html = do_blocks('<!-- wp:pressrag/chat {"backgroundColor":"black","textColor":"white","align":"wide"} /-->');
        $section = $this->xpath($html)->query('//section')->item(0);
        $classes = explode(' ', $section->getAttribute('class'));
        foreach (array('pressrag-chat', 'has-background', 'has-black-background-color', 'has-white-color', 'alignwide') as $class) {
            $this->assertContains($class, $classes);
        }
    }

    public function testBlockAttributesAreSanitizedAndEscaped(): void
    {
        $html = do_blocks('<!-- wp:pressrag/chat {"title":"\u003cscript\u003ealert(1)\u003c/script\u003eHi","k":999} /-->');
        $this->assertStringNotContainsString('<script>alert', $html);
        $this->assertStringContainsString('data-k="20"', $html);
        $this->assertSame('Hi', trim($this->xpath($html)->query('//h2')->item(0)->textContent));
    }

    public function testDefaultsAreShownWhenNothingIsSet(): void
    {
        $this->settings(array('chat_title' => '', 'chat_placeholder' => ''));
        $xpath = $this->xpath(do_shortcode('[ai_chat]'));
        $this->assertSame('Ask this site', trim($xpath->query('//h2')->item(0)->textContent));
        $this->assertSame('Type your question…', $xpath->query('//input[@name="s"]')->item(0)->getAttribute('placeholder'));

        foreach (array('chat_title' => 'Ask this site', 'chat_placeholder' => 'Type your question…', 'chat_k' => '6') as $key => $shown) {
            ob_start();
            PressRAG_Admin::field_text(array('key' => $key, 'type' => 'chat_k' === $key ? 'number' : 'text'));
            $field = (string) ob_get_clean();
            $this->assertStringContainsString('value="' . esc_attr($shown) . '"', $field, $key . ' shows its default as its value');
        }
        $saved = PressRAG_Settings::sanitize(array('chat_title' => 'Ask this site', 'chat_placeholder' => 'Ask away'));
        $this->assertSame('', $saved['chat_title'], 'an unchanged default keeps following the language');
        $this->assertSame('Ask away', $saved['chat_placeholder']);
    }

    public function testStarterQuestionsAreSanitizedAndRenderedAsSearchLinks(): void
    {
        $clean = PressRAG_Settings::sanitize(
            array('starter_questions' => "  How do I start?  \r\n\r\n<b>Why</b> & how?\nHow do I start?\nfour\nfive\nsix\n" . str_repeat('x', 200))
        );
        $this->assertSame(array('How do I start?', 'Why & how?', 'four', 'five'), $clean['starter_questions']);
        $this->settings(array('starter_questions' => $clean['starter_questions']));

        $xpath = $this->xpath(do_shortcode('[ai_chat]'));
        $links = $xpath->query('//a[contains(@class,"pressrag-chat__starter")]');
        $this->assertSame(4, $links->length);
        $this->assertSame('Why & how?', $links->item(1)->textContent);
        $this->assertSame(home_url('/') . '?s=Why%20%26%20how%3F', $links->item(1)->getAttribute('href'));

        $this->settings(array('starter_questions' => array()));
        $this->assertSame(0, $this->xpath(do_shortcode('[ai_chat]'))->query('//*[contains(@class,"pressrag-chat__starters")]')->length);
    }

    public function testLauncherIsOffByDefaultAndRendersTheChatWhenOn(): void
    {
        $this->assertFalse(PressRAG_Settings::launcher_enabled());
        $this->assertFalse(PressRAG_Launcher::wanted());
        ob_start();
        PressRAG_Launcher::render_footer();
        $this->assertSame('', ob_get_clean());

        $clean = PressRAG_Settings::sanitize(array('launcher_enabled' => '1'));
        $this->assertTrue($clean['launcher_enabled']);
        $this->settings(array('launcher_enabled' => true, 'chat_title' => 'Ask <the> garden'));
        $this->assertTrue(PressRAG_Launcher::wanted());
        $xpath = $this->xpath(PressRAG_Launcher::render());
        $this->assertSame(1, $xpath->query('//details[@data-pressrag-launcher]/summary')->length, 'opens with the keyboard, no script needed');
        $this->assertSame('Ask <the> garden', trim($xpath->query('//summary')->item(0)->textContent));
        $this->assertSame(1, $xpath->query('//details//section[@data-pressrag-chat]//form[@role="search"]')->length);
    }

    public function testLauncherAppearsOnEveryPageButNotTwiceWithAChat(): void
    {
        $this->use_real_http();
        $this->settings(array('launcher_enabled' => true));
        $home = wp_remote_retrieve_body(wp_remote_get(home_url('/'), array('timeout' => 20)));
        $this->assertStringContainsString('data-pressrag-launcher', $home);
        $this->assertStringContainsString('assets/chat.css', substr($home, 0, (int) strpos($home, '</head>')));

        $id = wp_insert_post(array('post_title' => 'With chat', 'post_content' => '[ai_chat]', 'post_status' => 'publish', 'post_type' => 'page'), true);
        $this->assertIsInt($id);
        try {
            $page = wp_remote_retrieve_body(wp_remote_get(get_permalink($id), array('timeout' => 20)));
            $this->assertStringNotContainsString('data-pressrag-launcher', $page);
            $this->assertSame(1, substr_count($page, 'data-pressrag-chat'));
        } finally {
            wp_delete_post($id, true);
        }
    }

    public function testTheChatIsNotPartOfTheContentTheRestApiServes(): void
    {
        $this->use_real_http();
        $this->settings(array('starter_questions' => array('Which starter leaks?')));
        $id = wp_insert_post(
            array(
                'post_title'   => 'Chat and words',
                'post_content' => "<!-- wp:paragraph --><p>Real words.</p><!-- /wp:paragraph -->\n<!-- wp:pressrag/chat /-->\n[ai_chat]",
                'post_status'  => 'publish',
            ),
            true
        );
        $this->assertIsInt($id);
        try {
            $response = wp_remote_get(rest_url('wp/v2/posts/' . $id), array('timeout' => 20));
            $rendered = json_decode(wp_remote_retrieve_body($response), true)['content']['rendered'];
            $this->assertStringContainsString('Real words.', $rendered);
            $this->assertStringNotContainsString('pressrag-chat', $rendered, 'what the indexer reads holds no chat');
            $this->assertStringNotContainsString('Which starter leaks?', $rendered);

            $page = wp_remote_retrieve_body(wp_remote_get(get_permalink($id), array('timeout' => 20)));
            $this->assertSame(2, substr_count($page, 'data-pressrag-chat'), 'visitors still get both');
        } finally {
            wp_delete_post($id, true);
        }
    }

    public function testBrowserConfigCarriesTheSearchUrlAndHistoryBounds(): void
    {
        $config = PressRAG_Chat::client_config();
        $this->assertSame(home_url('/'), $config['searchUrl']);
        $this->assertSame(PressRAG_Chat::HISTORY_TURNS, $config['historyTurns']);
        $this->assertLessThanOrEqual(4000, $config['historyChars'], 'within the backend limit of a turn');
        foreach (array('sourceCount', 'sourceLink', 'searchSite', 'cleared') as $key) {
            $this->assertNotEmpty($config['i18n'][ $key ]);
        }
    }
}
