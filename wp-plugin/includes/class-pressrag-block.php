<?php

/**
 * The `pressrag/chat` block: rendered on the server with the chat's one markup.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Registers the block from blocks/chat/block.json.
 */
final class PressRAG_Block
{
    public const NAME = 'pressrag/chat';
    public const EDITOR_HANDLE = 'pressrag-chat-editor-script';

    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('init', array(self::class, 'register_block'));
    }

    /**
     * Register the block type (its editor script and style handles come from block.json).
     */
    public static function register_block(): void
    {
        register_block_type(
            PRESSRAG_PLUGIN_DIR . 'blocks/chat',
            array('render_callback' => array(self::class, 'render'))
        );
        $defaults = array(
            'title'       => PressRAG_Settings::chat_title(),
            'placeholder' => PressRAG_Settings::chat_placeholder(),
        );
        wp_add_inline_script(self::EDITOR_HANDLE, 'window.pressragBlockDefaults = ' . wp_json_encode($defaults) . ';', 'before');
        wp_set_script_translations(self::EDITOR_HANDLE, 'pressrag', PRESSRAG_PLUGIN_DIR . 'languages');
    }

    /**
     * Server-side render.
     *
     * @param array<string,mixed> $attributes Block attributes.
     */
    public static function render($attributes): string
    {
        $attributes = is_array($attributes) ? $attributes : array();
        return PressRAG_Chat::render(
            array(
                'title'       => sanitize_text_field((string) ($attributes['title'] ?? '')),
                'placeholder' => sanitize_text_field((string) ($attributes['placeholder'] ?? '')),
                'k'           => (int) ($attributes['k'] ?? 0),
            ),
            get_block_wrapper_attributes(array('class' => 'pressrag-chat'))
        );
    }
}
