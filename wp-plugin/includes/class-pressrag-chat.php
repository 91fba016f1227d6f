<?php

/**
 * The chat box: one markup for the `[ai_chat]` shortcode, the `pressrag/chat` block and the
 * floating launcher, and the assets and browser configuration they share.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Renders the chat and registers its script and stylesheet.
 */
final class PressRAG_Chat
{
    public const HANDLE = 'pressrag-chat';
    public const MAX_STARTERS = 4;
    public const MAX_STARTER_CHARS = 150;
    /**
     * Turns a follow-up carries to the backend, and characters kept of each earlier answer:
     * enough to resolve "it", small enough to keep requests far below the backend's body cap.
     */
    public const HISTORY_TURNS = 3;
    public const HISTORY_ANSWER_CHARS = 600;

    /**
     * Chat boxes rendered so far in this request (for unique element ids).
     *
     * @var int
     */
    private static int $count = 0;

    /**
     * Hook registration: handles exist before blocks are registered (block.json names them).
     */
    public static function register(): void
    {
        add_action('init', array(self::class, 'register_handles'), 5);
        add_action('wp_enqueue_scripts', array(self::class, 'enqueue_where_used'));
    }

    /**
     * Enqueue in time for the stylesheet to land in <head> wherever a chat will render (posts
     * of the main query, block widgets): printed later, in the footer, it would move the page
     * once it loads. Pages without a chat get no chat assets.
     */
    public static function enqueue_where_used(): void
    {
        global $wp_query;
        $sources = array();
        foreach ($wp_query instanceof WP_Query ? $wp_query->posts : array() as $post) {
            if ($post instanceof WP_Post) {
                $sources[] = $post->post_content;
            }
        }
        $widgets = get_option('widget_block', array());
        foreach (is_array($widgets) ? $widgets : array() as $widget) {
            if (is_array($widget) && isset($widget['content'])) {
                $sources[] = (string) $widget['content'];
            }
        }
        foreach ($sources as $content) {
            if (has_shortcode($content, PressRAG_Shortcode::TAG) || has_block(PressRAG_Block::NAME, $content)) {
                self::enqueue();
                return;
            }
        }
    }

    /**
     * Register the script (with its JSON configuration) and the stylesheet, once per request.
     */
    public static function register_handles(): void
    {
        if (wp_script_is(self::HANDLE, 'registered')) {
            return;
        }
        wp_register_style(self::HANDLE, plugins_url('assets/chat.css', PRESSRAG_PLUGIN_FILE), array(), PRESSRAG_VERSION);
        wp_register_script(self::HANDLE, plugins_url('assets/chat.js', PRESSRAG_PLUGIN_FILE), array(), PRESSRAG_VERSION, true);
        wp_add_inline_script(self::HANDLE, 'window.pressragChatConfig = ' . wp_json_encode(self::client_config()) . ';', 'before');
    }

    /**
     * Enqueue the assets (idempotent).
     */
    public static function enqueue(): void
    {
        self::register_handles();
        wp_enqueue_style(self::HANDLE);
        wp_enqueue_script(self::HANDLE);
    }

    /**
     * Configuration the browser needs. Only public values: never a secret.
     *
     * @return array<string,mixed>
     */
    public static function client_config(): array
    {
        return array(
            'tokenUrl'      => esc_url_raw(rest_url(PressRAG_Token_Route::REST_NAMESPACE . '/token')),
            'backend'       => PressRAG_Settings::backend_url(),
            'site'          => PressRAG_Settings::site_id(),
            'k'             => PressRAG_Settings::chat_k(),
            'searchUrl'     => esc_url_raw(home_url('/')),
            'historyTurns'  => self::HISTORY_TURNS,
            'historyChars'  => self::HISTORY_ANSWER_CHARS,
            'timeoutMs'     => 30000,
            'i18n'          => array(
                'you'          => __('You', 'pressrag'),
                'assistant'    => __('Answer', 'pressrag'),
                'thinking'     => __('Looking for an answer…', 'pressrag'),
                'sources'      => __('Sources', 'pressrag'),
                /* translators: %d: the number of sources listed under an answer. */
                'sourceCount'  => __('Sources: %d.', 'pressrag'),
                /* translators: %d: number of a source in the list under an answer. */
                'sourceLink'   => __('Source %d', 'pressrag'),
                'empty'        => __('Please type a question first.', 'pressrag'),
                'network'      => __('The answer service could not be reached. Check your connection and try again.', 'pressrag'),
                'rateLimited'  => __('Too many questions in a short time. Please wait a minute and try again.', 'pressrag'),
                'unauthorized' => __('The chat session could not be authorised. Please reload the page and try again.', 'pressrag'),
                'timeout'      => __('The answer took too long. Please try again.', 'pressrag'),
                'notFound'     => __('No answer was found in this site’s content.', 'pressrag'),
                /* translators: %s: the visitor's question. */
                'searchSite'   => __('Search the site for “%s”', 'pressrag'),
                'generic'      => __('Something went wrong while answering. Please try again.', 'pressrag'),
                'notReady'     => __('The chat is not ready yet. Please try again later.', 'pressrag'),
                'cleared'      => __('New conversation started.', 'pressrag'),
            ),
        );
    }

