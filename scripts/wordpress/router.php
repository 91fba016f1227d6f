<?php
/**
 * Router for `php -S` serving Debian's WordPress from /usr/share/wordpress.
 *
 * Why a router: the built-in server knows nothing about pretty permalinks, /wp-json/ or a
 * WP_CONTENT_DIR outside the docroot. Environment (set by tests/support/wordpress.py):
 *   PRESSRAG_WP_CONFIG       name of /etc/wordpress/config-<name>.php for this instance
 *   PRESSRAG_WP_CONTENT_DIR  the private wp-content folder of this instance
 */

$config_name = getenv('PRESSRAG_WP_CONFIG');
$content_dir = rtrim((string) getenv('PRESSRAG_WP_CONTENT_DIR'), '/');
$docroot     = rtrim($_SERVER['DOCUMENT_ROOT'], '/');

// Debian's wp-config.php honours WORDPRESS_CONFIG before the Host header, so several
// instances on 127.0.0.1 (different ports) never share one config file.
if ($config_name !== false && $config_name !== '') {
	$_SERVER['WORDPRESS_CONFIG'] = $config_name;
}

$path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if ($path === '' || strpos($path, "\0") !== false || preg_match('#(^|/)\.\.(/|$)#', $path)) {
	http_response_code(400);
	echo 'Bad path';
	return true;
}

/** Run a PHP file as if the server had been asked for it directly. */
function pressrag_run_php(string $file, string $url_path): void {
	$_SERVER['SCRIPT_FILENAME'] = $file;
	$_SERVER['SCRIPT_NAME']     = $url_path;
	$_SERVER['PHP_SELF']        = $url_path;
	chdir(dirname($file));
	require $file;
}

/** Send a static file from outside the docroot (uploads, private plugins). */
function pressrag_send_file(string $file): void {
	$types = array(
		'css' => 'text/css', 'js' => 'application/javascript', 'json' => 'application/json',
		'png' => 'image/png', 'jpg' => 'image/jpeg', 'jpeg' => 'image/jpeg', 'gif' => 'image/gif',
		'svg' => 'image/svg+xml', 'webp' => 'image/webp', 'pdf' => 'application/pdf',
		'txt' => 'text/plain', 'html' => 'text/html', 'woff' => 'font/woff', 'woff2' => 'font/woff2',
		'docx' => 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
	);
	$ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
	header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
	header('Content-Length: ' . filesize($file));
	readfile($file);
}

if (strpos($path, '/wp-content/') === 0 && $content_dir !== '') {
	$file = $content_dir . substr($path, strlen('/wp-content'));
	if (is_file($file)) {
		if (substr($file, -4) === '.php') {
			pressrag_run_php($file, $path);
		} else {
			pressrag_send_file($file);
		}
		return true;
	}
	http_response_code(404);
	echo 'Not found';
	return true;
}

$file = $docroot . $path;
if (is_dir($file) && is_file(rtrim($file, '/') . '/index.php')) {
	pressrag_run_php(rtrim($file, '/') . '/index.php', rtrim($path, '/') . '/index.php');
	return true;
}
if (is_file($file)) {
	if (substr($file, -4) === '.php') {
		pressrag_run_php($file, $path);
		return true;
	}
	return false; // static file inside the docroot: let the built-in server send it
}

// Permalinks, /wp-json/ and everything else go to WordPress's front controller.
pressrag_run_php($docroot . '/index.php', '/index.php');
return true;
