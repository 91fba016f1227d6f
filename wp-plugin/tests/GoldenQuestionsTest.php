<?php

/**
 * Golden questions on the settings page: sanitized on save, escaped on output, and sent to the
 * backend as one signed `site.golden_questions` event when the list changes.
 *
 * @package PressRAG
 */

/**
 * The golden-questions setting.
 */
final class GoldenQuestionsTest extends PressRAGTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $GLOBALS['wp_settings_errors'] = array();
        require_once ABSPATH . 'wp-admin/includes/template.php';
    }

    protected function tearDown(): void
    {
        // The save path registers the sanitizer; the base tear-down restores the raw option.
        if (isset(get_registered_settings()[ PressRAG_Settings::OPTION ])) {
            unregister_setting('pressrag', PressRAG_Settings::OPTION);
        }
        $GLOBALS['wp_settings_errors'] = array();
        delete_option(PressRAG_Events::GOLDEN_REVISION_OPTION);
        parent::tearDown();
    }

    /**
     * Home URL without a trailing slash (scheme, host and port of this WordPress).
     */
    private static function home(): string
    {
        return untrailingslashit(home_url());
    }

    /**
     * Settings errors as line-specific codes => message.
     *
     * @return array<string,string>
     */
    private static function errors(): array
    {
        $errors = array();
        foreach (get_settings_errors(PressRAG_Settings::OPTION) as $error) {
            $errors[ $error['code'] ] = $error['message'];
        }
        return $errors;
    }

    /**
     * Save the settings form the way options.php does (sanitize callback, then the option).
     *
     * @param string $golden Textarea value.
     */
    private function save_form(string $golden): void
    {
        PressRAG_Admin::register_settings();
        $stored = PressRAG_Settings::stored();
        update_option(
            PressRAG_Settings::OPTION,
            array_merge(
                $stored,
                array(
                    'starter_questions' => '',
                    'outbox_enabled'    => '1',
                    'golden_questions'  => $golden,
                )
            )
        );
    }

    /**
     * Golden events in the outbox, oldest first, as decoded data.
     *
     * @return array<int,array<string,mixed>>
     */
    private function golden_events(): array
    {
        $events = array();
        foreach ($this->outbox_rows() as $row) {
            if ('site.golden_questions' === $row->type) {
                $events[] = json_decode($row->payload, true);
            }
        }
        return $events;
    }

    public function testValidLinesAreKeptAndInvalidOnesNamedByLine(): void
    {
        $home = self::home();
        $text = implode(
            "\r\n",
            array(
                "  What are your opening hours? | {$home}/contact/  ",
                '',
                'Who wrote this? | /about/',
                'Is it | really | free? | /pricing/',
                'No separator here /about/',
                'Elsewhere? | https://example.org/about/',
                'Sneaky? | //example.org/about/',
                'Script? | javascript:alert(1)',
                ' | /about/',
                str_repeat('q', PressRAG_Settings::GOLDEN_QUESTION_CHARS + 1) . ' | /about/',
                '<b>Bold</b>   question? | /about/#team',
                'Who wrote this? | /about/',
            )
        );
        $clean = PressRAG_Settings::sanitize_golden($text);

        $this->assertSame(
            array(
                array(
                    'question' => 'What are your opening hours?',
                    'url'      => "{$home}/contact/",
                ),
                array(
                    'question' => 'Who wrote this?',
                    'url'      => "{$home}/about/",
                ),
                array(
                    'question' => 'Is it | really | free?',
                    'url'      => "{$home}/pricing/",
                ),
                array(
                    'question' => 'Bold question?',
                    'url'      => "{$home}/about/",
                ),
            ),
            $clean,
            'trimmed, blank lines and repeats dropped, paths resolved against the home URL (a fragment names no other page)'
        );
        $errors = self::errors();
        $this->assertSame(
            array(
                'pressrag_golden_questions_5',
                'pressrag_golden_questions_6',
                'pressrag_golden_questions_7',
                'pressrag_golden_questions_8',
                'pressrag_golden_questions_9',
                'pressrag_golden_questions_10',
            ),
            array_keys($errors)
        );
        $this->assertStringContainsString('line 5: write it as &quot;question | URL&quot;', $errors['pressrag_golden_questions_5']);
        $this->assertStringContainsString('line 6: the URL is not an address on this site', $errors['pressrag_golden_questions_6']);
        $this->assertStringContainsString('line 9: the question is empty', $errors['pressrag_golden_questions_9']);
        $this->assertStringContainsString('longer than 300 characters', $errors['pressrag_golden_questions_10']);
    }

    public function testAtMostTheCapIsKeptAndTheRestReportedInOneNotice(): void
    {
        $lines = array();
        for ($i = 1; $i <= PressRAG_Settings::GOLDEN_MAX + 12; $i++) {
            $lines[] = "Question {$i}? | /page-{$i}/";
        }
        $clean = PressRAG_Settings::sanitize_golden(implode("\n", $lines));

        $this->assertCount(PressRAG_Settings::GOLDEN_MAX, $clean);
        $this->assertSame('Question 200?', $clean[ PressRAG_Settings::GOLDEN_MAX - 1 ]['question']);
        $errors = self::errors();
        $this->assertArrayHasKey('pressrag_golden_questions_201', $errors);
        $this->assertStringContainsString('only the first 200 questions are kept', $errors['pressrag_golden_questions_201']);
        $this->assertStringContainsString('2 more lines were not saved', $errors['pressrag_golden_questions_more']);
    }

    public function testSavingAChangedListQueuesOneSignedEvent(): void
    {
        $home = self::home();
        $this->save_form("Who wrote this? | /about/\nBroken line\nHours? | {$home}/contact/");

        $this->assertSame(
            array(
                array(
                    'question' => 'Who wrote this?',
                    'url'      => "{$home}/about/",
                ),
                array(
                    'question' => 'Hours?',
                    'url'      => "{$home}/contact/",
                ),
            ),
            PressRAG_Settings::golden_questions()
        );
        $this->assertArrayHasKey('pressrag_golden_questions_2', self::errors());
        $events = $this->golden_events();
        $this->assertCount(1, $events);
        $this->assertSame(PressRAG_Settings::golden_questions(), $events[0]['questions']);
        $this->assertGreaterThan(0, $events[0]['revision']);

        $outcome = PressRAG_Outbox::instance()->deliver_due();
        $this->assertSame(1, $outcome['delivered']);
        list($url, $args) = $this->sent[0];
        $this->assertSame(self::BACKEND . '/v1/webhooks/wordpress', $url);
        $body = json_decode($args['body'], true);
        $this->assertSame('site.golden_questions', $body['type']);
        $this->assertSame(self::SITE, $body['site']);
        $this->assertSame($events[0], $body['data']);
        $this->assertSame(
            PressRAG_Crypto::webhook_signature(
                self::webhook_vector()['secret'],
                $args['headers']['webhook-id'],
                (int) $args['headers']['webhook-timestamp'],
                $args['body']
            ),
            $args['headers']['webhook-signature']
        );
    }

    public function testAnUnchangedListSendsNothingAndAnEmptyOneIsSentWithANewerRevision(): void
    {
        $this->save_form('Who wrote this? | /about/');
        $first = $this->golden_events();
        $this->assertCount(1, $first);

        $this->clear_outbox();
        $this->save_form("\n  Who wrote this?   |   /about/ \n");
        $this->assertSame(array(), $this->golden_events(), 'the same list again is not an event');

        $this->save_form('');
        $emptied = $this->golden_events();
        $this->assertCount(1, $emptied);
        $this->assertSame(array(), $emptied[0]['questions']);
        $this->assertGreaterThan($first[0]['revision'], $emptied[0]['revision']);
        $this->assertSame(array(), PressRAG_Settings::golden_questions());
        $body = json_decode(PressRAG_Outbox::body($this->outbox_rows()[0]), true);
        $this->assertSame(array(), $body['data']['questions'], 'an empty list, not an object');
    }

    public function testTheFieldEscapesWhatIsStored(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['golden_questions'] = array(
            array(
                'question' => '</textarea><script>alert(1)</script>',
                'url'      => 'https://example.com/"><b>',
            ),
        );
        update_option(PressRAG_Settings::OPTION, $settings);
        ob_start();
        PressRAG_Admin::field_golden();
        $html = (string) ob_get_clean();

        $this->assertStringNotContainsString('<script>', $html);
        $this->assertStringNotContainsString('"><b>', $html);
        $this->assertSame(1, substr_count($html, '</textarea>'));
        $this->assertStringContainsString('name="pressrag_settings[golden_questions]"', $html);
    }
}