    /**
     * The chat box's markup. Without JavaScript it is a search form for the site itself
     * (`?s=`), and starter questions are links to that search; the script turns both into
     * the chat without moving anything on the page.
     *
     * @param array<string,mixed> $args    title, placeholder, k, starters (string[]), variant.
     * @param string              $wrapper Extra wrapper attributes (already escaped), e.g. from
     *                                     get_block_wrapper_attributes().
     */
    public static function render(array $args, string $wrapper = ''): string
    {
        if (self::rendering_content_for_the_api()) {
            return '';
        }
        $title = self::text_or_default((string) ($args['title'] ?? ''), PressRAG_Settings::chat_title());
        $placeholder = self::text_or_default((string) ($args['placeholder'] ?? ''), PressRAG_Settings::chat_placeholder());
        $k = (int) ($args['k'] ?? 0) > 0 ? PressRAG_Settings::clamp_k((int) $args['k']) : PressRAG_Settings::chat_k();
        $starters = isset($args['starters']) && is_array($args['starters']) ? $args['starters'] : PressRAG_Settings::starter_questions();

        self::enqueue();
        $id = 'pressrag-chat-' . (++self::$count);
        $search = home_url('/');
        if ('' === $wrapper) {
            $wrapper = 'class="pressrag-chat"';
        }

        ob_start();
        ?>
<section <?php echo $wrapper; // phpcs:ignore -- escaped by the caller (get_block_wrapper_attributes) or fixed. ?> id="<?php echo esc_attr($id); ?>" data-pressrag-chat data-k="<?php echo esc_attr((string) $k); ?>" aria-labelledby="<?php echo esc_attr($id . '-title'); ?>">
    <div class="pressrag-chat__header">
        <h2 class="pressrag-chat__title" id="<?php echo esc_attr($id . '-title'); ?>"><?php echo esc_html($title); ?></h2>
        <button class="pressrag-chat__reset" type="button" disabled><?php esc_html_e('New conversation', 'pressrag'); ?></button>
    </div>
    <div class="pressrag-chat__log" role="region" tabindex="0" aria-label="<?php esc_attr_e('Conversation', 'pressrag'); ?>"></div>
        <?php if (array() !== $starters) : ?>
    <div class="pressrag-chat__starters">
        <p class="pressrag-chat__starters-title" id="<?php echo esc_attr($id . '-starters'); ?>"><?php esc_html_e('Try asking', 'pressrag'); ?></p>
        <ul class="pressrag-chat__starter-list" aria-labelledby="<?php echo esc_attr($id . '-starters'); ?>">
            <?php foreach ($starters as $starter) : ?>
            <li><a class="pressrag-chat__starter" href="<?php echo esc_url(add_query_arg('s', rawurlencode((string) $starter), $search)); ?>"><?php echo esc_html((string) $starter); ?></a></li>
            <?php endforeach; ?>
        </ul>
    </div>
        <?php endif; ?>
    <form class="pressrag-chat__form" action="<?php echo esc_url($search); ?>" method="get" role="search" novalidate>
        <label class="pressrag-chat__label" for="<?php echo esc_attr($id . '-input'); ?>"><?php esc_html_e('Your question', 'pressrag'); ?></label>
        <div class="pressrag-chat__row">
            <input class="pressrag-chat__input" id="<?php echo esc_attr($id . '-input'); ?>" name="s" type="text"
                autocomplete="off" maxlength="1000" placeholder="<?php echo esc_attr($placeholder); ?>" />
            <button class="pressrag-chat__send" type="submit"><?php esc_html_e('Ask', 'pressrag'); ?></button>
        </div>
        <p class="pressrag-chat__status" role="status"></p>
    </form>
    <div class="pressrag-chat__announce" aria-live="polite" aria-atomic="true"></div>
    <noscript><p class="pressrag-chat__noscript"><?php esc_html_e('Without JavaScript, your question searches this site.', 'pressrag'); ?></p></noscript>
</section>
        <?php
        return (string) ob_get_clean();
    }

    /**
     * Whether post content is being rendered for the REST API (e.g. our own indexer reading
     * `content.rendered`). The chat is a tool, not content: its labels and starter questions
     * must not be indexed as the page's text. The editor's block preview still renders it.
     */
    private static function rendering_content_for_the_api(): bool
    {
        if (! defined('REST_REQUEST') || ! REST_REQUEST) {
            return false;
        }
        $route = isset($GLOBALS['wp']->query_vars['rest_route']) ? (string) $GLOBALS['wp']->query_vars['rest_route'] : '';
        return ! str_starts_with($route, '/wp/v2/block-renderer/');
    }

    /**
     * How many chat boxes this request has rendered.
     */
    public static function rendered(): int
    {
        return self::$count;
    }

    /**
     * A given text, else the configured default.
     *
     * @param string $given    Text from an attribute.
     * @param string $fallback Default.
     */
    private static function text_or_default(string $given, string $fallback): string
    {
        return '' !== trim($given) ? $given : $fallback;
    }
}
