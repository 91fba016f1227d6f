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
