// Behaviour of assets/chat.js in Node's test runner (node --test), no dependencies.
//
// The script runs unmodified in a vm context with a minimal DOM that has no HTML parser: any
// server text that reached markup would show up as a missing text node or a stray element.
// fetch is replaced by a scripted backend returning real WHATWG Response/ReadableStream
// objects (Node 20 built-ins), so the SSE parsing sees genuine byte streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const SCRIPT = readFileSync(fileURLToPath(new URL('../../assets/chat.js', import.meta.url)), 'utf8');
const TOKEN_URL = 'https://site.example/wp-json/pressrag/v1/token';
const BACKEND = 'https://backend.example';

class Node_ {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.attributes = {};
    this.listeners = {};
    this.className = '';
    this.ownText = '';
    this.value = '';
    this.disabled = false;
    this.classList = { add: (name) => { this.className += ' ' + name; } };
  }
  get textContent() {
    return this.children.length ? this.children.map((c) => c.textContent).join('') : this.ownText;
  }
  set textContent(value) {
    this.children = [];
    this.ownText = String(value);
  }
  appendChild(child) { this.children.push(child); return child; }
  replaceChild(next, old) { this.children[this.children.indexOf(old)] = next; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  addEventListener(type, fn) { this.listeners[type] = fn; }
  focus() {}
}

function* walk(node) {
  yield node;
  for (const child of node.children || []) {
    yield* walk(child);
  }
}

function sse(events) {
  return events.map(([name, data]) => `event: ${name}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`).join('');
}

/** A Response whose body arrives in the given byte-split pieces; never ends if `hang`. */
function streamResponse(text, { pieces = 7, hang = false, signal } = {}) {
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream({
    start(controller) {
      signal?.addEventListener('abort', () => controller.error(new DOMException('Aborted', 'AbortError')));
      const size = Math.max(1, Math.ceil(bytes.length / pieces));
      for (let i = 0; i < bytes.length; i += size) {
        controller.enqueue(bytes.slice(i, i + size)); // splits UTF-8 sequences and SSE lines
      }
      if (!hang) {
        controller.close();
      }
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

function json(status, value) {
  return new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });
}

function tokenBody(n, expiresIn = 300) {
  return { token: `tok-${n}`, expires_in: expiresIn, site: 'demo', backend: BACKEND + '/' };
}

/** Load chat.js into a fresh context with one chat box; `backend(url, init, calls)` answers fetches. */
function load(backend, { timeoutMs = 2000 } = {}) {
  const root = new Node_('section');
  root.setAttribute('data-k', '4');
  const parts = {
    form: new Node_('form'), input: new Node_('input'), button: new Node_('button'),
    log: new Node_('div'), status: new Node_('p'),
  };
  const selectors = {
    '.pressrag-chat__form': parts.form, '.pressrag-chat__input': parts.input,
    '.pressrag-chat__send': parts.button, '.pressrag-chat__log': parts.log,
    '.pressrag-chat__status': parts.status,
  };
  root.querySelector = (selector) => selectors[selector] || null;
  const calls = [];
  const context = {
    pressragChatConfig: {
      tokenUrl: TOKEN_URL, backend: BACKEND, site: 'demo', k: 6, timeoutMs,
      i18n: {
        you: 'You', assistant: 'Answer', thinking: 'Thinking', sources: 'Sources', empty: 'EMPTY',
        network: 'NETWORK', rateLimited: 'RATE_LIMITED', unauthorized: 'UNAUTHORIZED',
        timeout: 'TIMEOUT', notFound: 'NOT_FOUND', generic: 'GENERIC', notReady: 'NOT_READY',
      },
    },
    document: {
      readyState: 'complete',
      querySelectorAll: () => [root],
      createElement: (tag) => new Node_(tag),
      createTextNode: (text) => ({ nodeType: 3, textContent: String(text) }),
    },
    location: { href: 'https://site.example/page/' },
    fetch: async (url, init = {}) => {
      calls.push({ url, init });
      return backend(url, init, calls);
    },
    URL, AbortController, TextDecoder, DOMException, Array, JSON, Number, String, Math, Date, Promise,
    setTimeout, clearTimeout,
  };
  context.window = context;
  vm.createContext(context);
  vm.runInContext(SCRIPT, context);
  return { ...parts, calls, context };
}

async function ask(chat, question) {
  chat.input.value = question;
  chat.form.listeners.submit({ preventDefault() {} });
  const deadline = Date.now() + 5000;
  while (chat.button.disabled || chat.log.getAttribute('aria-busy') === 'true') {
    if (Date.now() > deadline) {
      throw new Error('the chat never finished');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return chat.log.children[chat.log.children.length - 1];
}

const HOSTILE = 'Use <img src=x onerror=alert(1)> carefully [1]. Café ☕ [2]';

test('streams an answer as text and links only http(s) citations', async () => {
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(1));
    return streamResponse(
      ': comment line\n\n' + sse([
        ['delta', { text: HOSTILE.slice(0, 20) }],
        ['delta', { text: HOSTILE.slice(20) }],
        ['citations', { citations: [
          { n: 1, title: 'Guide <b>bold</b>', url: 'https://site.example/guide/', heading: 'Intro' },
          { n: 2, title: 'Script', url: 'javascript:alert(1)' },
          { n: 3, title: 'Data', url: 'data:text/html,<script>alert(1)</script>' },
        ] }],
        ['done', { mode: 'extractive', timings: {} }],
      ]),
      { signal: init.signal },
    );
  });
  const answer = await ask(chat, '  What is it?  ');

  const [, askCall] = chat.calls;
  assert.equal(askCall.url, BACKEND + '/v1/ask');
  assert.equal(askCall.init.method, 'POST');
  assert.equal(askCall.init.headers.Accept, 'text/event-stream');
  assert.equal(askCall.init.headers.Authorization, 'Bearer tok-1');
  assert.deepEqual(JSON.parse(askCall.init.body), { site: 'demo', question: 'What is it?', k: 4 });

  const elements = [...walk(answer)].filter((n) => n.tagName);
  assert.ok(!elements.some((n) => n.tagName === 'IMG' || n.tagName === 'SCRIPT' || n.tagName === 'B'));
  assert.ok(answer.textContent.includes(HOSTILE), 'answer text is shown verbatim, [n] markers included');
  const links = elements.filter((n) => n.tagName === 'A');
  assert.equal(links.length, 1);
  assert.equal(links[0].href, 'https://site.example/guide/');
  assert.equal(links[0].textContent, 'Guide <b>bold</b>');
  assert.ok(answer.textContent.includes('[2] Script'));
  assert.ok(answer.textContent.includes('[3] Data'));
  assert.equal(chat.input.value, '');
  // The user's own question is shown as text too.
  assert.equal(chat.log.children[0].textContent, 'YouWhat is it?');
});

test('reuses a token until it expires, then fetches a new one', async () => {
  let tokens = 0;
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(++tokens, tokens === 1 ? 300 : 1));
    return streamResponse(sse([['delta', { text: 'ok' }], ['done', { mode: 'extractive' }]]), { signal: init.signal });
  });
  await ask(chat, 'one');
  await ask(chat, 'two');
  assert.equal(tokens, 1, 'a valid token is reused');
  // Force expiry: a token that lives 1 s is already inside the 30 s safety margin.
  const short = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(++tokens, 1));
    return streamResponse(sse([['delta', { text: 'ok' }]]), { signal: init.signal });
  });
  const before = tokens;
  await ask(short, 'three');
  await ask(short, 'four');
  assert.equal(tokens - before, 2);
});

