<?php

/**
 * Plugin settings: one option per site, with wp-config constants taking precedence.
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Reads and sanitizes the `pressrag_settings` option.
 */
final class PressRAG_Settings
{
    public const OPTION = 'pressrag_settings';

    /**
     * Settings that a wp-config constant may provide instead (the constant then wins).
     */
    public const CONSTANTS = array(
        'backend_url'    => 'PRESSRAG_BACKEND_URL',
        'site_id'        => 'PRESSRAG_SITE_ID',
        'webhook_secret' => 'PRESSRAG_WEBHOOK_SECRET',
        'token_secret'   => 'PRESSRAG_TOKEN_SECRET',
        'admin_api_key'  => 'PRESSRAG_ADMIN_API_KEY',
    );

    /**
     * Settings never echoed back to the browser.
     */
    public const SECRETS = array('webhook_secret', 'token_secret', 'admin_api_key');

    public const SITE_ID_PATTERN = '/^[a-z0-9][a-z0-9-]{0,62}$/';

    /**
     * Default values.
     *
     * @return array<string,mixed>
     */
    public static function defaults(): array
    {
        return array(
            'backend_url'      => '',
            'site_id'          => '',
            'webhook_secret'   => '',
            'token_secret'     => '',
            'admin_api_key'    => '',
            'post_types'       => array('post', 'page', 'attachment'),
            'outbox_enabled'   => true,
            'chat_title'        => '',
            'chat_placeholder'  => '',
            'chat_k'            => 6,
            'starter_questions' => array(),
            'launcher_enabled'  => false,
        );
    }

    /**
     * Stored option merged over the defaults (constants not applied).
     *
     * @return array<string,mixed>
     */
    public static function stored(): array
    {
        $stored = get_option(self::OPTION, array());
        return array_merge(self::defaults(), is_array($stored) ? $stored : array());
    }

    /**
     * Effective value of one setting: the wp-config constant when defined, else the option.
     *
     * @param string $key Setting name.
     * @return mixed
     */
    public static function get(string $key)
    {
        if (self::from_constant($key)) {
            return (string) constant(self::CONSTANTS[ $key ]);
        }
        $settings = self::stored();
        return $settings[ $key ] ?? null;
    }

    /**
     * Whether a wp-config constant provides this setting.
     *
     * @param string $key Setting name.
     */
    public static function from_constant(string $key): bool
    {
        return isset(self::CONSTANTS[ $key ]) && defined(self::CONSTANTS[ $key ]);
    }

    /**
     * Backend base URL without a trailing slash.
     */
    public static function backend_url(): string
    {
        return untrailingslashit((string) self::get('backend_url'));
    }

    /**
     * Site id as registered with the backend.
     */
    public static function site_id(): string
    {
        return (string) self::get('site_id');
    }

    /**
     * Webhook secret (`whsec_...`), empty when unset.
     */
    public static function webhook_secret(): string
    {
        return (string) self::get('webhook_secret');
    }

    /**
     * Token secret (`whsec_...`), empty when unset.
     */
    public static function token_secret(): string
    {
        return (string) self::get('token_secret');
    }

    /**
     * Admin API key for the backend status API, empty when unset. Server side only.
     */
    public static function admin_api_key(): string
    {
        return (string) self::get('admin_api_key');
    }

    /**
     * Post types whose changes are sent to the backend.
     *
     * @return string[]
     */
    public static function post_types(): array
    {
        $types = self::get('post_types');
        $types = is_array($types) ? array_values(array_filter(array_map('strval', $types))) : array();
        /**
         * Filters the post types PressRAG indexes.
         *
         * @param string[] $types Post type names.
         */
        return (array) apply_filters('pressrag_post_types', $types);
    }

    /**
     * Whether a post type is indexed.
     *
     * @param string $post_type Post type name.
     */
    public static function is_indexed_type(string $post_type): bool
    {
        return in_array($post_type, self::post_types(), true);
    }

