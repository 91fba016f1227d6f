<?php

/**
 * The `[ai_chat]` shortcode and its assets.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Renders the chat box; assets load only where the shortcode is used.
 */
final class PressRAG_Shortcode
{
    public const TAG = 'ai_chat';
    public const HANDLE = 'pressrag-chat';

    /**
     * Chat boxes rendered so far in this request (for unique element ids).
     *
     * @var int
     */
    private static int $count = 0;

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_shortcode(self::TAG, array(self::class, 'render'));
        add_action('wp_enqueue_scripts', array(self::class, 'register_assets'));
    }

    /**
     * Register (not enqueue) the assets; enqueue early on singular pages that contain the
     * shortcode so the stylesheet lands in <head>.
     */
    public static function register_assets(): void
    {
        if (! wp_script_is(self::HANDLE, 'registered')) {
            self::register_handles();
        }
        $post = get_post();
        if (is_singular() && $post instanceof WP_Post && has_shortcode($post->post_content, self::TAG)) {
            self::enqueue();
        }
    }

    /**
     * Register the script, its JSON configuration and the stylesheet (once per request).
     */
    private static function register_handles(): void
    {
        wp_register_style(self::HANDLE, plugins_url('assets/chat.css', PRESSRAG_PLUGIN_FILE), array(), PRESSRAG_VERSION);
        wp_register_script(self::HANDLE, plugins_url('assets/chat.js', PRESSRAG_PLUGIN_FILE), array(), PRESSRAG_VERSION, true);
        wp_add_inline_script(self::HANDLE, 'window.pressragChatConfig = ' . wp_json_encode(self::client_config()) . ';', 'before');
    }

    /**
     * Configuration the browser needs. Only public values: never a secret.
     *
     * @return array<string,mixed>
     */
    public static function client_config(): array
    {
        return array(
            'tokenUrl'  => esc_url_raw(rest_url(PressRAG_Token_Route::REST_NAMESPACE . '/token')),
            'backend'   => PressRAG_Settings::backend_url(),
            'site'      => PressRAG_Settings::site_id(),
            'k'         => PressRAG_Settings::chat_k(),
            'timeoutMs' => 30000,
            'i18n'      => array(
                'you'          => __('You', 'pressrag'),
                'assistant'    => __('Answer', 'pressrag'),
                'thinking'     => __('Looking for an answer…', 'pressrag'),
                'sources'      => __('Sources', 'pressrag'),
                'empty'        => __('Please type a question first.', 'pressrag'),
                'network'      => __('The answer service could not be reached. Check your connection and try again.', 'pressrag'),
                'rateLimited'  => __('Too many questions in a short time. Please wait a minute and try again.', 'pressrag'),
                'unauthorized' => __('The chat session could not be authorised. Please reload the page and try again.', 'pressrag'),
                'timeout'      => __('The answer took too long. Please try again.', 'pressrag'),
                'notFound'     => __('No answer was found in this site’s content.', 'pressrag'),
                'generic'      => __('Something went wrong while answering. Please try again.', 'pressrag'),
                'notReady'     => __('The chat is not ready yet. Please try again later.', 'pressrag'),
            ),
        );
    }

    /**
     * Enqueue the registered assets (idempotent).
     */
    public static function enqueue(): void
    {
        if (! wp_script_is(self::HANDLE, 'registered')) {
            self::register_handles();
        }
        wp_enqueue_style(self::HANDLE);
        wp_enqueue_script(self::HANDLE);
    }

    /**
     * Shortcode callback.
     *
     * @param array<string,string>|string $atts Attributes.
     */
    public static function render($atts): string
    {
        $atts = shortcode_atts(
            array(
                'title'       => (string) PressRAG_Settings::get('chat_title'),
                'placeholder' => (string) PressRAG_Settings::get('chat_placeholder'),
                'k'           => (string) PressRAG_Settings::chat_k(),
            ),
            is_array($atts) ? $atts : array(),
            self::TAG
        );
        $title = '' !== trim($atts['title']) ? $atts['title'] : __('Ask this site', 'pressrag');
        $placeholder = '' !== trim($atts['placeholder']) ? $atts['placeholder'] : __('Type your question…', 'pressrag');
        $k = PressRAG_Settings::clamp_k((int) $atts['k']);

        self::enqueue();
        $id = 'pressrag-chat-' . (++self::$count);

        ob_start();
        ?>
<section class="pressrag-chat" id="<?php echo esc_attr($id); ?>" data-pressrag-chat data-k="<?php echo esc_attr((string) $k); ?>" aria-labelledby="<?php echo esc_attr($id . '-title'); ?>">
    <h2 class="pressrag-chat__title" id="<?php echo esc_attr($id . '-title'); ?>"><?php echo esc_html($title); ?></h2>
    <div class="pressrag-chat__log" role="log" aria-live="polite" aria-relevant="additions text" tabindex="0" aria-label="<?php esc_attr_e('Conversation', 'pressrag'); ?>"></div>
    <form class="pressrag-chat__form" novalidate>
        <label class="pressrag-chat__label" for="<?php echo esc_attr($id . '-input'); ?>"><?php esc_html_e('Your question', 'pressrag'); ?></label>
        <div class="pressrag-chat__row">
            <input class="pressrag-chat__input" id="<?php echo esc_attr($id . '-input'); ?>" name="question" type="text"
                autocomplete="off" maxlength="1000" placeholder="<?php echo esc_attr($placeholder); ?>" />
            <button class="pressrag-chat__send" type="submit"><?php esc_html_e('Ask', 'pressrag'); ?></button>
        </div>
        <p class="pressrag-chat__status" role="status"></p>
    </form>
    <noscript><p><?php esc_html_e('The chat needs JavaScript.', 'pressrag'); ?></p></noscript>
</section>
        <?php
        return (string) ob_get_clean();
    }
}
