/**
 * Block editor sidebar: "PressRAG summary" — the post's summary, when and by which model it
 * was written (extractive ones say so), and "Regenerate", which files an outbox event for the
 * backend and then watches for the new summary. Plain script on the `wp.*` globals, no build
 * step; text from the server only ever becomes text nodes.
 */
( function ( wp ) {
	'use strict';

	var el = wp.element.createElement;
	var useState = wp.element.useState;
	var useEffect = wp.element.useEffect;
	var __ = wp.i18n.__;
	var sprintf = wp.i18n.sprintf;
	var POLL_MS = 5000;
	var POLL_LIMIT = 60; // five minutes

	function generatorLabel( data ) {
		if ( data.extractive ) {
			return __( 'extractive: sentences picked from the post by a local model', 'pressrag' );
		}
		return data.model || data.generator || '';
	}

	function SummaryPanel() {
		var post = wp.data.useSelect( function ( select ) {
			var editor = select( 'core/editor' );
			return { id: editor.getCurrentPostId(), status: editor.getEditedPostAttribute( 'status' ) };
		}, [] );
		var state = useState( null );
		var data = state[ 0 ];
		var setData = state[ 1 ];
		var errorState = useState( '' );
		var busyState = useState( false );
		var pollState = useState( 0 );

		function load() {
			return wp.apiFetch( { path: '/pressrag/v1/summary/' + post.id } ).then( function ( fresh ) {
				setData( fresh );
				errorState[ 1 ]( '' );
				return fresh;
			} ).catch( function ( error ) {
				errorState[ 1 ]( ( error && error.message ) || __( 'The summary could not be loaded.', 'pressrag' ) );
			} );
		}

		useEffect( function () {
			if ( post.id ) {
				load();
			}
		}, [ post.id ] );

		// After "Regenerate": look again every few seconds until a newer summary arrives.
		useEffect( function () {
			if ( ! pollState[ 0 ] || ! data || ! data.regenerate_requested_at || pollState[ 0 ] > POLL_LIMIT ) {
				return undefined;
			}
			var timer = window.setTimeout( function () {
				load().then( function () {
					pollState[ 1 ]( pollState[ 0 ] + 1 );
				} );
			}, POLL_MS );
			return function () {
				window.clearTimeout( timer );
			};
		}, [ pollState[ 0 ], data ] );

		function regenerate() {
			busyState[ 1 ]( true );
			wp.apiFetch( { path: '/pressrag/v1/summary/' + post.id + '/regenerate', method: 'POST' } ).then( function ( fresh ) {
				setData( fresh );
				pollState[ 1 ]( 1 );
			} ).catch( function ( error ) {
				errorState[ 1 ]( ( error && error.message ) || __( 'The request could not be sent.', 'pressrag' ) );
			} ).finally( function () {
				busyState[ 1 ]( false );
			} );
		}

		var children = [];
		if ( errorState[ 0 ] ) {
			children.push( el( wp.components.Notice, { key: 'error', status: 'error', isDismissible: false }, errorState[ 0 ] ) );
		}
		if ( ! data ) {
			children.push( errorState[ 0 ] ? null : el( wp.components.Spinner, { key: 'loading' } ) );
		} else if ( data.summary ) {
			children.push( el( 'p', { key: 'summary', className: 'pressrag-summary-text' }, data.summary ) );
			children.push( el( 'p', { key: 'meta', className: 'pressrag-summary-meta' },
				/* translators: 1: date and time, 2: the model that wrote it (or "extractive: …"). */
				sprintf( __( 'Written %1$s by %2$s.', 'pressrag' ), data.generated_display, generatorLabel( data ) ) ) );
			if ( data.excerpt_filled ) {
				children.push( el( 'p', { key: 'excerpt', className: 'pressrag-summary-meta' }, __( 'Also used as the excerpt.', 'pressrag' ) ) );
			}
		} else {
			children.push( el( 'p', { key: 'none', className: 'pressrag-summary-none' },
				__( 'No summary yet. PressRAG writes one after the post is published and indexed.', 'pressrag' ) ) );
		}
		if ( data && data.regenerate_requested_at ) {
			children.push( el( 'p', { key: 'requested', className: 'pressrag-summary-requested' }, __( 'A new summary has been requested.', 'pressrag' ) ) );
		}
		children.push( el( wp.components.Button, {
			key: 'regenerate',
			variant: 'secondary',
			isBusy: busyState[ 0 ],
			disabled: busyState[ 0 ] || ! data || post.status !== 'publish',
			onClick: regenerate,
		}, __( 'Regenerate', 'pressrag' ) ) );
		return el( 'div', { className: 'pressrag-summary' }, children );
	}

	wp.plugins.registerPlugin( 'pressrag-summary', {
		render: function () {
			return el( wp.editPost.PluginDocumentSettingPanel, {
				name: 'pressrag-summary',
				title: __( 'PressRAG summary', 'pressrag' ),
				className: 'pressrag-summary-panel',
			}, el( SummaryPanel ) );
		},
	} );
}( window.wp ) );
