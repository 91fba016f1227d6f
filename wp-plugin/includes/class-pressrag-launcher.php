<?php

/**
 * The optional floating launcher: an "Ask" button on every page that opens the chat.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * A `<details>` element: it opens and closes with the keyboard and without JavaScript (then
 * the chat inside is a search form for the site), and floats above the page without moving it.
 */
final class PressRAG_Launcher
{
    /**
     * Hook registration.
     */
    public static function register(): void
    {
        add_action('wp_enqueue_scripts', array(self::class, 'enqueue'));
        add_action('wp_footer', array(self::class, 'render_footer'));
    }

    /**
     * Whether this front-end page gets the launcher.
     */
    public static function wanted(): bool
    {
        /**
         * Filters whether the floating chat launcher is shown on the current page.
         *
         * @param bool $show From the "Floating launcher" setting.
         */
        return (bool) apply_filters('pressrag_show_launcher', PressRAG_Settings::launcher_enabled() && ! is_admin());
    }

    /**
     * Stylesheet in <head> on pages with the launcher.
     */
    public static function enqueue(): void
    {
        if (self::wanted()) {
            PressRAG_Chat::enqueue();
        }
    }

    /**
     * Print the launcher at the end of the page.
     */
    public static function render_footer(): void
    {
        // A page that already shows the chat does not need a second one floating above it.
        if (! self::wanted() || PressRAG_Chat::rendered() > 0) {
            return;
        }
        echo self::render(); // phpcs:ignore -- every part is escaped in render().
    }

    /**
     * The launcher's markup.
     */
    public static function render(): string
    {
        $label = PressRAG_Settings::chat_title();
        return '<details class="pressrag-launcher" data-pressrag-launcher>'
            . '<summary class="pressrag-launcher__button"><span class="pressrag-launcher__icon" aria-hidden="true"></span>'
            . '<span class="pressrag-launcher__label">' . esc_html($label) . '</span></summary>'
            . '<div class="pressrag-launcher__panel">'
            . PressRAG_Chat::render(array(), 'class="pressrag-chat pressrag-chat--launcher"')
            . '</div></details>';
    }
}
