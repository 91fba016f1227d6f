<?php
/**
 * Settings of one harness instance, required by /etc/wordpress/config-<name>.php.
 *
 * The /etc file only defines PRESSRAG_INSTANCE_SETTINGS (a JSON file in the instance's
 * private work folder) and requires this file, so all PHP lives in the repository.
 */

$pressrag_settings = json_decode((string) file_get_contents(PRESSRAG_INSTANCE_SETTINGS), true);
if (!is_array($pressrag_settings)) {
	header('HTTP/1.0 500 Internal Server Error');
	echo 'PressRAG harness: unreadable instance settings';
	exit(1);
}

define('DB_NAME', $pressrag_settings['db_name']);
define('DB_USER', $pressrag_settings['db_user']);
define('DB_PASSWORD', $pressrag_settings['db_password']);
define('DB_HOST', 'localhost:' . $pressrag_settings['db_socket']);
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');

// The instance may be reached on another port after a warm restart: pin its URLs here
// instead of trusting the siteurl/home options stored in the database.
define('WP_HOME', $pressrag_settings['site_url']);
define('WP_SITEURL', $pressrag_settings['site_url']);
define('WP_CONTENT_DIR', $pressrag_settings['content_dir']);
define('WP_CONTENT_URL', $pressrag_settings['site_url'] . '/wp-content');

// Application Passwords over plain http need a "local" environment.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('FS_METHOD', 'direct');
// No internet here: external HTTP would only hang on DNS. Loopback stays reachable.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('WP_ACCESSIBLE_HOSTS', '127.0.0.1,localhost');
define('WP_DEBUG', false);

foreach ($pressrag_settings['salts'] as $pressrag_name => $pressrag_value) {
	define($pressrag_name, $pressrag_value);
}

$table_prefix = 'wp_';
unset($pressrag_settings, $pressrag_name, $pressrag_value);