    /**
     * Public taxonomies attached to the indexed post types.
     *
     * @return string[]
     */
    public static function indexed_taxonomies(): array
    {
        $taxonomies = array();
        foreach (self::post_types() as $post_type) {
            foreach (get_object_taxonomies($post_type, 'objects') as $taxonomy) {
                if ($taxonomy->public) {
                    $taxonomies[ $taxonomy->name ] = true;
                }
            }
        }
        return array_keys($taxonomies);
    }

    /**
     * Whether content changes are recorded in the outbox (on by default).
     */
    public static function outbox_enabled(): bool
    {
        return (bool) self::get('outbox_enabled');
    }

    /**
     * Whether webhooks can be sent at all.
     */
    public static function webhooks_configured(): bool
    {
        return '' !== self::backend_url() && '' !== self::site_id()
            && PressRAG_Crypto::is_valid_secret(self::webhook_secret());
    }

    /**
     * Whether browser tokens can be minted.
     */
    public static function tokens_configured(): bool
    {
        return '' !== self::backend_url() && '' !== self::site_id()
            && PressRAG_Crypto::is_valid_secret(self::token_secret());
    }

    /**
     * The chat's title: the setting, else the translated default (an empty setting follows
     * the site's language).
     */
    public static function chat_title(): string
    {
        $title = trim((string) self::get('chat_title'));
        return '' !== $title ? $title : self::default_chat_title();
    }

    /**
     * The input's placeholder: the setting, else the translated default.
     */
    public static function chat_placeholder(): string
    {
        $placeholder = trim((string) self::get('chat_placeholder'));
        return '' !== $placeholder ? $placeholder : self::default_chat_placeholder();
    }

    /**
     * Default chat title.
     */
    public static function default_chat_title(): string
    {
        return __('Ask this site', 'pressrag');
    }

    /**
     * Default input placeholder.
     */
    public static function default_chat_placeholder(): string
    {
        return __('Type your question…', 'pressrag');
    }

    /**
     * Starter questions offered before the first question.
     *
     * @return string[]
     */
    public static function starter_questions(): array
    {
        $questions = self::get('starter_questions');
        $questions = is_array($questions) ? array_values(array_filter(array_map('strval', $questions))) : array();
        /**
         * Filters the starter questions the chat offers.
         *
         * @param string[] $questions Questions from the settings.
         */
        $questions = (array) apply_filters('pressrag_starter_questions', $questions);
        return array_slice(array_map('strval', $questions), 0, PressRAG_Chat::MAX_STARTERS);
    }

    /**
     * Whether the floating launcher is shown on every page.
     */
    public static function launcher_enabled(): bool
    {
        return (bool) self::get('launcher_enabled');
    }

    /**
     * Default number of passages the chat asks for.
     */
    public static function chat_k(): int
    {
        return self::clamp_k((int) self::get('chat_k'));
    }

    /**
     * Keep k within what the backend accepts.
     *
     * @param int $k Requested k.
     */
    public static function clamp_k(int $k): int
    {
        return max(1, min(20, $k > 0 ? $k : 6));
    }

