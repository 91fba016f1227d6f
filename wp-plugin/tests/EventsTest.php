<?php

/**
 * Real WordPress content operations produce the right outbox events, once each.
 *
 * @package PressRAG
 */

/**
 * Hooks → events.
 */
final class EventsTest extends PressRAGTestCase
{
    /**
     * Posts, attachments and terms created by a test.
     *
     * @var array<int,array{0:string,1:mixed}>
     */
    private array $created = array();

    protected function setUp(): void
    {
        parent::setUp();
        // Keep the end-of-request attempt and the fake HTTP out of these tests: only recording.
        $this->created = array();
    }

    protected function tearDown(): void
    {
        foreach (array_reverse($this->created) as list($kind, $id)) {
            if ('post' === $kind) {
                wp_delete_post((int) $id, true);
            } else {
                wp_delete_term((int) $id[0], $id[1]);
            }
        }
        parent::tearDown();
    }

    /**
     * Outbox events as [type, data] in order.
     *
     * @return array<int,array{0:string,1:array<string,mixed>}>
     */
    private function events(): array
    {
        $events = array();
        foreach ($this->outbox_rows() as $row) {
            $events[] = array($row->type, json_decode($row->payload, true));
        }
        return $events;
    }

    private function new_post(array $fields): int
    {
        $id = wp_insert_post(
            array_merge(
                array(
                    'post_title'   => 'PressRAG event test',
                    'post_content' => 'Body text.',
                    'post_status'  => 'publish',
                    'post_type'    => 'post',
                ),
                $fields
            ),
            true
        );
        $this->assertIsInt($id);
        $this->created[] = array('post', $id);
        return $id;
    }

    private function reset_events(): void
    {
        $this->clear_outbox();
    }

    public function testPublishingRecordsOneUpsert(): void
    {
        $id = $this->new_post(array());
        $events = $this->events();
        $this->assertCount(1, $events, 'transition + wp_after_insert_post must dedupe to one event');
        $this->assertSame('document.upserted', $events[0][0]);
        $this->assertSame($id, $events[0][1]['wp_id']);
        $this->assertSame('post', $events[0][1]['post_type']);
        $this->assertSame('publish', $events[0][1]['status']);
        $this->assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/', $events[0][1]['modified_gmt']);
    }

    public function testDraftsAreIgnoredUntilPublished(): void
    {
        $id = $this->new_post(array('post_status' => 'draft'));
        wp_update_post(array('ID' => $id, 'post_content' => 'still a draft'));
        $this->assertSame(array(), $this->events());
        wp_publish_post($id);
        $this->assertSame(array('document.upserted'), array_column($this->events(), 0));
    }

    public function testUnpublishingRecordsTheNewStatus(): void
    {
        $id = $this->new_post(array());
        $this->reset_events();
        wp_update_post(array('ID' => $id, 'post_status' => 'private'));
        $events = $this->events();
        $this->assertCount(1, $events);
        $this->assertSame('document.upserted', $events[0][0]);
        $this->assertSame('private', $events[0][1]['status']);
    }

    public function testTrashRecordsOneDeleteAndNoUpsert(): void
    {
        $id = $this->new_post(array());
        $this->reset_events();
        wp_trash_post($id);
        $this->assertSame(
            array(array('document.deleted', array('wp_id' => $id, 'post_type' => 'post'))),
            $this->events()
        );
    }

    public function testForceDeleteRecordsDelete(): void
    {
        $id = $this->new_post(array());
        $this->reset_events();
        wp_delete_post($id, true);
        $this->assertSame(array('document.deleted'), array_column($this->events(), 0));
    }

    public function testRevisionsAutosavesAndUnindexedTypesAreIgnored(): void
    {
        $id = $this->new_post(array());
        $this->reset_events();
        // A revision is its own post row of type `revision`; it must not produce an event.
        wp_save_post_revision($id);
        $this->new_post(array('post_type' => 'revision', 'post_parent' => $id, 'post_status' => 'inherit', 'post_name' => $id . '-autosave-v1'));
        $this->new_post(array('post_type' => 'nav_menu_item'));
        $this->assertSame(array(), $this->events());
    }