test('a 401 from the backend fetches a fresh token and retries once', async () => {
  let tokens = 0;
  let asks = 0;
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(++tokens));
    asks += 1;
    if (asks === 1) return json(401, { error: 'invalid_token', message: 'expired' });
    return streamResponse(sse([['delta', { text: 'fresh' }]]), { signal: init.signal });
  });
  const answer = await ask(chat, 'q');
  assert.equal(tokens, 2);
  assert.equal(chat.calls[3].init.headers.Authorization, 'Bearer tok-2');
  assert.ok(answer.textContent.includes('fresh'));
});

test('a persistent 401 shows the authorisation message', async () => {
  const chat = load((url) => (url === TOKEN_URL ? json(200, tokenBody(1)) : json(401, { error: 'invalid_token' })));
  assert.ok((await ask(chat, 'q')).textContent.includes('UNAUTHORIZED'));
});

test('429 from the backend or the token route shows the rate-limit message', async () => {
  const busyBackend = load((url) => (url === TOKEN_URL ? json(200, tokenBody(1)) : json(429, { error: 'rate_limited' })));
  assert.ok((await ask(busyBackend, 'q')).textContent.includes('RATE_LIMITED'));
  const busyToken = load(() => json(429, { code: 'pressrag_rate_limited' }));
  assert.ok((await ask(busyToken, 'q')).textContent.includes('RATE_LIMITED'));
});

test('a network failure shows the network message', async () => {
  const chat = load((url) => {
    if (url === TOKEN_URL) return json(200, tokenBody(1));
    throw new TypeError('Failed to fetch');
  });
  assert.ok((await ask(chat, 'q')).textContent.includes('NETWORK'));
});

test('a stalled stream times out with a clear message', async () => {
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(1));
    return streamResponse(sse([['delta', { text: 'partial' }]]), { hang: true, signal: init.signal });
  }, { timeoutMs: 150 });
  const answer = await ask(chat, 'q');
  assert.ok(answer.textContent.includes('partial'));
  assert.ok(answer.textContent.includes('TIMEOUT'));
});

test('an error event shows the generic message, not server text', async () => {
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(1));
    return streamResponse(sse([['error', { error: 'internal', message: '<script>x</script>' }]]), { signal: init.signal });
  });
  const answer = await ask(chat, 'q');
  assert.ok(answer.textContent.includes('GENERIC'));
  assert.ok(!answer.textContent.includes('<script>'));
});

test('a plain JSON answer and an empty not_found answer are handled', async () => {
  const chat = load((url) => (url === TOKEN_URL
    ? json(200, tokenBody(1))
    : json(200, { answer: 'From JSON [1]', citations: [{ n: 1, title: 'T', url: 'http://a.example/' }], mode: 'extractive' })));
  const answer = await ask(chat, 'q');
  assert.ok(answer.textContent.includes('From JSON [1]'));
  assert.equal([...walk(answer)].filter((n) => n.tagName === 'A')[0].href, 'http://a.example/');

  const empty = load((url, init) => (url === TOKEN_URL
    ? json(200, tokenBody(1))
    : streamResponse(sse([['done', { mode: 'not_found' }]]), { signal: init.signal })));
  assert.ok((await ask(empty, 'q')).textContent.includes('NOT_FOUND'));
});

test('an empty question is not sent', async () => {
  const chat = load(() => json(200, tokenBody(1)));
  chat.input.value = '   ';
  chat.form.listeners.submit({ preventDefault() {} });
  assert.equal(chat.calls.length, 0);
  assert.equal(chat.status.textContent, 'EMPTY');
});
