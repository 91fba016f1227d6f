<?php

/**
 * Settings → PressRAG → "Write-back": what the site lets PressRAG do with its summaries.
 *
 * Its own option (`pressrag_writeback`) in the same settings group as `pressrag_settings`, so
 * it is saved by the same form without touching the connection settings.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * The write-back option and its section on the settings page.
 */
final class PressRAG_Writeback_Settings
{
    public const OPTION = 'pressrag_writeback';

    /**
     * Hook registration (admin only).
     */
    public static function register(): void
    {
        // After PressRAG_Admin registers its sections, so this one comes last on the page.
        add_action('admin_init', array(self::class, 'register_settings'), 20);
    }

    /**
     * Default values.
     *
     * @return array<string,mixed>
     */
    public static function defaults(): array
    {
        return array('fill_excerpts' => false);
    }

    /**
     * Whether summaries fill empty excerpts (opt-in).
     */
    public static function fill_excerpts(): bool
    {
        $stored = get_option(self::OPTION, array());
        return is_array($stored) && ! empty($stored['fill_excerpts']);
    }

    /**
     * Settings API registration.
     */
    public static function register_settings(): void
    {
        register_setting(
            'pressrag',
            self::OPTION,
            array(
                'type'              => 'array',
                'sanitize_callback' => array(self::class, 'sanitize'),
                'show_in_rest'      => false,
                'default'           => self::defaults(),
            )
        );
        add_settings_section('pressrag_writeback', __('Summaries and drafts', 'pressrag'), array(self::class, 'render_section'), PressRAG_Admin::PAGE);
        add_settings_field(
            'pressrag_fill_excerpts',
            __('Excerpts', 'pressrag'),
            array(self::class, 'field_fill_excerpts'),
            PressRAG_Admin::PAGE,
            'pressrag_writeback',
            array('label_for' => 'pressrag_fill_excerpts')
        );
    }

    /**
     * Sanitize callback: a checkbox missing from the form means off.
     *
     * @param mixed $input Raw input.
     * @return array<string,mixed>
     */
    public static function sanitize($input): array
    {
        $input = is_array($input) ? $input : array();
        return array('fill_excerpts' => ! empty($input['fill_excerpts']));
    }

    /**
     * What the section is about.
     */
    public static function render_section(): void
    {
        echo '<p>' . esc_html__('PressRAG writes a summary of every published post into the post, shown in the block editor\'s sidebar.', 'pressrag') . ' '
            . esc_html__('Under Posts → Draft with PressRAG it drafts new posts from your content. It never publishes anything.', 'pressrag') . '</p>';
    }

    /**
     * The opt-in checkbox.
     */
    public static function field_fill_excerpts(): void
    {
        printf(
            '<label><input type="checkbox" id="pressrag_fill_excerpts" name="%1$s" value="1" %2$s /> %3$s</label>',
            esc_attr(self::OPTION . '[fill_excerpts]'),
            checked(self::fill_excerpts(), true, false),
            esc_html__('Fill empty excerpts with the summary', 'pressrag')
        );
    }
}
