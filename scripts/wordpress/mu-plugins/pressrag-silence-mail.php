<?php
/**
 * Plugin Name: PressRAG harness — silence mail
 * Description: Test instances have no sendmail; wp_install() and user notices would fail.
 */

add_filter('pre_wp_mail', '__return_true');
