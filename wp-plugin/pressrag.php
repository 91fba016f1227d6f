<?php

/**
 * Plugin Name:       PressRAG
 * Description:       Answers visitors' questions with cited sources (chat block, [ai_chat], launcher), kept fresh by signed webhooks; writes summaries into posts and drafts posts from your content.
 * Version:           0.3.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            PressRAG
 * License:           GPL-2.0-or-later
 * Text Domain:       pressrag
 * Domain Path:       /languages
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

define('PRESSRAG_VERSION', '0.3.0');
define('PRESSRAG_PLUGIN_FILE', __FILE__);
define('PRESSRAG_PLUGIN_DIR', plugin_dir_path(__FILE__));

require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-crypto.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-settings.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-outbox.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-events.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-backend.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-health.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-token-route.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-chat.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-shortcode.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-block.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-launcher.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-installer.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-notices.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-admin.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-writeback-schema.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-writeback-settings.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-callback-route.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-summaries.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-drafts.php';

register_activation_hook(__FILE__, array('PressRAG_Installer', 'activate'));
register_activation_hook(__FILE__, array('PressRAG_Writeback_Schema', 'activate'));
register_deactivation_hook(__FILE__, array('PressRAG_Installer', 'deactivate'));

PressRAG_Installer::register();
PressRAG_Outbox::instance()->register();
PressRAG_Events::register();
PressRAG_Health::register();
PressRAG_Token_Route::register();
PressRAG_Chat::register();
PressRAG_Shortcode::register();
PressRAG_Block::register();
PressRAG_Launcher::register();
PressRAG_Writeback_Schema::register();
PressRAG_Callback_Route::register();
PressRAG_Summaries::register();
PressRAG_Drafts::register();
if (is_admin()) {
    PressRAG_Admin::register();
    PressRAG_Notices::register();
    PressRAG_Writeback_Settings::register();
}

add_action(
    'init',
    static function (): void {
        load_plugin_textdomain('pressrag', false, dirname(plugin_basename(PRESSRAG_PLUGIN_FILE)) . '/languages');
    }
);
