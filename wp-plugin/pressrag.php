<?php

/**
 * Plugin Name:       PressRAG
 * Description:       Sends signed change webhooks to a PressRAG backend and adds an [ai_chat] shortcode that answers questions about this site with citations.
 * Version:           0.1.0
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

define('PRESSRAG_VERSION', '0.1.0');
define('PRESSRAG_PLUGIN_FILE', __FILE__);
define('PRESSRAG_PLUGIN_DIR', plugin_dir_path(__FILE__));

require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-crypto.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-settings.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-outbox.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-events.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-backend.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-token-route.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-shortcode.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-installer.php';
require_once PRESSRAG_PLUGIN_DIR . 'includes/class-pressrag-admin.php';

register_activation_hook(__FILE__, array('PressRAG_Installer', 'activate'));
register_deactivation_hook(__FILE__, array('PressRAG_Installer', 'deactivate'));

PressRAG_Installer::register();
PressRAG_Outbox::instance()->register();
PressRAG_Events::register();
PressRAG_Token_Route::register();
PressRAG_Shortcode::register();
if (is_admin()) {
    PressRAG_Admin::register();
}

add_action(
    'init',
    static function (): void {
        load_plugin_textdomain('pressrag', false, dirname(plugin_basename(PRESSRAG_PLUGIN_FILE)) . '/languages');
    }
);
