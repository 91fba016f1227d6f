<?php

/**
 * PHPUnit bootstrap: load a live WordPress in which PressRAG is active.
 *
 * WordPress is loaded inside a closure because PHPUnit 9 copies a bootstrap's local variables
 * into $GLOBALS afterwards, which would clobber WordPress globals (shortcodes vanish).
 *
 * @package PressRAG
 */

(static function (): void {
    $root = rtrim((string) (getenv('WP_ROOT') ?: '/usr/share/wordpress'), '/');
    $host = (string) getenv('WP_HOST');
    if ('' === $host) {
        fwrite(STDERR, "Set WP_HOST (host:port of the live WordPress) and WP_ROOT; see wp-plugin/tests/run.sh\n");
        exit(2);
    }
    if (! is_file($root . '/wp-load.php')) {
        fwrite(STDERR, "No wp-load.php under WP_ROOT={$root}\n");
        exit(2);
    }
    $_SERVER['HTTP_HOST'] = $host;
    $_SERVER['SERVER_NAME'] = (string) preg_replace('/:.*/', '', $host);
    $_SERVER['REQUEST_URI'] = '/';
    $_SERVER['REQUEST_METHOD'] = 'GET';
    $_SERVER['REMOTE_ADDR'] = '127.0.0.1';
    $config = (string) getenv('WORDPRESS_CONFIG');
    if ('' !== $config) {
        // Debian's wp-config.php reads this before falling back to the Host header.
        $_SERVER['WORDPRESS_CONFIG'] = $config;
    }
    require_once $root . '/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/plugin.php';
})();

if (! class_exists('PressRAG_Outbox')) {
    fwrite(STDERR, "The PressRAG plugin is not active on this WordPress (activate pressrag/pressrag.php first)\n");
    exit(2);
}

require_once __DIR__ . '/PressRAGTestCase.php';
