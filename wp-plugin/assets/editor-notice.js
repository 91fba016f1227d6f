/**
 * Block editor: show PressRAG's trouble (dead events, unreachable backend) as warnings, so
 * whoever edits knows their change may not reach the site's answers yet. Plain script on the
 * `wp.*` globals; the messages come from the server, already translated.
 */
( function ( wp ) {
	'use strict';

	var config = window.pressragEditorNotices || {};
	wp.domReady( function () {
		( config.notices || [] ).forEach( function ( message, index ) {
			wp.data.dispatch( 'core/notices' ).createWarningNotice( String( message ), {
				id: 'pressrag-notice-' + index,
				isDismissible: true,
				actions: config.action ? [ { label: config.action.label, url: config.action.url } ] : [],
			} );
		} );
	} );
}( window.wp ) );
