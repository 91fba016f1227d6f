/**
 * Posts → Draft with PressRAG: request a draft without leaving the page and follow its
 * progress until the link to the draft appears. Without this script the form posts to
 * admin-post.php and the list is as fresh as the last page load. Text from the server only
 * ever becomes text nodes.
 */
( function ( wp ) {
	'use strict';

	var __ = wp.i18n.__;
	var POLL_MS = 3000;
	var form = document.getElementById( 'pressrag-draft-form' );
	var list = document.querySelector( '#pressrag-draft-list tbody' );
	var errorBox = document.getElementById( 'pressrag-draft-error' );
	var timer = null;
	if ( ! form || ! list || ! errorBox ) {
		return;
	}

	function cell( text ) {
		var td = document.createElement( 'td' );
		td.textContent = text;
		return td;
	}

	function row( item ) {
		var tr = document.createElement( 'tr' );
		tr.dataset.request = item.request_id;
		tr.dataset.status = item.status;
		tr.appendChild( cell( item.topic ) );
		tr.appendChild( cell( item.created ) );
		var detail = item.message && item.message !== item.status_label ? ' — ' + item.message : '';
		tr.appendChild( cell( item.status_label + detail ) );
		var draft = document.createElement( 'td' );
		if ( item.edit_url ) {
			var link = document.createElement( 'a' );
			link.href = item.edit_url;
			link.textContent = __( 'Edit the draft', 'pressrag' );
			draft.appendChild( link );
		}
		tr.appendChild( draft );
		return tr;
	}

	function render( items ) {
		list.replaceChildren.apply( list, items.map( row ) );
		window.clearTimeout( timer );
		if ( items.some( function ( item ) { return ! item.final; } ) ) {
			timer = window.setTimeout( refresh, POLL_MS );
		}
	}

	function refresh() {
		wp.apiFetch( { path: '/pressrag/v1/drafts' } ).then( render ).catch( function () {
			timer = window.setTimeout( refresh, POLL_MS * 3 );
		} );
	}

	function showError( message ) {
		errorBox.querySelector( 'p' ).textContent = message;
		errorBox.classList.toggle( 'hidden', ! message );
	}

	form.addEventListener( 'submit', function ( event ) {
		event.preventDefault();
		var button = document.getElementById( 'pressrag-draft-submit' );
		button.disabled = true;
		showError( '' );
		wp.apiFetch( {
			path: '/pressrag/v1/drafts',
			method: 'POST',
			data: {
				topic: form.elements.topic.value,
				outline: form.elements.outline.value,
				words: Number( form.elements.words.value ),
			},
		} ).then( function () {
			form.reset();
			refresh();
		} ).catch( function ( error ) {
			showError( ( error && error.message ) || __( 'The draft could not be requested.', 'pressrag' ) );
		} ).finally( function () {
			button.disabled = false;
		} );
	} );

	refresh();
}( window.wp ) );
