/**
 * PressRAG chat: asks the backend and streams the answer with citations.
 *
 * Plain script, no build step. Everything the backend sends is untrusted: it is rendered with
 * textContent / DOM nodes only (never parsed as markup), and links are created only for http(s)
 * URLs.
 */
( function () {
	'use strict';

	var config = window.pressragChatConfig || {};
	var i18n = config.i18n || {};
	var TOKEN_MARGIN_MS = 30000;
	var token = { value: '', expiresAt: 0, backend: '', site: '' };

	/** An error whose `kind` picks the message shown to the visitor. */
	function ChatError( kind, status ) {
		this.kind = kind;
		this.status = status || 0;
	}

	function text( key ) {
		return i18n[ key ] || key;
	}

	function el( tag, className, content ) {
		var node = document.createElement( tag );
		if ( className ) {
			node.className = className;
		}
		if ( content ) {
			node.textContent = content;
		}
		return node;
	}

	/** Absolute http(s) URL or null: anything else (javascript:, data:, …) is never linked. */
	function safeHttpUrl( value ) {
		if ( typeof value !== 'string' || value === '' ) {
			return null;
		}
		try {
			var url = new URL( value, window.location.href );
			return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
		} catch ( e ) {
			return null;
		}
	}

	/** A timer-driven AbortController; `touch()` restarts the countdown (progress was made). */
	function deadline( ms ) {
		var controller = new AbortController();
		var timer = null;
		var expired = false;
		function touch() {
			window.clearTimeout( timer );
			timer = window.setTimeout( function () {
				expired = true;
				controller.abort();
			}, ms );
		}
		touch();
		return {
			signal: controller.signal,
			touch: touch,
			expired: function () {
				return expired;
			},
			clear: function () {
				window.clearTimeout( timer );
			},
		};
	}

	function errorForStatus( status ) {
		if ( status === 429 ) {
			return new ChatError( 'rateLimited', status );
		}
		if ( status === 401 || status === 403 ) {
			return new ChatError( 'unauthorized', status );
		}
		if ( status === 503 ) {
			return new ChatError( 'notReady', status );
		}
		return new ChatError( 'generic', status );
	}

	/** A token from the plugin route, reused until shortly before it expires. */
	function getToken( force, timer ) {
		if ( ! force && token.value && Date.now() < token.expiresAt ) {
			return Promise.resolve( token );
		}
		return fetch( config.tokenUrl, {
			method: 'GET',
			credentials: 'same-origin',
			cache: 'no-store',
			headers: { Accept: 'application/json' },
			signal: timer.signal,
		} ).then( function ( response ) {
			if ( ! response.ok ) {
				throw errorForStatus( response.status );
			}
			return response.json();
		} ).then( function ( body ) {
			if ( ! body || typeof body.token !== 'string' ) {
				throw new ChatError( 'generic' );
			}
			var lifetime = ( Number( body.expires_in ) || 60 ) * 1000;
			token = {
				value: body.token,
				expiresAt: Date.now() + Math.max( 0, lifetime - TOKEN_MARGIN_MS ),
				backend: String( body.backend || config.backend || '' ).replace( /\/+$/, '' ),
				site: String( body.site || config.site || '' ),
			};
			return token;
		} );
	}

	/**
	 * Incremental parser for a text/event-stream body. Calls onEvent(name, data) per event.
	 */
	function createSseParser( onEvent ) {
		var buffer = '';
		function dispatch( block ) {
			var name = 'message';
			var data = [];
			block.split( '\n' ).forEach( function ( line ) {
				if ( line === '' || line.charAt( 0 ) === ':' ) {
					return;
				}
				var colon = line.indexOf( ':' );
				var field = colon === -1 ? line : line.slice( 0, colon );
				var value = colon === -1 ? '' : line.slice( colon + 1 ).replace( /^ /, '' );
				if ( field === 'event' ) {
					name = value;
				} else if ( field === 'data' ) {
					data.push( value );
				}
			} );
			if ( data.length ) {
				onEvent( name, data.join( '\n' ) );
			}
		}
		return {
			push: function ( chunk ) {
				buffer += chunk.replace( /\r\n?/g, '\n' );
				var end = buffer.indexOf( '\n\n' );
				while ( end !== -1 ) {
					dispatch( buffer.slice( 0, end ) );
					buffer = buffer.slice( end + 2 );
					end = buffer.indexOf( '\n\n' );
				}
			},
			flush: function () {
				if ( buffer.trim() !== '' ) {
					dispatch( buffer );
				}
				buffer = '';
			},
		};
	}

	function parseJson( data ) {
		try {
			return JSON.parse( data );
		} catch ( e ) {
			return null;
		}
	}

	/** POST /v1/ask and feed the stream (or a plain JSON answer) to `view`. */
	function ask( question, k, auth, timer, view ) {
		return fetch( auth.backend + '/v1/ask', {
			method: 'POST',
			mode: 'cors',
			credentials: 'omit',
			headers: {
				Accept: 'text/event-stream',
				'Content-Type': 'application/json',
				Authorization: 'Bearer ' + auth.value,
			},
			body: JSON.stringify( { site: auth.site, question: question, k: k } ),
			signal: timer.signal,
		} ).then( function ( response ) {
			if ( ! response.ok ) {
				throw errorForStatus( response.status );
			}
			var type = response.headers.get( 'Content-Type' ) || '';
			if ( type.indexOf( 'text/event-stream' ) === -1 ) {
				return response.json().then( function ( body ) {
					view.delta( body && typeof body.answer === 'string' ? body.answer : '' );
					view.citations( body && body.citations );
					view.done( body && body.mode );
				} );
			}
			var failed = null;
			var parser = createSseParser( function ( name, data ) {
				var payload = parseJson( data ) || {};
				if ( name === 'delta' ) {
					view.delta( typeof payload.text === 'string' ? payload.text : '' );
				} else if ( name === 'citations' ) {
					view.citations( payload.citations );
				} else if ( name === 'done' ) {
					view.done( payload.mode );
				} else if ( name === 'error' ) {
					failed = new ChatError( payload.error === 'rate_limited' ? 'rateLimited' : 'generic' );
				}
			} );
			if ( ! response.body || ! response.body.getReader ) {
				return response.text().then( function ( all ) {
					parser.push( all );
					parser.flush();
					if ( failed ) {
						throw failed;
					}
				} );
			}
			var reader = response.body.getReader();
			var decoder = new TextDecoder();
			function pump() {
				return reader.read().then( function ( step ) {
					timer.touch();
					if ( step.done ) {
						parser.push( decoder.decode() );
						parser.flush();
						if ( failed ) {
							throw failed;
						}
						return undefined;
					}
					parser.push( decoder.decode( step.value, { stream: true } ) );
					if ( failed ) {
						reader.cancel();
						throw failed;
					}
					return pump();
				} );
			}
			return pump();
		} );
	}

	/** DOM for one answer: streamed text, then a list of sources. */
	function answerView( log ) {
		var item = el( 'div', 'pressrag-chat__msg pressrag-chat__msg--answer' );
		item.appendChild( el( 'span', 'pressrag-chat__who', text( 'assistant' ) ) );
		var body = el( 'p', 'pressrag-chat__text' );
		item.appendChild( body );
		log.appendChild( item );
		var received = '';
		return {
			delta: function ( chunk ) {
				received += chunk;
				// `[n]` citation markers stay plain text: nothing from the server becomes markup.
				body.textContent = received;
				log.scrollTop = log.scrollHeight;
			},
			citations: function ( list ) {
				if ( ! Array.isArray( list ) || list.length === 0 ) {
					return;
				}
				var box = el( 'div', 'pressrag-chat__sources' );
				box.appendChild( el( 'p', 'pressrag-chat__sources-title', text( 'sources' ) ) );
				var ol = el( 'ol', 'pressrag-chat__source-list' );
				list.forEach( function ( citation, index ) {
					if ( ! citation || typeof citation !== 'object' ) {
						return;
					}
					var li = el( 'li', 'pressrag-chat__source' );
					var n = Number( citation.n ) || index + 1;
					li.appendChild( document.createTextNode( '[' + n + '] ' ) );
					var title = String( citation.title || citation.url || '' );
					var href = safeHttpUrl( citation.url );
					if ( href ) {
						var link = el( 'a', '', title );
						link.href = href;
						link.rel = 'noopener noreferrer';
						li.appendChild( link );
					} else {
						li.appendChild( el( 'span', '', title ) );
					}
					if ( citation.heading ) {
						li.appendChild( document.createTextNode( ' — ' + String( citation.heading ) ) );
					}
					ol.appendChild( li );
				} );
				box.appendChild( ol );
				item.appendChild( box );
				log.scrollTop = log.scrollHeight;
			},
			done: function () {
				if ( received.trim() === '' ) {
					body.textContent = text( 'notFound' );
				}
			},
			fail: function ( kind ) {
				item.classList.add( 'pressrag-chat__msg--error' );
				var message = el( 'p', 'pressrag-chat__error', text( kind ) );
				if ( received === '' ) {
					item.replaceChild( message, body );
				} else {
					item.appendChild( message );
				}
			},
		};
	}

	function kindOf( error, timer ) {
		if ( error instanceof ChatError ) {
			return error.kind;
		}
		if ( timer.expired() ) {
			return 'timeout';
		}
		if ( error && error.name === 'AbortError' ) {
			return 'timeout';
		}
		// fetch() rejects with a TypeError when the network fails (compare by name: realms differ).
		return error && error.name === 'TypeError' ? 'network' : 'generic';
	}

	function setup( root ) {
		var form = root.querySelector( '.pressrag-chat__form' );
		var input = root.querySelector( '.pressrag-chat__input' );
		var button = root.querySelector( '.pressrag-chat__send' );
		var log = root.querySelector( '.pressrag-chat__log' );
		var status = root.querySelector( '.pressrag-chat__status' );
		var k = parseInt( root.getAttribute( 'data-k' ), 10 ) || Number( config.k ) || 6;
		var busy = false;
		if ( ! form || ! input || ! log ) {
			return;
		}

		function finish() {
			busy = false;
			button.disabled = false;
			log.setAttribute( 'aria-busy', 'false' );
			status.textContent = '';
			input.focus();
		}

		form.addEventListener( 'submit', function ( event ) {
			event.preventDefault();
			var question = input.value.trim();
			if ( busy ) {
				return;
			}
			if ( question === '' ) {
				status.textContent = text( 'empty' );
				return;
			}
			busy = true;
			button.disabled = true;
			log.setAttribute( 'aria-busy', 'true' );
			status.textContent = text( 'thinking' );
			var mine = el( 'div', 'pressrag-chat__msg pressrag-chat__msg--user' );
			mine.appendChild( el( 'span', 'pressrag-chat__who', text( 'you' ) ) );
			mine.appendChild( el( 'p', 'pressrag-chat__text', question ) );
			log.appendChild( mine );
			input.value = '';
			var view = answerView( log );
			var timer = deadline( Number( config.timeoutMs ) || 30000 );

			function attempt( retried ) {
				return getToken( retried, timer ).then( function ( auth ) {
					return ask( question, k, auth, timer, view );
				} ).catch( function ( error ) {
					// An expired or rotated token: fetch a fresh one once and try again.
					if ( ! retried && error instanceof ChatError && error.status === 401 ) {
						return attempt( true );
					}
					throw error;
				} );
			}

			attempt( false ).catch( function ( error ) {
				view.fail( kindOf( error, timer ) );
			} ).then( function () {
				timer.clear();
				finish();
			} );
		} );
	}

	function init() {
		var roots = document.querySelectorAll( '[data-pressrag-chat]' );
		Array.prototype.forEach.call( roots, setup );
	}

	if ( document.readyState === 'loading' ) {
		document.addEventListener( 'DOMContentLoaded', init );
	} else {
		init();
	}

	// Exposed for tests only; carries no state a page could misuse.
	window.pressragChatInternals = { createSseParser: createSseParser, safeHttpUrl: safeHttpUrl };
}() );