    /**
     * Sanitize callback for register_setting(). Empty secret fields keep the stored secret, so a
     * secret never has to be sent back to the browser to survive a save.
     *
     * @param mixed $input Raw form input.
     * @return array<string,mixed>
     */
    public static function sanitize($input): array
    {
        $old = self::stored();
        $input = is_array($input) ? wp_unslash($input) : array();
        $clean = $old;

        $url = trim((string) ($input['backend_url'] ?? ''));
        if ('' === $url) {
            $clean['backend_url'] = '';
        } elseif (self::is_http_url($url)) {
            $clean['backend_url'] = untrailingslashit(esc_url_raw($url, array('http', 'https')));
        } else {
            self::error('backend_url', __('The backend URL must be an http(s) URL.', 'pressrag'));
        }

        $site = strtolower(trim((string) ($input['site_id'] ?? '')));
        if ('' === $site || 1 === preg_match(self::SITE_ID_PATTERN, $site)) {
            $clean['site_id'] = $site;
        } else {
            self::error('site_id', __('The site id may contain only a-z, 0-9 and "-" (up to 63 characters).', 'pressrag'));
        }

        foreach (self::SECRETS as $key) {
            $value = trim((string) ($input[ $key ] ?? ''));
            if (! empty($input[ 'clear_' . $key ])) {
                $clean[ $key ] = '';
            } elseif ('' === $value) {
                continue;
            } elseif ('admin_api_key' === $key || PressRAG_Crypto::is_valid_secret($value)) {
                $clean[ $key ] = sanitize_text_field($value);
            } else {
                self::error($key, __('A secret must look like whsec_ followed by base64 (as printed by "pressrag sites add"). It was not saved.', 'pressrag'));
            }
        }

        $allowed_types = array_keys(self::available_post_types());
        $types = isset($input['post_types']) && is_array($input['post_types']) ? array_map('sanitize_key', $input['post_types']) : array();
        $clean['post_types'] = array_values(array_intersect($types, $allowed_types));

        $clean['outbox_enabled'] = ! empty($input['outbox_enabled']);
        // The form shows defaults as values; saving one unchanged keeps following the language.
        $title = sanitize_text_field((string) ($input['chat_title'] ?? ''));
        $clean['chat_title'] = self::default_chat_title() === $title ? '' : $title;
        $placeholder = sanitize_text_field((string) ($input['chat_placeholder'] ?? ''));
        $clean['chat_placeholder'] = self::default_chat_placeholder() === $placeholder ? '' : $placeholder;
        $clean['chat_k'] = self::clamp_k(absint($input['chat_k'] ?? 6));
        $clean['starter_questions'] = self::sanitize_starters((string) ($input['starter_questions'] ?? ''));
        $clean['launcher_enabled'] = ! empty($input['launcher_enabled']);
        return $clean;
    }

    /**
     * Starter questions from the textarea: one per line, trimmed, at most four, each capped.
     *
     * @param string $text Raw textarea value.
     * @return string[]
     */
    public static function sanitize_starters(string $text): array
    {
        $questions = array();
        foreach (preg_split('/\R/', sanitize_textarea_field($text)) ?: array() as $line) {
            $line = trim($line);
            if ('' !== $line) {
                $questions[] = mb_substr($line, 0, PressRAG_Chat::MAX_STARTER_CHARS);
            }
        }
        return array_slice(array_values(array_unique($questions)), 0, PressRAG_Chat::MAX_STARTERS);
    }

    /**
     * Whether a string is an absolute http(s) URL with a host. Loopback hosts are allowed on
     * purpose: an admin sets this URL and a backend on the same machine is a normal setup.
     *
     * @param string $url Candidate URL.
     */
    public static function is_http_url(string $url): bool
    {
        $parts = wp_parse_url($url);
        return is_array($parts) && isset($parts['scheme'], $parts['host'])
            && in_array(strtolower($parts['scheme']), array('http', 'https'), true)
            && false === strpbrk($url, " \t\r\n<>\"'");
    }

    /**
     * Post types an admin may choose from: public ones plus media.
     *
     * @return array<string,string> name => label
     */
    public static function available_post_types(): array
    {
        $choices = array();
        foreach (get_post_types(array('public' => true), 'objects') as $type) {
            $choices[ $type->name ] = $type->labels->name;
        }
        return $choices;
    }

    /**
     * Record a settings error (shown by settings_errors()).
     *
     * @param string $code    Field.
     * @param string $message Message.
     */
    private static function error(string $code, string $message): void
    {
        if (function_exists('add_settings_error')) {
            add_settings_error(self::OPTION, 'pressrag_' . $code, $message);
        }
    }
}
