<?php

/**
 * Turns WordPress content changes into outbox events (wire format: docs/contracts.md).
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Content hooks → outbox events.
 */
final class PressRAG_Events
{
    /** Most post ids listed in a term.changed event (filter `pressrag_term_wp_ids_cap`). */
    public const TERM_WP_IDS_CAP = 1000;

    /** Revision of the last golden-question list sent (the backend applies only newer ones). */
    public const GOLDEN_REVISION_OPTION = 'pressrag_golden_revision';

    /**
     * Hook everything.
     */
    public static function register(): void
    {
        add_action('wp_after_insert_post', array(self::class, 'on_after_insert_post'), 10, 4);
        add_action('transition_post_status', array(self::class, 'on_transition_post_status'), 10, 3);
        add_action('before_delete_post', array(self::class, 'on_before_delete_post'), 10, 2);
        add_action('add_attachment', array(self::class, 'on_add_attachment'));
        add_action('edit_attachment', array(self::class, 'on_edit_attachment'));
        add_action('delete_attachment', array(self::class, 'on_delete_attachment'), 10, 2);
        add_action('edited_term', array(self::class, 'on_edited_term'), 10, 3);
        add_action('delete_term', array(self::class, 'on_delete_term'), 10, 5);
        add_action('update_option_' . PressRAG_Settings::OPTION, array(self::class, 'on_settings_updated'), 10, 2);
        add_action('update_option_permalink_structure', array(self::class, 'on_site_setting_changed'));
        add_action('update_option_home', array(self::class, 'on_site_setting_changed'));
    }

    /**
     * A post was saved (after its terms and meta, unlike save_post). Only published content
     * matters here; status changes are sent by on_transition_post_status.
     *
     * @param int          $post_id     Post id.
     * @param WP_Post      $post        Post.
     * @param bool         $update      Whether this is an update.
     * @param WP_Post|null $post_before Post before the update.
     */
    public static function on_after_insert_post($post_id, $post, $update, $post_before): void
    {
        unset($update, $post_before);
        if (! self::is_indexable_post($post) || 'publish' !== $post->post_status) {
            // Trash also lands here with status `trash`: the transition hook already sent it.
            return;
        }
        self::document_upserted($post);
    }

    /**
     * Publish → anything, anything → publish, and anything → trash.
     *
     * @param string  $new_status New status.
     * @param string  $old_status Old status.
     * @param WP_Post $post       Post.
     */
    public static function on_transition_post_status($new_status, $old_status, $post): void
    {
        if (! self::is_indexable_post($post) || $new_status === $old_status) {
            return;
        }
        if ('trash' === $new_status) {
            self::document_deleted($post);
        } elseif ('publish' === $new_status || 'publish' === $old_status) {
            self::document_upserted($post);
        }
    }

    /**
     * A post is being deleted for good (attachments are handled by delete_attachment).
     *
     * @param int          $post_id Post id.
     * @param WP_Post|null $post    Post.
     */
    public static function on_before_delete_post($post_id, $post = null): void
    {
        $post = $post instanceof WP_Post ? $post : get_post($post_id);
        if (self::is_indexable_post($post)) {
            self::document_deleted($post);
        }
    }

    /**
     * Media added.
     *
     * @param int $post_id Attachment id.
     */
    public static function on_add_attachment($post_id): void
    {
        self::attachment_event('attachment.added', get_post($post_id));
    }

    /**
     * Media edited.
     *
     * @param int $post_id Attachment id.
     */
    public static function on_edit_attachment($post_id): void
    {
        self::attachment_event('attachment.edited', get_post($post_id));
    }

    /**
     * Media deleted.
     *
     * @param int          $post_id Attachment id.
     * @param WP_Post|null $post    Attachment.
     */
    public static function on_delete_attachment($post_id, $post = null): void
    {
        self::attachment_event('attachment.deleted', $post instanceof WP_Post ? $post : get_post($post_id));
    }

    /**
     * A term on an indexed taxonomy changed (name, slug, parent…): its posts' metadata changed.
     *
     * @param int    $term_id  Term id.
     * @param int    $tt_id    Term taxonomy id.
     * @param string $taxonomy Taxonomy.
     */
    public static function on_edited_term($term_id, $tt_id, $taxonomy): void
    {
        unset($tt_id);
        if (! in_array($taxonomy, PressRAG_Settings::indexed_taxonomies(), true)) {
            return;
        }
        $ids = get_posts(
            array(
                'post_type'        => PressRAG_Settings::post_types(),
                'post_status'      => 'any',
                'fields'           => 'ids',
                'posts_per_page'   => self::term_wp_ids_cap(),
                'no_found_rows'    => true,
                'suppress_filters' => true,
                'tax_query'        => array(
                    array(
                        'taxonomy'         => $taxonomy,
                        'terms'            => array((int) $term_id),
                        'include_children' => false,
                    ),
                ),
            )
        );
        self::term_changed((string) $taxonomy, (int) $term_id, $ids);
    }

    /**
     * A term on an indexed taxonomy was deleted; WordPress passes the ids it was attached to.
     *
     * @param int          $term_id      Term id.
     * @param int          $tt_id        Term taxonomy id.
     * @param string       $taxonomy     Taxonomy.
     * @param WP_Term|null $deleted_term Deleted term.
     * @param int[]        $object_ids   Objects the term was attached to.
     */
    public static function on_delete_term($term_id, $tt_id, $taxonomy, $deleted_term = null, $object_ids = array()): void
    {
        unset($tt_id, $deleted_term);
        if (! in_array($taxonomy, PressRAG_Settings::indexed_taxonomies(), true)) {
            return;
        }
        self::term_changed((string) $taxonomy, (int) $term_id, is_array($object_ids) ? $object_ids : array());
    }

