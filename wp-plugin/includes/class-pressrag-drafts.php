<?php

/**
 * Posts → Draft with PressRAG: a topic (optional outline, length) becomes a WordPress draft
 * written from the site's own posts, citing and linking them.
 *
 * The request is recorded here (its author is the user who asked) and filed as an outbox event;
 * the backend runs a Dagster job and calls back (`draft.progress`, `draft.create`). The post
 * is always created as a draft by the requesting user; its markup is built here from plain
 * text blocks (escaped), and each cited source is linked to its own permalink, so nothing the
 * backend sends becomes HTML as it is. A request creates at most one post.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * The draft screen, its REST routes and the callbacks that fill it in.
 */
final class PressRAG_Drafts
{
    public const PAGE = 'pressrag-drafts';
    public const CAPABILITY = 'edit_posts';
    public const SCRIPT = 'pressrag-draft-writer';
    public const LENGTHS = array(300, 600, 1000);
    public const MAX_TOPIC_CHARS = 300;
    public const MAX_OUTLINE_ITEMS = 12;
    public const MAX_OUTLINE_ITEM_CHARS = 200;
    public const FINAL_STATUSES = array('done', 'failed');
    public const REQUEST_ID_PATTERN = '/^drq_[a-f0-9-]{36}$/';

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('rest_api_init', array(self::class, 'register_routes'));
        add_action('admin_menu', array(self::class, 'add_page'));
        add_action('admin_post_pressrag_draft', array(self::class, 'handle_form'));
        add_action('admin_enqueue_scripts', array(self::class, 'enqueue'));
    }

    // ---- starting a draft ---------------------------------------------------------------------

    /**
     * Record a request and file it for the backend.
     *
     * @param int    $user_id Requesting user.
     * @param string $topic   Topic.
     * @param string $outline Outline, one section per line (may be empty).
     * @param int    $words   Requested length in words.
     * @return array<string,mixed>|WP_Error The request as listed, or why it was not filed.
     */
    public static function start(int $user_id, string $topic, string $outline, int $words)
    {
        $topic = mb_substr(trim(sanitize_text_field($topic)), 0, self::MAX_TOPIC_CHARS);
        if ('' === $topic) {
            return new WP_Error('pressrag_no_topic', __('Please give a topic.', 'pressrag'), array('status' => 400));
        }
        if (! PressRAG_Settings::webhooks_configured() || ! PressRAG_Settings::outbox_enabled()) {
            return new WP_Error('pressrag_not_configured', __('PressRAG is not connected to its backend yet.', 'pressrag'), array('status' => 503));
        }
        $items = self::outline_items($outline);
        $words = in_array($words, self::LENGTHS, true) ? $words : 600;
        $request_id = 'drq_' . wp_generate_uuid4();
        $now = gmdate('Y-m-d H:i:s');
        global $wpdb;
        $inserted = $wpdb->insert(
            PressRAG_Writeback_Schema::drafts_table(),
            array(
                'request_id' => $request_id,
                'user_id'    => $user_id,
                'topic'      => $topic,
                'outline'    => implode("\n", $items),
                'words'      => $words,
                'status'     => 'queued',
                'message'    => '',
                'created_at' => $now,
                'updated_at' => $now,
            ),
            array('%s', '%d', '%s', '%s', '%d', '%s', '%s', '%s', '%s')
        );
        $row = false === $inserted ? null : PressRAG_Outbox::instance()->enqueue(
            'draft.requested',
            array(
                'request_id' => $request_id,
                'topic'      => $topic,
                'outline'    => $items,
                'words'      => $words,
            ),
            'draft.requested:' . $request_id
        );
        if (null === $row) {
            $wpdb->delete(PressRAG_Writeback_Schema::drafts_table(), array('request_id' => $request_id), array('%s'));
            return new WP_Error('pressrag_not_queued', __('The request could not be recorded. Please try again.', 'pressrag'), array('status' => 500));
        }
        return self::listed(self::find($request_id));
    }

    /**
     * Outline lines: trimmed, non-empty, capped in number and length.
     *
     * @param string $outline Textarea value.
     * @return string[]
     */
    public static function outline_items(string $outline): array
    {
        $items = array();
        foreach (preg_split('/\R/', sanitize_textarea_field($outline)) ?: array() as $line) {
            $line = trim(ltrim(trim($line), '-*• '));
            if ('' !== $line) {
                $items[] = mb_substr($line, 0, self::MAX_OUTLINE_ITEM_CHARS);
            }
        }
        return array_slice($items, 0, self::MAX_OUTLINE_ITEMS);
    }

    // ---- callbacks from the backend ---------------------------------------------------------

    /**
     * `draft.progress`: the backend's progress (running, writing) or failure.
     *
     * @param array<string,mixed> $message Verified message.
     * @return array<string,string>
     */
    public static function progress(array $message): array
    {
        $request = self::find((string) ($message['request_id'] ?? ''));
        $status = (string) ($message['status'] ?? '');
        if (null === $request || ! in_array($status, array('running', 'writing', 'failed'), true)) {
            return array('status' => 'ignored');
        }
        if (in_array($request->status, self::FINAL_STATUSES, true)) {
            return array('status' => 'ignored');
        }
        $text = mb_substr(sanitize_text_field((string) ($message['message'] ?? '')), 0, 500);
        self::update($request->request_id, array('status' => $status, 'message' => $text));
        return array('status' => 'recorded');
    }

    /**
     * `draft.create`: create the draft post, once per request, as the requesting user.
     *
     * @param array<string,mixed> $message Verified message.
     * @return array<string,mixed>
     */
    public static function create(array $message): array
    {
        $request = self::find((string) ($message['request_id'] ?? ''));
        if (null === $request) {
            return array('status' => 'unknown_request');
        }
        if ($request->post_id) {
            return self::created((int) $request->post_id, 'exists');
        }
        $author = (int) $request->user_id;
        if (! user_can($author, self::CAPABILITY)) {
            $reason = __('The user who asked for this draft may no longer write posts.', 'pressrag');
            self::update($request->request_id, array('status' => 'failed', 'message' => $reason));
            return array('status' => 'refused', 'reason' => 'author_cannot_edit_posts');
        }
        $draft = is_array($message['draft'] ?? null) ? $message['draft'] : array();
        $sources = self::sources(is_array($draft['sources'] ?? null) ? $draft['sources'] : array());
        $post_id = self::insert_draft($author, $request, $draft, $sources);
        if (is_wp_error($post_id)) {
            self::update($request->request_id, array('status' => 'failed', 'message' => $post_id->get_error_message()));
            return array('status' => 'refused', 'reason' => $post_id->get_error_code());
        }
        /* translators: %d: number of posts the draft cites. */
        $done = sprintf(_n('Draft written from %d post.', 'Draft written from %d posts.', count($sources), 'pressrag'), count($sources));
        self::update(
            $request->request_id,
            array(
                'status'  => 'done',
                'message' => $done,
                'post_id' => $post_id,
            )
        );
        return self::created($post_id, 'created');
    }

    /**
     * Insert the post: always a draft, authored by the requesting user.
     *
     * @param int                           $author  User id.
     * @param object                        $request Request row.
     * @param array<string,mixed>           $draft   Draft as sent.
     * @param array<int,array{0:string,1:string,2:int}> $sources n => [title, permalink, post id].
     * @return int|WP_Error
     */
    private static function insert_draft(int $author, $request, array $draft, array $sources)
    {
        $kind = 'research_brief' === ($draft['kind'] ?? '') ? 'research_brief' : 'prose';
        $blocks = is_array($draft['blocks'] ?? null) ? array_slice($draft['blocks'], 0, 300) : array();
        $title = sanitize_text_field(is_string($draft['title'] ?? null) ? $draft['title'] : '');
        $model = sanitize_text_field(is_string($draft['model'] ?? null) ? substr($draft['model'], 0, 200) : '');
        $previous_user = get_current_user_id();
        // As the author: the post's hooks and content filters see who it is for.
        wp_set_current_user($author);
        $post_id = wp_insert_post(
            wp_slash(
                array(
                    'post_type'    => 'post',
                    'post_status'  => 'draft',
                    'post_author'  => $author,
                    'post_title'   => '' !== $title ? $title : $request->topic,
                    'post_content' => self::render_content($kind, $model, $blocks, $sources),
                    'meta_input'   => array(
                        '_pressrag_draft_request' => $request->request_id,
                        '_pressrag_draft_kind'    => $kind,
                        '_pressrag_draft_sources' => array_values(array_map(static fn(array $s): int => $s[2], $sources)),
                    ),
                )
            ),
            true
        );
        wp_set_current_user($previous_user);
        return $post_id;
    }

    /**
     * The cited sources that are public here now: n => [title, permalink, post id]. Titles and
     * links come from WordPress itself, never from the message.
     *
     * @param array<int,mixed> $given Sources as sent.
     * @return array<int,array{0:string,1:string,2:int}>
     */
    public static function sources(array $given): array
    {
        $sources = array();
        foreach (array_slice($given, 0, 50) as $source) {
            $n = is_array($source) ? ($source['n'] ?? 0) : 0;
            $wp_id = is_array($source) ? ($source['wp_id'] ?? 0) : 0;
            if (! is_int($n) || ! is_int($wp_id) || $n < 1 || $wp_id < 1) {
                continue;
            }
            $post = get_post($wp_id);
            if ($post instanceof WP_Post && PressRAG_Summaries::is_public($post)) {
                $sources[ $n ] = array(get_the_title($post), (string) get_permalink($post), $post->ID);
            }
        }
        ksort($sources);
        return $sources;
    }

    /**
     * Block markup (WordPress 6.1 forms) from plain-text blocks: a note saying what this is, the
     * blocks, then the sources as links.
     *
     * @param string                                    $kind    prose | research_brief.
     * @param string                                    $model   Model that wrote it.
     * @param array<int,mixed>                          $blocks  Blocks as sent.
     * @param array<int,array{0:string,1:string,2:int}> $sources Sources by number.
     */
    public static function render_content(string $kind, string $model, array $blocks, array $sources): string
    {
        if ('research_brief' === $kind) {
            $note = __('Research brief by PressRAG: no chat model is configured, so nothing here is newly written.', 'pressrag')
                . ' ' . __('These are passages quoted from your own posts, with links; write your post from them.', 'pressrag');
        } else {
            /* translators: 1: model name, 2: number of posts. */
            $note = sprintf(__('Draft written by PressRAG (%1$s) from %2$d of your posts. Check every statement against its source before publishing.', 'pressrag'), $model, count($sources));
        }
        $out = array(self::block('paragraph', '<p><em>' . esc_html($note) . '</em></p>'));
        foreach ($blocks as $block) {
            $html = is_array($block) ? self::render_block($block, $sources) : '';
            if ('' !== $html) {
                $out[] = $html;
            }
        }
        if (array() !== $sources) {
            $out[] = self::block('heading', '<h2>' . esc_html__('Sources', 'pressrag') . '</h2>');
            $items = '';
            foreach ($sources as $n => $source) {
                $items .= '<li>[' . (int) $n . '] ' . self::source_link($source) . '</li>';
            }
            $out[] = self::block('list', '<ul>' . $items . '</ul>');
        }
        return implode("\n\n", $out);
    }

    /**
     * One block's markup, or '' for an unknown or empty block.
     *
     * @param array<string,mixed>                       $block   Block as sent.
     * @param array<int,array{0:string,1:string,2:int}> $sources Sources by number.
     */
    private static function render_block(array $block, array $sources): string
    {
        $text = is_string($block['text'] ?? null) ? self::inline($block['text'], $sources) : '';
        switch ($block['type'] ?? '') {
            case 'heading':
                $level = max(2, min(4, (int) ($block['level'] ?? 2)));
                return '' === $text ? '' : self::block('heading', "<h{$level}>{$text}</h{$level}>", 2 === $level ? '' : '{"level":' . $level . '}');
            case 'paragraph':
                return '' === $text ? '' : self::block('paragraph', "<p>{$text}</p>");
            case 'list':
                $items = '';
                foreach (is_array($block['items'] ?? null) ? array_slice($block['items'], 0, 50) : array() as $item) {
                    $items .= is_string($item) && '' !== trim($item) ? '<li>' . self::inline($item, $sources) . '</li>' : '';
                }
                return '' === $items ? '' : self::block('list', "<ul>{$items}</ul>");
            case 'quote':
                $n = (int) ($block['source'] ?? 0);
                $cite = isset($sources[ $n ]) ? '<cite>' . self::source_link($sources[ $n ]) . '</cite>' : '';
                return '' === $text ? '' : self::block('quote', "<blockquote class=\"wp-block-quote\"><p>{$text}</p>{$cite}</blockquote>");
            default:
                return '';
        }
    }

    /**
     * A link to a source: its permalink, its title as text.
     *
     * @param array{0:string,1:string,2:int} $source [title, permalink, post id].
     */
    private static function source_link(array $source): string
    {
        return '<a href="' . esc_url($source[1]) . '">' . esc_html(wp_strip_all_tags($source[0])) . '</a>';
    }

    /**
     * Escaped text whose `[n]` markers link to source n (markers of unknown sources dropped).
     *
     * @param string                                    $text    Plain text.
     * @param array<int,array{0:string,1:string,2:int}> $sources Sources by number.
     */
    private static function inline(string $text, array $sources): string
    {
        $escaped = esc_html(trim(mb_substr($text, 0, 5000)));
        $linked = preg_replace_callback(
            '/\s*\[(\d{1,3})\]/',
            static function (array $m) use ($sources): string {
                $n = (int) $m[1];
                return isset($sources[ $n ]) ? ' <a href="' . esc_url($sources[ $n ][1]) . '">[' . $n . ']</a>' : '';
            },
            $escaped
        );
        return trim((string) $linked);
    }

    /**
     * Serialized block.
     *
     * @param string $name  Core block name without `core/`.
     * @param string $html  Inner HTML.
     * @param string $attrs JSON attributes ('' for none).
     */
    private static function block(string $name, string $html, string $attrs = ''): string
    {
        return "<!-- wp:{$name}" . ('' === $attrs ? '' : " {$attrs}") . " -->\n{$html}\n<!-- /wp:{$name} -->";
    }

    // ---- storage ------------------------------------------------------------------------------

    /**
     * A request row by id, or null.
     *
     * @param string $request_id Request id.
     * @return object|null
     */
    public static function find(string $request_id)
    {
        global $wpdb;
        if (1 !== preg_match(self::REQUEST_ID_PATTERN, $request_id)) {
            return null;
        }
        $table = PressRAG_Writeback_Schema::drafts_table();
        $row = $wpdb->get_row($wpdb->prepare("SELECT * FROM {$table} WHERE request_id = %s", $request_id));
        return $row ?: null;
    }

    /**
     * Update a request row.
     *
     * @param string              $request_id Request id.
     * @param array<string,mixed> $fields     Columns to set.
     */
    private static function update(string $request_id, array $fields): void
    {
        global $wpdb;
        $wpdb->update(
            PressRAG_Writeback_Schema::drafts_table(),
            array_merge($fields, array('updated_at' => gmdate('Y-m-d H:i:s'))),
            array('request_id' => $request_id)
        );
    }

    /**
     * The answer to `draft.create`.
     *
     * @param int    $post_id Post id.
     * @param string $status  created | exists.
     * @return array<string,mixed>
     */
    private static function created(int $post_id, string $status): array
    {
        return array(
            'status'   => $status,
            'post_id'  => $post_id,
            'edit_url' => (string) get_edit_post_link($post_id, 'raw'),
        );
    }

    /**
     * A user's latest requests, newest first.
     *
     * @param int $user_id User id.
     * @return array<int,array<string,mixed>>
     */
    public static function recent(int $user_id): array
    {
        global $wpdb;
        $table = PressRAG_Writeback_Schema::drafts_table();
        $rows = $wpdb->get_results($wpdb->prepare("SELECT * FROM {$table} WHERE user_id = %d ORDER BY id DESC LIMIT 10", $user_id));
        return array_map(array(self::class, 'listed'), is_array($rows) ? $rows : array());
    }

    /**
     * A request as the screen shows it.
     *
     * @param object|null $row Request row.
     * @return array<string,mixed>
     */
    public static function listed($row): array
    {
        if (null === $row) {
            return array();
        }
        $post_id = (int) $row->post_id;
        $labels = array(
            'queued'  => __('Waiting for the backend', 'pressrag'),
            'running' => __('Finding the most relevant posts', 'pressrag'),
            'writing' => __('Writing', 'pressrag'),
            'done'    => __('Done', 'pressrag'),
            'failed'  => __('Failed', 'pressrag'),
        );
        return array(
            'request_id'   => (string) $row->request_id,
            'topic'        => (string) $row->topic,
            'status'       => (string) $row->status,
            'status_label' => $labels[ $row->status ] ?? (string) $row->status,
            'message'      => (string) $row->message,
            'final'        => in_array($row->status, self::FINAL_STATUSES, true),
            'post_id'      => $post_id,
            'edit_url'     => $post_id && current_user_can('edit_post', $post_id) ? (string) get_edit_post_link($post_id, 'raw') : '',
            'created'      => mysql2date(get_option('date_format') . ' ' . get_option('time_format'), get_date_from_gmt((string) $row->created_at)),
        );
    }

    /**
     * "Writing — Draft written from 3 posts." (the label, and the message when it adds something).
     *
     * @param array<string,mixed> $item Listed request.
     */
    private static function progress_text(array $item): string
    {
        $detail = '' !== $item['message'] && $item['message'] !== $item['status_label'] ? ' — ' . $item['message'] : '';
        return $item['status_label'] . $detail;
    }

    // ---- REST routes and the screen ---------------------------------------------------------

    /**
     * `POST /pressrag/v1/drafts` (start) and `GET /pressrag/v1/drafts` (my latest).
     */
    public static function register_routes(): void
    {
        register_rest_route(
            PressRAG_Token_Route::REST_NAMESPACE,
            '/drafts',
            array(
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array(self::class, 'rest_start'),
                    'permission_callback' => array(self::class, 'can_draft'),
                    'args'                => array(
                        'topic'   => array(
                            'type'      => 'string',
                            'required'  => true,
                            'maxLength' => self::MAX_TOPIC_CHARS,
                        ),
                        'outline' => array(
                            'type'    => 'string',
                            'default' => '',
                        ),
                        'words'   => array(
                            'type'    => 'integer',
                            'enum'    => self::LENGTHS,
                            'default' => 600,
                        ),
                    ),
                ),
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array(self::class, 'rest_list'),
                    'permission_callback' => array(self::class, 'can_draft'),
                ),
            )
        );
    }

    /**
     * Permission callback: only users who may write posts (403 for anyone else signed in).
     */
    public static function can_draft(): bool
    {
        return current_user_can(self::CAPABILITY);
    }

    /**
     * Start a draft for the current user.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function rest_start(WP_REST_Request $request)
    {
        $started = self::start(get_current_user_id(), (string) $request['topic'], (string) $request['outline'], (int) $request['words']);
        return is_wp_error($started) ? $started : new WP_REST_Response($started, 201);
    }

    /**
     * The current user's latest requests.
     *
     * @return WP_REST_Response
     */
    public static function rest_list(): WP_REST_Response
    {
        return new WP_REST_Response(self::recent(get_current_user_id()), 200);
    }

    /**
     * Posts → Draft with PressRAG.
     */
    public static function add_page(): void
    {
        add_posts_page(__('Draft with PressRAG', 'pressrag'), __('Draft with PressRAG', 'pressrag'), self::CAPABILITY, self::PAGE, array(self::class, 'render_page'));
    }

    /**
     * The screen's script (progress without reloading), on this screen only.
     *
     * @param string $hook_suffix Current admin page.
     */
    public static function enqueue(string $hook_suffix): void
    {
        if ('posts_page_' . self::PAGE !== $hook_suffix) {
            return;
        }
        wp_enqueue_script(self::SCRIPT, plugins_url('assets/draft-writer.js', PRESSRAG_PLUGIN_FILE), array('wp-api-fetch', 'wp-i18n'), PRESSRAG_VERSION, true);
        wp_set_script_translations(self::SCRIPT, 'pressrag', PRESSRAG_PLUGIN_DIR . 'languages');
    }

    /**
     * Without JavaScript the form posts here (nonce and capability checked), then returns.
     */
    public static function handle_form(): void
    {
        if (! current_user_can(self::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to write posts.', 'pressrag'), '', array('response' => 403));
        }
        check_admin_referer('pressrag_draft');
        $started = self::start(
            get_current_user_id(),
            isset($_POST['topic']) ? sanitize_text_field(wp_unslash($_POST['topic'])) : '',
            isset($_POST['outline']) ? sanitize_textarea_field(wp_unslash($_POST['outline'])) : '',
            isset($_POST['words']) ? absint($_POST['words']) : 600
        );
        $result = is_wp_error($started) ? 'error' : 'queued';
        wp_safe_redirect(add_query_arg('pressrag_draft', $result, admin_url('edit.php?page=' . self::PAGE)));
        exit;
    }

    /**
     * The screen: the form, and the user's latest requests with their progress.
     */
    public static function render_page(): void
    {
        if (! current_user_can(self::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to write posts.', 'pressrag'), '', array('response' => 403));
        }
        $result = isset($_GET['pressrag_draft']) ? sanitize_key(wp_unslash($_GET['pressrag_draft'])) : '';
        ?>
<div class="wrap pressrag-drafts">
    <h1><?php esc_html_e('Draft with PressRAG', 'pressrag'); ?></h1>
    <p>
        <?php esc_html_e('PressRAG finds the posts of this site most relevant to your topic and writes a draft that cites and links them.', 'pressrag'); ?>
        <?php esc_html_e('It is saved as a draft for you to edit; nothing is published.', 'pressrag'); ?>
    </p>
        <?php if ('queued' === $result) : ?>
    <div class="notice notice-success"><p><?php esc_html_e('Your draft has been requested.', 'pressrag'); ?></p></div>
        <?php elseif ('error' === $result) : ?>
    <div class="notice notice-error"><p><?php esc_html_e('The draft could not be requested. Is PressRAG connected to its backend?', 'pressrag'); ?></p></div>
        <?php endif; ?>
    <div class="notice notice-error hidden" id="pressrag-draft-error" role="alert"><p></p></div>
    <form method="post" action="<?php echo esc_url(admin_url('admin-post.php')); ?>" id="pressrag-draft-form">
        <input type="hidden" name="action" value="pressrag_draft" />
        <?php wp_nonce_field('pressrag_draft'); ?>
        <table class="form-table" role="presentation">
            <tr>
                <th scope="row"><label for="pressrag-draft-topic"><?php esc_html_e('Topic', 'pressrag'); ?></label></th>
                <td><input type="text" class="large-text" id="pressrag-draft-topic" name="topic" required maxlength="<?php echo esc_attr((string) self::MAX_TOPIC_CHARS); ?>" /></td>
            </tr>
            <tr>
                <th scope="row"><label for="pressrag-draft-outline"><?php esc_html_e('Outline (optional)', 'pressrag'); ?></label></th>
                <td>
                    <textarea class="large-text" rows="5" id="pressrag-draft-outline" name="outline" aria-describedby="pressrag-draft-outline-help"></textarea>
                    <p class="description" id="pressrag-draft-outline-help"><?php esc_html_e('One section per line.', 'pressrag'); ?></p>
                </td>
            </tr>
            <tr>
                <th scope="row"><label for="pressrag-draft-words"><?php esc_html_e('Length', 'pressrag'); ?></label></th>
                <td>
                    <select id="pressrag-draft-words" name="words">
                        <option value="300"><?php esc_html_e('Short (about 300 words)', 'pressrag'); ?></option>
                        <option value="600" selected><?php esc_html_e('Medium (about 600 words)', 'pressrag'); ?></option>
                        <option value="1000"><?php esc_html_e('Long (about 1000 words)', 'pressrag'); ?></option>
                    </select>
                </td>
            </tr>
        </table>
        <?php submit_button(__('Write a draft', 'pressrag'), 'primary', 'submit', true, array('id' => 'pressrag-draft-submit')); ?>
    </form>
    <h2><?php esc_html_e('Your latest drafts', 'pressrag'); ?></h2>
    <table class="widefat striped" id="pressrag-draft-list">
        <thead><tr>
            <th scope="col"><?php esc_html_e('Topic', 'pressrag'); ?></th>
            <th scope="col"><?php esc_html_e('Requested', 'pressrag'); ?></th>
            <th scope="col"><?php esc_html_e('Progress', 'pressrag'); ?></th>
            <th scope="col"><?php esc_html_e('Draft', 'pressrag'); ?></th>
        </tr></thead>
        <tbody aria-live="polite">
        <?php foreach (self::recent(get_current_user_id()) as $item) : ?>
            <tr data-request="<?php echo esc_attr($item['request_id']); ?>" data-status="<?php echo esc_attr($item['status']); ?>">
                <td><?php echo esc_html($item['topic']); ?></td>
                <td><?php echo esc_html($item['created']); ?></td>
                <td><?php echo esc_html(self::progress_text($item)); ?></td>
                <td>
                <?php if ('' !== $item['edit_url']) : ?>
                    <a href="<?php echo esc_url($item['edit_url']); ?>"><?php esc_html_e('Edit the draft', 'pressrag'); ?></a>
                <?php endif; ?>
                </td>
            </tr>
        <?php endforeach; ?>
        </tbody>
    </table>
</div>
        <?php
    }
}
