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
	// Lets the harness tell its own server from another one already on the port.
	header('X-PressRAG-Instance: ' . $config_name);
}

$path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if ($path === '' || strpos($path, "\0") !== false || preg_match('#(^|/)\.\.(/|$)#', $path)) {
	http_response_code(400);
	echo 'Bad path';
	return true;
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

// Decide which PHP file answers; it is required at the top level below because WordPress
// (wp-login.php, wp-admin menus) relies on its variables being globals.
$pressrag_script = null;
$pressrag_url    = $path;

if (strpos($path, '/wp-content/') === 0 && $content_dir !== '') {
	$file = $content_dir . substr($path, strlen('/wp-content'));
	if (!is_file($file)) {
		http_response_code(404);
		echo 'Not found';
		return true;
	}
	if (substr($file, -4) !== '.php') {
		pressrag_send_file($file);
		return true;
	}
	$pressrag_script = $file;
} else {
	$file = $docroot . $path;
	if (is_dir($file) && is_file(rtrim($file, '/') . '/index.php')) {
		$pressrag_script = rtrim($file, '/') . '/index.php';
		$pressrag_url    = rtrim($path, '/') . '/index.php';
	} elseif (is_file($file) && substr($file, -4) === '.php') {
		$pressrag_script = $file;
	} elseif (is_file($file)) {
		return false; // static file inside the docroot: let the built-in server send it
	} else {
		// Permalinks, /wp-json/ and everything else go to WordPress's front controller.
		$pressrag_script = $docroot . '/index.php';
		$pressrag_url    = '/index.php';
	}
}

$_SERVER['SCRIPT_FILENAME'] = $pressrag_script;
$_SERVER['SCRIPT_NAME']     = $pressrag_url;
$_SERVER['PHP_SELF']        = $pressrag_url;
chdir(dirname($pressrag_script));
unset($config_name, $content_dir, $docroot, $path, $file, $pressrag_url);
require $pressrag_script;
return true;
