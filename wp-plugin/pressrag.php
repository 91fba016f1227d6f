<?php

/**
 * Plugin Name:       PressRAG
 * Description:       Answers visitors' questions about this site with cited sources (a chat block, the [ai_chat] shortcode, a floating launcher), kept fresh by signed webhooks.
 * Version:           0.2.0
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

define('PRESSRAG_VERSION', '0.2.0');
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

register_activation_hook(__FILE__, array('PressRAG_Installer', 'activate'));
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
if (is_admin()) {
    PressRAG_Admin::register();
    PressRAG_Notices::register();
}

add_action(
    'init',
    static function (): void {
        load_plugin_textdomain('pressrag', false, dirname(plugin_basename(PRESSRAG_PLUGIN_FILE)) . '/languages');
    }
);
