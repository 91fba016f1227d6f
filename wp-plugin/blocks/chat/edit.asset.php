<?php

/**
 * Dependencies of the block's editor script (what a build step would generate).
 *
 * @package PressRAG
 */

if (! defined('ABSPATH')) {
    exit;
}

return array(
    'dependencies' => array('wp-blocks', 'wp-block-editor', 'wp-components', 'wp-element', 'wp-i18n', 'wp-server-side-render'),
    'version'      => '0.2.0',
);