    public function testMediaEvents(): void
    {
        $parent = $this->new_post(array());
        $this->reset_events();
        $attachment = wp_insert_attachment(
            array(
                'post_title'     => 'A file',
                'post_mime_type' => 'text/plain',
                'post_status'    => 'inherit',
            ),
            false,
            $parent,
            true
        );
        $this->assertIsInt($attachment);
        $this->created[] = array('post', $attachment);
        wp_update_post(array('ID' => $attachment, 'post_excerpt' => 'caption'));
        wp_delete_attachment($attachment, true);
        $events = $this->events();
        $this->assertSame(array('attachment.added', 'attachment.edited', 'attachment.deleted'), array_column($events, 0));
        $this->assertSame(array('wp_id' => $attachment, 'parent_id' => $parent), $events[0][1]);
    }

    public function testMediaIsIgnoredWhenNotIndexed(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['post_types'] = array('post');
        update_option(PressRAG_Settings::OPTION, $settings);
        $this->reset_events();
        $attachment = wp_insert_attachment(array('post_title' => 'B', 'post_mime_type' => 'text/plain', 'post_status' => 'inherit'), false, 0, true);
        $this->assertIsInt($attachment);
        $this->created[] = array('post', $attachment);
        $this->assertSame(array(), $this->events());
    }

    public function testTermChangesListTheirPosts(): void
    {
        $term = wp_insert_term('PressRAG term ' . wp_generate_password(6, false), 'category');
        $this->assertIsArray($term);
        $term_id = (int) $term['term_id'];
        $this->created[] = array('term', array($term_id, 'category'));
        $post = $this->new_post(array('post_category' => array($term_id)));
        $this->reset_events();

        wp_update_term($term_id, 'category', array('name' => 'Renamed ' . $term_id));
        $events = $this->events();
        $this->assertCount(1, $events);
        $this->assertSame('term.changed', $events[0][0]);
        $this->assertSame(array('taxonomy' => 'category', 'term_id' => $term_id, 'wp_ids' => array($post)), $events[0][1]);

        $this->reset_events();
        wp_delete_term($term_id, 'category');
        $types = array_column($this->events(), 0);
        $this->assertContains('term.changed', $types);
        $deleted = array_values(array_filter($this->events(), static fn($e) => 'term.changed' === $e[0]))[0][1];
        $this->assertSame(array($post), $deleted['wp_ids']);
    }

    public function testTermEventsAreCapped(): void
    {
        $this->add_filter(
            'pressrag_term_wp_ids_cap',
            static function (): int {
                return 2;
            }
        );
        $term = wp_insert_term('PressRAG cap ' . wp_generate_password(6, false), 'post_tag');
        $this->assertIsArray($term);
        $this->created[] = array('term', array((int) $term['term_id'], 'post_tag'));
        for ($i = 0; $i < 3; $i++) {
            $this->new_post(array('tags_input' => array((int) $term['term_id'])));
        }
        $this->reset_events();
        wp_update_term((int) $term['term_id'], 'post_tag', array('description' => 'changed'));
        $this->assertCount(2, $this->events()[0][1]['wp_ids']);
    }

    public function testReindexRequestIsAnEvent(): void
    {
        $this->assertIsInt(PressRAG_Events::reindex_requested());
        $this->assertSame(array(array('site.reindex_requested', array())), $this->events());
    }

    public function testChangingIndexedTypesTellsTheBackend(): void
    {
        $settings = PressRAG_Settings::stored();
        $settings['post_types'] = array('page');
        update_option(PressRAG_Settings::OPTION, $settings);
        $this->assertSame(array('site.settings_changed'), array_column($this->events(), 0));
    }
}
