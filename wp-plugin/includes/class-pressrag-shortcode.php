<?php

/**
 * The `[ai_chat]` shortcode.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * `[ai_chat title="…" placeholder="…" k="6"]`: the same chat as the block.
 */
final class PressRAG_Shortcode
{
    public const TAG = 'ai_chat';

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_shortcode(self::TAG, array(self::class, 'render'));
        add_action('wp_enqueue_scripts', array(self::class, 'enqueue_early'));
    }

    /**
     * On singular pages that hold a chat, enqueue in time for the stylesheet to land in <head>
     * (printed later, in the footer, it would move the page once it loads).
     */
    public static function enqueue_early(): void
    {
        $post = get_post();
        if (! is_singular() || ! $post instanceof WP_Post) {
            return;
        }
        if (has_shortcode($post->post_content, self::TAG) || has_block(PressRAG_Block::NAME, $post)) {
            PressRAG_Chat::enqueue();
        }
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
                'title'       => '',
                'placeholder' => '',
                'k'           => '0',
            ),
            is_array($atts) ? $atts : array(),
            self::TAG
        );
        return PressRAG_Chat::render(
            array(
                'title'       => $atts['title'],
                'placeholder' => $atts['placeholder'],
                'k'           => (int) $atts['k'],
            )
        );
    }
}
