/**
 * PressRAG chat: asks the backend and streams the answer with numbered, linked sources.
 *
 * Plain script, no build step. Everything the backend sends is untrusted: it is rendered with
 * textContent / DOM nodes only (never parsed as markup), and links are created only for http(s)
 * URLs. The server-rendered markup is a search form for the site (it works without this
 * script); this script turns it into the chat without moving anything on the page.
 */
( function () {
	'use strict';

	var config = window.pressragChatConfig || {};
	var i18n = config.i18n || {};
	var TOKEN_MARGIN_MS = 30000;
	var MARKER = /\[(\d{1,4})\]/g;
	var token = { value: '', expiresAt: 0, backend: '', site: '' };
	var answerCount = 0;

	/** An error whose `kind` picks the message shown to the visitor. */
	function ChatError( kind, status ) {
		this.kind = kind;
		this.status = status || 0;
	}

	function text( key ) {
		return i18n[ key ] || key;
	}

	/** A translated string with `%d` / `%s` replaced (the server translates, we fill in). */
	function format( key, value ) {
		return text( key ).replace( /%[ds]/, String( value ) );
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

	/** The site's own search for a question (`?s=`), or null when it is not known. */
	function siteSearchUrl( question ) {
		var base = safeHttpUrl( config.searchUrl );
		if ( ! base ) {
			return null;
		}
		var url = new URL( base );
		url.searchParams.set( 's', question );
		return url.href;
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
		var pendingCr = false;
		return {
			push: function ( chunk ) {
				// A CR ending one chunk may be half of a CRLF that the next chunk completes.
				var raw = ( pendingCr ? '\r' : '' ) + chunk;
				pendingCr = raw.charAt( raw.length - 1 ) === '\r';
				buffer += ( pendingCr ? raw.slice( 0, -1 ) : raw ).replace( /\r\n?/g, '\n' );
				var end = buffer.indexOf( '\n\n' );
				while ( end !== -1 ) {
					dispatch( buffer.slice( 0, end ) );
					buffer = buffer.slice( end + 2 );
					end = buffer.indexOf( '\n\n' );
				}
			},
			flush: function () {
				buffer += pendingCr ? '\n' : '';
				pendingCr = false;
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

	/**
	 * Sources numbered in order of first citation, one per document: the backend numbers
	 * passages by retrieval rank, and two passages of one page share its number here.
	 *
	 * @param {string} answer    Answer text with the backend's `[n]` markers.
	 * @param {Array}  citations The backend's citations (`n`, title, url, heading).
	 * @return {{display: Object, sources: Array}} backend n → shown number; shown sources.
	 */
	function numberSources( answer, citations ) {
		var byN = {};
		( Array.isArray( citations ) ? citations : [] ).forEach( function ( citation ) {
			if ( citation && typeof citation === 'object' && Number( citation.n ) > 0 ) {
				byN[ Number( citation.n ) ] = citation;
			}
		} );
		var order = [];
		String( answer ).replace( MARKER, function ( marker, n ) {
			if ( order.indexOf( Number( n ) ) === -1 ) {
				order.push( Number( n ) );
			}
			return marker;
		} );
		Object.keys( byN ).map( Number ).sort( function ( a, b ) {
			return a - b;
		} ).forEach( function ( n ) {
			if ( order.indexOf( n ) === -1 ) {
				order.push( n );
			}
		} );
		var display = {};
		var sources = [];
		var byKey = {};
		order.forEach( function ( n ) {
			var citation = byN[ n ];
			if ( ! citation ) {
				return;
			}
			var key = String( citation.url || '' ) || 'n:' + n;
			if ( ! byKey[ key ] ) {
				sources.push( citation );
				byKey[ key ] = sources.length;
			}
			display[ n ] = byKey[ key ];
		} );
		return { display: display, sources: sources };
	}

	/** POST /v1/ask and feed the stream (or a plain JSON answer) to `view`. */
	function ask( request, auth, timer, view ) {
		var body = { site: auth.site, question: request.question, k: request.k };
		if ( request.history.length ) {
			body.history = request.history;
		}
		return fetch( auth.backend + '/v1/ask', {
			method: 'POST',
			mode: 'cors',
			credentials: 'omit',
			headers: {
				Accept: 'text/event-stream',
				'Content-Type': 'application/json',
				Authorization: 'Bearer ' + auth.value,
			},
			body: JSON.stringify( body ),
			signal: timer.signal,
		} ).then( function ( response ) {
			if ( ! response.ok ) {
				throw errorForStatus( response.status );
			}
			var type = response.headers.get( 'Content-Type' ) || '';
			if ( type.indexOf( 'text/event-stream' ) === -1 ) {
				return response.json().then( function ( answer ) {
					view.delta( answer && typeof answer.answer === 'string' ? answer.answer : '' );
					view.citations( answer && answer.citations );
					view.done( answer && answer.mode );
				} );
			}
			var failed = null;
			var parser = createSseParser( function ( name, data ) {
				var payload = parseJson( data ) || {};
				if ( name === 'delta' ) {
					view.delta( typeof payload.text === 'string' ? payload.text : '' );
				} else if ( name === 'reset' ) {
					// The backend's provider broke mid-answer; the next one starts over.
					view.reset();
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

	/**
	 * DOM for one answer. The text streams into the visible log (which is not a live region);
	 * `onComplete(summary)` is called once at the end, for the one announcement.
	 */
	function answerView( log, question, onComplete ) {
		var id = 'pressrag-answer-' + ( ++answerCount );
		var item = el( 'div', 'pressrag-chat__msg pressrag-chat__msg--answer' );
		item.id = id;
		item.appendChild( el( 'span', 'pressrag-chat__who', text( 'assistant' ) ) );
		var body = el( 'p', 'pressrag-chat__text' );
		item.appendChild( body );
		log.appendChild( item );
		var received = '';
		var numbering = { display: {}, sources: [] };
		var streamingNumbers = {};
		var mode = '';

		/** The shown number of a backend marker: by source once known, else by first use. */
		function shown( n ) {
			if ( numbering.display[ n ] ) {
				return numbering.display[ n ];
			}
			if ( ! streamingNumbers[ n ] ) {
				streamingNumbers[ n ] = Object.keys( streamingNumbers ).length + 1;
			}
			return streamingNumbers[ n ];
		}

		/** The answer text with markers as shown (for the announcement and the history). */
		function plain() {
			return received.replace( MARKER, function ( marker, n ) {
				return '[' + shown( Number( n ) ) + ']';
			} ).trim();
		}

		function render() {
			body.textContent = '';
			var last = 0;
			received.replace( MARKER, function ( marker, n, offset ) {
				body.appendChild( document.createTextNode( received.slice( last, offset ) ) );
				var number = shown( Number( n ) );
				var source = numbering.sources[ number - 1 ];
				var href = source ? safeHttpUrl( source.url ) : null;
				if ( href ) {
					var link = el( 'a', 'pressrag-chat__cite', '[' + number + ']' );
					link.href = href;
					link.rel = 'noopener noreferrer';
					link.setAttribute( 'aria-label', format( 'sourceLink', number ) + ': ' + String( source.title || '' ) );
					body.appendChild( link );
				} else {
					body.appendChild( document.createTextNode( '[' + number + ']' ) );
				}
				last = offset + marker.length;
				return marker;
			} );
			body.appendChild( document.createTextNode( received.slice( last ) ) );
			log.scrollTop = log.scrollHeight;
		}

		function renderSources() {
			if ( numbering.sources.length === 0 ) {
				return;
			}
			var box = el( 'div', 'pressrag-chat__sources' );
			box.appendChild( el( 'p', 'pressrag-chat__sources-title', text( 'sources' ) ) );
			var ol = el( 'ol', 'pressrag-chat__source-list' );
			numbering.sources.forEach( function ( source, index ) {
				var li = el( 'li', 'pressrag-chat__source' );
				li.id = id + '-source-' + ( index + 1 );
				li.appendChild( document.createTextNode( '[' + ( index + 1 ) + '] ' ) );
				var title = String( source.title || source.url || '' );
				var href = safeHttpUrl( source.url );
				if ( href ) {
					var link = el( 'a', '', title );
					link.href = href;
					link.rel = 'noopener noreferrer';
					li.appendChild( link );
				} else {
					li.appendChild( el( 'span', '', title ) );
				}
				if ( source.heading ) {
					li.appendChild( document.createTextNode( ' — ' + String( source.heading ) ) );
				}
				ol.appendChild( li );
			} );
			box.appendChild( ol );
			item.appendChild( box );
		}

		function offerSiteSearch() {
			var href = siteSearchUrl( question );
			if ( ! href ) {
				return;
			}
			var next = el( 'p', 'pressrag-chat__next' );
			var link = el( 'a', 'pressrag-chat__search', format( 'searchSite', question ) );
			link.href = href;
			next.appendChild( link );
			item.appendChild( next );
		}

		return {
			delta: function ( chunk ) {
				received += chunk;
				render();
			},
			reset: function () {
				received = '';
				render();
			},
			citations: function ( list ) {
				numbering = numberSources( received, list );
				render();
				renderSources();
				log.scrollTop = log.scrollHeight;
			},
			done: function ( doneMode ) {
				mode = String( doneMode || '' );
				if ( received.trim() === '' ) {
					received = text( 'notFound' );
					mode = 'not_found';
					render();
				}
				if ( mode === 'not_found' ) {
					offerSiteSearch();
				}
				var summary = plain();
				if ( numbering.sources.length ) {
					summary += ' ' + format( 'sourceCount', numbering.sources.length );
				}
				onComplete( summary );
			},
			fail: function ( kind ) {
				item.classList.add( 'pressrag-chat__msg--error' );
				var message = el( 'p', 'pressrag-chat__error', text( kind ) );
				if ( received === '' ) {
					item.replaceChild( message, body );
				} else {
					item.appendChild( message );
				}
				onComplete( text( kind ) );
			},
			/** The turn to remember, or null when it should not shape the next question. */
			turn: function () {
				if ( mode !== 'extractive' && mode !== 'openai' ) {
					return null;
				}
				var answer = plain().replace( MARKER, '' ).slice( 0, Number( config.historyChars ) || 600 );
				return { question: question, answer: answer };
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
		var announce = root.querySelector( '.pressrag-chat__announce' );
		var reset = root.querySelector( '.pressrag-chat__reset' );
		var starters = root.querySelector( '.pressrag-chat__starters' );
		var k = parseInt( root.getAttribute( 'data-k' ), 10 ) || Number( config.k ) || 6;
		var maxTurns = Number( config.historyTurns ) || 3;
		var history = [];
		var busy = false;
		if ( ! form || ! input || ! log || ! button || ! status ) {
			return;
		}

		function say( message ) {
			if ( announce ) {
				announce.textContent = message;
			}
		}

		function finish( view ) {
			var turn = view.turn();
			if ( turn ) {
				history.push( turn );
				history = history.slice( -maxTurns );
			}
			busy = false;
			button.disabled = false;
			if ( reset ) {
				reset.disabled = false;
			}
			log.setAttribute( 'aria-busy', 'false' );
			status.textContent = '';
			input.focus();
		}

		function send( question ) {
			if ( busy ) {
				return;
			}
			if ( question === '' ) {
				status.textContent = text( 'empty' );
				return;
			}
			busy = true;
			button.disabled = true;
			if ( reset ) {
				reset.disabled = true;
			}
			if ( starters ) {
				starters.hidden = true;
			}
			log.setAttribute( 'aria-busy', 'true' );
			status.textContent = text( 'thinking' );
			say( '' );
			var mine = el( 'div', 'pressrag-chat__msg pressrag-chat__msg--user' );
			mine.appendChild( el( 'span', 'pressrag-chat__who', text( 'you' ) ) );
			mine.appendChild( el( 'p', 'pressrag-chat__text', question ) );
			log.appendChild( mine );
			input.value = '';
			var request = { question: question, k: k, history: history.slice() };
			var view = answerView( log, question, say );
			var timer = deadline( Number( config.timeoutMs ) || 30000 );

			function attempt( retried ) {
				return getToken( retried, timer ).then( function ( auth ) {
					return ask( request, auth, timer, view );
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
				finish( view );
			} );
		}

		form.addEventListener( 'submit', function ( event ) {
			event.preventDefault();
			send( input.value.trim() );
		} );

		if ( starters ) {
			starters.addEventListener( 'click', function ( event ) {
				var link = event.target && event.target.closest ? event.target.closest( '.pressrag-chat__starter' ) : null;
				if ( link ) {
					event.preventDefault();
					send( String( link.textContent || '' ).trim() );
				}
			} );
		}

		if ( reset ) {
			reset.addEventListener( 'click', function () {
				if ( busy ) {
					return;
				}
				history = [];
				log.textContent = '';
				if ( starters ) {
					starters.hidden = false;
				}
				reset.disabled = true;
				status.textContent = text( 'cleared' );
				say( '' );
				input.focus();
			} );
		}
		root.classList.add( 'pressrag-chat--ready' );
	}

	/** The floating launcher: focus the question on open, Escape closes and returns focus. */
	function setupLauncher( details ) {
		var summary = details.querySelector( 'summary' );
		details.addEventListener( 'toggle', function () {
			var input = details.querySelector( '.pressrag-chat__input' );
			if ( details.open && input ) {
				input.focus();
			}
		} );
		details.addEventListener( 'keydown', function ( event ) {
			if ( event.key === 'Escape' && details.open ) {
				details.open = false;
				if ( summary ) {
					summary.focus();
				}
			}
		} );
	}

	function init() {
		Array.prototype.forEach.call( document.querySelectorAll( '[data-pressrag-chat]' ), setup );
		Array.prototype.forEach.call( document.querySelectorAll( '[data-pressrag-launcher]' ), setupLauncher );
	}

	if ( document.readyState === 'loading' ) {
		document.addEventListener( 'DOMContentLoaded', init );
	} else {
		init();
	}

	// Exposed for tests only; carries no state a page could misuse.
	window.pressragChatInternals = {
		createSseParser: createSseParser,
		safeHttpUrl: safeHttpUrl,
		numberSources: numberSources,
	};
}() );
