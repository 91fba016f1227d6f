<?php
/**
 * Headless WordPress install for one harness instance (no wp-cli here).
 *
 * Environment: PRESSRAG_WP_HOST, PRESSRAG_WP_CONFIG (see bootstrap.php) and
 * PRESSRAG_SITE_TITLE, PRESSRAG_ADMIN_USER, PRESSRAG_ADMIN_PASSWORD, PRESSRAG_ADMIN_EMAIL.
 * Prints one JSON object: {"user_id": N, "app_password": "..."}.
 */

define('WP_INSTALLING', true);
require __DIR__ . '/bootstrap.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (is_blog_installed()) {
	fwrite(STDERR, "WordPress is already installed in this database\n");
	exit(2);
}

$result = wp_install(
	(string) getenv('PRESSRAG_SITE_TITLE'),
	(string) getenv('PRESSRAG_ADMIN_USER'),
	(string) getenv('PRESSRAG_ADMIN_EMAIL'),
	true,
	'',
	wp_slash((string) getenv('PRESSRAG_ADMIN_PASSWORD'))
);
$user_id = (int) $result['user_id'];

global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%postname%/');
flush_rewrite_rules(false); // false: never write an .htaccess into /usr/share/wordpress
switch_theme('twentytwentyone');

$created = WP_Application_Passwords::create_new_application_password(
	$user_id,
	array('name' => 'pressrag-harness')
);
if (is_wp_error($created)) {
	fwrite(STDERR, 'Application password: ' . $created->get_error_message() . "\n");
	exit(3);
}

echo json_encode(array('user_id' => $user_id, 'app_password' => $created[0]));
