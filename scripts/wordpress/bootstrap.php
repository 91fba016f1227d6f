<?php
/**
 * Load WordPress from the command line for one harness instance.
 *
 * Debian's wp-config.php picks its config by Host header (or WORDPRESS_CONFIG), and
 * command-line PHP has neither, so set both before wp-load.php. Environment (set by
 * tests/support/wordpress.py): PRESSRAG_WP_HOST ("127.0.0.1:PORT"), PRESSRAG_WP_CONFIG.
 */

$_SERVER['HTTP_HOST']        = (string) getenv('PRESSRAG_WP_HOST');
$_SERVER['SERVER_NAME']      = preg_replace('/:.*/', '', $_SERVER['HTTP_HOST']);
$_SERVER['SERVER_PORT']      = (int) preg_replace('/^[^:]*:?/', '', $_SERVER['HTTP_HOST']) ?: 80;
$_SERVER['REQUEST_URI']      = '/';
$_SERVER['REQUEST_METHOD']   = 'GET';
$_SERVER['WORDPRESS_CONFIG'] = (string) getenv('PRESSRAG_WP_CONFIG');

require_once '/usr/share/wordpress/wp-load.php';