    /**
     * Our own settings changed: tell the backend when what is indexed, or the golden questions
     * its search is checked against, changed.
     *
     * @param mixed $old_value Old option.
     * @param mixed $new_value New option.
     */
    public static function on_settings_updated($old_value, $new_value): void
    {
        $old_types = is_array($old_value) ? ($old_value['post_types'] ?? array()) : array();
        $new_types = is_array($new_value) ? ($new_value['post_types'] ?? array()) : array();
        if ($old_types !== $new_types) {
            self::on_site_setting_changed();
        }
        $old_golden = is_array($old_value) ? ($old_value['golden_questions'] ?? array()) : array();
        $new_golden = is_array($new_value) ? ($new_value['golden_questions'] ?? array()) : array();
        if ($old_golden !== $new_golden) {
            self::golden_questions_changed(is_array($new_golden) ? $new_golden : array());
        }
    }

    /**
     * Send the whole golden-question list (an empty one removes them). Each list carries a
     * revision that only grows, because the outbox may deliver a retried older list after a
     * newer one; the backend keeps the newest.
     *
     * @param array<int,array{question:string,url:string}> $questions Sanitized pairs.
     * @return int|null Row id.
     */
    public static function golden_questions_changed(array $questions): ?int
    {
        $revision = max((int) floor(microtime(true) * 1000), (int) get_option(self::GOLDEN_REVISION_OPTION, 0) + 1);
        update_option(self::GOLDEN_REVISION_OPTION, $revision, false);
        $pairs = array();
        foreach ($questions as $pair) {
            $pairs[] = array(
                'question' => (string) $pair['question'],
                'url'      => (string) $pair['url'],
            );
        }
        return PressRAG_Outbox::instance()->enqueue(
            'site.golden_questions',
            array(
                'revision'  => $revision,
                'questions' => $pairs,
            ),
            'site.golden_questions'
        );
    }

    /**
     * A site-wide setting that changes URLs or scope changed.
     */
    public static function on_site_setting_changed(): void
    {
        PressRAG_Outbox::instance()->enqueue('site.settings_changed', array(), 'site.settings_changed');
    }

    /**
     * Ask the backend for a full reindex of this site (admin button).
     *
     * @return int|null Row id.
     */
    public static function reindex_requested(): ?int
    {
        return PressRAG_Outbox::instance()->enqueue('site.reindex_requested', array(), 'site.reindex_requested');
    }

    /**
     * Post of an indexed type that is neither a revision nor an autosave nor media.
     *
     * @param mixed $post Candidate.
     */
    private static function is_indexable_post($post): bool
    {
        return $post instanceof WP_Post
            && 'attachment' !== $post->post_type
            && PressRAG_Settings::is_indexed_type($post->post_type)
            && ! wp_is_post_revision($post)
            && ! wp_is_post_autosave($post)
            && 'auto-draft' !== $post->post_status;
    }

    /**
     * Enqueue document.upserted.
     *
     * @param WP_Post $post Post.
     */
    private static function document_upserted(WP_Post $post): void
    {
        PressRAG_Outbox::instance()->enqueue(
            'document.upserted',
            array(
                'wp_id'        => (int) $post->ID,
                'post_type'    => $post->post_type,
                'status'       => $post->post_status,
                'modified_gmt' => str_replace(' ', 'T', (string) $post->post_modified_gmt),
            ),
            'document.upserted:' . $post->ID
        );
    }

    /**
     * Enqueue document.deleted.
     *
     * @param WP_Post $post Post.
     */
    private static function document_deleted(WP_Post $post): void
    {
        PressRAG_Outbox::instance()->enqueue(
            'document.deleted',
            array(
                'wp_id'     => (int) $post->ID,
                'post_type' => $post->post_type,
            ),
            'document.deleted:' . $post->ID
        );
    }

    /**
     * Enqueue an attachment.* event when media is indexed.
     *
     * @param string $type Event type.
     * @param mixed  $post Attachment post.
     */
    private static function attachment_event(string $type, $post): void
    {
        if (! $post instanceof WP_Post || 'attachment' !== $post->post_type || ! PressRAG_Settings::is_indexed_type('attachment')) {
            return;
        }
        PressRAG_Outbox::instance()->enqueue(
            $type,
            array(
                'wp_id'     => (int) $post->ID,
                'parent_id' => (int) $post->post_parent,
            ),
            $type . ':' . $post->ID
        );
    }

    /**
     * Enqueue term.changed with at most the capped number of post ids.
     *
     * @param string $taxonomy Taxonomy.
     * @param int    $term_id  Term id.
     * @param array  $ids      Post ids.
     */
    private static function term_changed(string $taxonomy, int $term_id, array $ids): void
    {
        $ids = array_slice(array_values(array_unique(array_map('intval', $ids))), 0, self::term_wp_ids_cap());
        PressRAG_Outbox::instance()->enqueue(
            'term.changed',
            array(
                'taxonomy' => $taxonomy,
                'term_id'  => $term_id,
                'wp_ids'   => $ids,
            ),
            'term.changed:' . $taxonomy . ':' . $term_id
        );
    }

    /**
     * Cap on post ids per term event.
     */
    private static function term_wp_ids_cap(): int
    {
        return max(1, (int) apply_filters('pressrag_term_wp_ids_cap', self::TERM_WP_IDS_CAP));
    }
}
