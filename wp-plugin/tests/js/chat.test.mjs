// Behaviour of assets/chat.js in Node's test runner (node --test), no dependencies.
//
// The script runs unmodified in a vm context with a small DOM that has no HTML parser: any
// server text that reached markup would show up as a missing text node or a stray element.
// The chat's markup is built here as the PHP renders it. fetch is replaced by a scripted
// backend returning real WHATWG Response/ReadableStream objects (Node 20 built-ins), so the
// SSE parsing sees genuine byte streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const SCRIPT = readFileSync(fileURLToPath(new URL('../../assets/chat.js', import.meta.url)), 'utf8');
const TOKEN_URL = 'https://site.example/wp-json/pressrag/v1/token';
const BACKEND = 'https://backend.example';
const SEARCH_URL = 'https://site.example/';

class Text_ {
  constructor(text) {
    this.nodeType = 3;
    this.textContent = String(text);
    this.parentNode = null;
  }
}

class Element_ {
  constructor(tag, doc) {
    this.doc = doc;
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parentNode = null;
    this.attributes = {};
    this.listeners = {};
    this.className = '';
    this.ownText = '';
    this.textHistory = [];
    this.value = '';
    this.disabled = false;
    this.hidden = false;
    this.open = false;
    this.id = '';
    this.scrollTop = 0;
    this.scrollHeight = 0;
    const self = this;
    this.classList = {
      add: (name) => { if (!self.classList.contains(name)) self.className = (self.className + ' ' + name).trim(); },
      remove: (name) => { self.className = self.className.split(/\s+/).filter((c) => c !== name).join(' '); },
      contains: (name) => self.className.split(/\s+/).includes(name),
    };
  }
  get textContent() {
    return this.children.length ? this.children.map((c) => c.textContent).join('') : this.ownText;
  }
  set textContent(value) {
    for (const child of this.children) child.parentNode = null;
    this.children = [];
    this.ownText = String(value);
    this.textHistory.push(this.ownText);
  }
  appendChild(child) { child.parentNode = this; this.children.push(child); return child; }
  removeChild(child) { this.children = this.children.filter((c) => c !== child); child.parentNode = null; return child; }
  replaceChild(next, old) { this.children[this.children.indexOf(old)] = next; next.parentNode = this; old.parentNode = null; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  dispatch(type, event = {}) {
    const full = { target: this, defaultPrevented: false, preventDefault() { this.defaultPrevented = true; }, ...event };
    for (let node = full.target; node; node = node.parentNode) {
      for (const fn of node.listeners?.[type] || []) fn(full);
    }
    return full;
  }
  focus() { this.doc.activeElement = this; }
  matches(selector) {
    if (selector.startsWith('.')) return this.classList.contains(selector.slice(1));
    if (selector.startsWith('[')) return selector.slice(1, -1) in this.attributes;
    return this.tagName === selector.toUpperCase();
  }
  closest(selector) {
    for (let node = this; node && node.matches; node = node.parentNode) {
      if (node.matches(selector)) return node;
    }
    return null;
  }
  querySelectorAll(selector) {
    const found = [];
    for (const node of walk(this)) if (node !== this && node.matches && node.matches(selector)) found.push(node);
    return found;
  }
  querySelector(selector) { return this.querySelectorAll(selector)[0] || null; }
}

function* walk(node) {
  yield node;
  for (const child of node.children || []) yield* walk(child);
}

const elements = (root) => [...walk(root)].filter((n) => n.tagName);

/** The chat box as PHP renders it (class names are the contract between the two). */
function chatMarkup(doc, { starters = ['What is here?', 'How do I start?'] } = {}) {
  const make = (tag, cls, attrs = {}, kids = []) => {
    const node = new Element_(tag, doc);
    node.className = cls;
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    kids.forEach((kid) => node.appendChild(kid));
    return node;
  };
  const reset = make('button', 'pressrag-chat__reset');
  reset.disabled = true;
  const starterLinks = starters.map((q) => {
    const a = make('a', 'pressrag-chat__starter', { href: SEARCH_URL + '?s=' + encodeURIComponent(q) });
    a.textContent = q;
    return make('li', '', {}, [a]);
  });
  const root = make('section', 'pressrag-chat', { 'data-pressrag-chat': '', 'data-k': '4' }, [
    make('div', 'pressrag-chat__header', {}, [make('h2', 'pressrag-chat__title'), reset]),
    make('div', 'pressrag-chat__log', { role: 'region', tabindex: '0' }),
    ...(starters.length ? [make('div', 'pressrag-chat__starters', {}, [make('ul', 'pressrag-chat__starter-list', {}, starterLinks)])] : []),
    make('form', 'pressrag-chat__form', { action: SEARCH_URL, method: 'get' }, [
      make('div', 'pressrag-chat__row', {}, [make('input', 'pressrag-chat__input', { name: 's' }), make('button', 'pressrag-chat__send')]),
      make('p', 'pressrag-chat__status', { role: 'status' }),
    ]),
    make('div', 'pressrag-chat__announce', { 'aria-live': 'polite' }),
  ]);
  return root;
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

function answerStream(text, citations, mode = 'extractive') {
  return sse([['delta', { text }], ['citations', { citations }], ['done', { mode, timings: {} }]]);
}

/** Load chat.js into a fresh context with one chat box; `backend(url, init, calls)` answers fetches. */
function load(backend, { timeoutMs = 2000, starters, launcher = false } = {}) {
  const doc = { activeElement: null, readyState: 'complete' };
  const root = chatMarkup(doc, { starters });
  const parts = {
    root,
    form: root.querySelector('.pressrag-chat__form'),
    input: root.querySelector('.pressrag-chat__input'),
    button: root.querySelector('.pressrag-chat__send'),
    log: root.querySelector('.pressrag-chat__log'),
    status: root.querySelector('.pressrag-chat__status'),
    announce: root.querySelector('.pressrag-chat__announce'),
    reset: root.querySelector('.pressrag-chat__reset'),
    starters: root.querySelector('.pressrag-chat__starters'),
  };
  let details = null;
  if (launcher) {
    details = new Element_('details', doc);
    details.setAttribute('data-pressrag-launcher', '');
    details.appendChild(new Element_('summary', doc));
    details.appendChild(root);
  }
  const calls = [];
  Object.assign(doc, {
    querySelectorAll: (selector) => (selector === '[data-pressrag-chat]' ? [root] : details ? [details] : []),
    createElement: (tag) => new Element_(tag, doc),
    createTextNode: (text) => new Text_(text),
  });
  const context = {
    pressragChatConfig: {
      tokenUrl: TOKEN_URL, backend: BACKEND, site: 'demo', k: 6, timeoutMs, searchUrl: SEARCH_URL,
      historyTurns: 3, historyChars: 40,
      i18n: {
        you: 'You', assistant: 'Answer', thinking: 'Thinking', sources: 'Sources', empty: 'EMPTY',
        network: 'NETWORK', rateLimited: 'RATE_LIMITED', unauthorized: 'UNAUTHORIZED',
        timeout: 'TIMEOUT', notFound: 'NOT_FOUND', generic: 'GENERIC', notReady: 'NOT_READY',
        sourceCount: 'Sources: %d.', sourceLink: 'Source %d', searchSite: 'Search the site for “%s”',
        cleared: 'CLEARED',
      },
    },
    document: doc,
    location: { href: 'https://site.example/page/' },
    fetch: async (url, init = {}) => {
      calls.push({ url, init });
      return backend(url, init, calls);
    },
    URL, AbortController, TextDecoder, DOMException, Array, JSON, Number, String, Math, Date, Promise, Object,
    setTimeout, clearTimeout,
  };
  context.window = context;
  vm.createContext(context);
  vm.runInContext(SCRIPT, context);
  return { ...parts, details, doc, calls, context, asks: () => calls.filter((c) => c.url !== TOKEN_URL) };
}

async function settle(chat) {
  const deadline = Date.now() + 5000;
  while (chat.button.disabled || chat.log.getAttribute('aria-busy') === 'true') {
    if (Date.now() > deadline) {
      throw new Error('the chat never finished');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return chat.log.children[chat.log.children.length - 1];
}

async function ask(chat, question) {
  chat.input.value = question;
  chat.form.dispatch('submit');
  return settle(chat);
}

const HOSTILE = 'Use <img src=x onerror=alert(1)> carefully [1]. Café ☕ [2]';

test('streams an answer as text, [n] markers link to http(s) sources only', async () => {
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

  const [askCall] = chat.asks();
  assert.equal(askCall.url, BACKEND + '/v1/ask');
  assert.equal(askCall.init.method, 'POST');
  assert.equal(askCall.init.headers.Accept, 'text/event-stream');
  assert.equal(askCall.init.headers.Authorization, 'Bearer tok-1');
  assert.deepEqual(JSON.parse(askCall.init.body), { site: 'demo', question: 'What is it?', k: 4 }, 'no history on a first question');

  const nodes = elements(answer);
  assert.ok(!nodes.some((n) => ['IMG', 'SCRIPT', 'B'].includes(n.tagName)));
  assert.ok(answer.textContent.includes(HOSTILE), 'answer text is shown verbatim, [n] markers included');
  const links = nodes.filter((n) => n.tagName === 'A');
  assert.deepEqual(links.map((a) => [a.textContent, a.href]), [
    ['[1]', 'https://site.example/guide/'],
    ['Guide <b>bold</b>', 'https://site.example/guide/'],
  ]);
  assert.equal(links[0].getAttribute('aria-label'), 'Source 1: Guide <b>bold</b>');
  assert.ok(answer.textContent.includes('[2] Script'));
  assert.ok(answer.textContent.includes('[3] Data'));
  assert.equal(chat.input.value, '');
  assert.equal(chat.log.children[0].textContent, 'YouWhat is it?');
  assert.equal(chat.doc.activeElement, chat.input, 'focus returns to the question');
});

test('sources are numbered in order of first citation, one per document', async () => {
  const chat = load((url, init) => (url === TOKEN_URL ? json(200, tokenBody(1)) : streamResponse(
    answerStream('Ovens first [3]. Then shaping [1]. More ovens [2]. Shaping again [1].', [
      { n: 1, title: 'Shaping', url: 'https://site.example/shape/' },
      { n: 2, title: 'Oven (second passage)', url: 'https://site.example/oven/' },
      { n: 3, title: 'Oven', url: 'https://site.example/oven/', heading: 'Heat' },
    ]),
    { signal: init.signal },
  )));
  const answer = await ask(chat, 'q');
  const body = answer.querySelector('.pressrag-chat__text');
  assert.equal(body.textContent, 'Ovens first [1]. Then shaping [2]. More ovens [1]. Shaping again [2].');
  assert.deepEqual(body.querySelectorAll('a').map((a) => [a.textContent, a.href]), [
    ['[1]', 'https://site.example/oven/'],
    ['[2]', 'https://site.example/shape/'],
    ['[1]', 'https://site.example/oven/'],
    ['[2]', 'https://site.example/shape/'],
  ]);
  const sources = answer.querySelectorAll('.pressrag-chat__source').map((li) => li.textContent);
  assert.deepEqual(sources, ['[1] Oven — Heat', '[2] Shaping']);
});

test('a CRLF split across network chunks still ends its line', () => {
  const chat = load(() => json(200, tokenBody(1)));
  const events = [];
  const parser = chat.context.pressragChatInternals.createSseParser((name, data) => events.push([name, data]));
  const stream = 'event: delta\r\ndata: {"text":"a"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n';
  for (const piece of stream.split(/(?<=\r)/)) parser.push(piece); // every chunk ends with \r
  parser.flush();
  assert.deepEqual(events, [['delta', '{"text":"a"}'], ['done', '{}']]);
});

test('the live region announces once, when the answer is complete', async () => {
  const pieces = ['The ', 'answer ', 'grows ', 'word ', 'by ', 'word [1].'];
  const chat = load((url, init) => (url === TOKEN_URL ? json(200, tokenBody(1)) : streamResponse(
    sse([
      ...pieces.map((text) => ['delta', { text }]),
      ['citations', { citations: [{ n: 1, title: 'T', url: 'https://site.example/t/' }] }],
      ['done', { mode: 'extractive' }],
    ]),
    { signal: init.signal, pieces: 30 },
  )));
  const answer = await ask(chat, 'q');
  const body = answer.querySelector('.pressrag-chat__text');
  assert.ok(body.textHistory.length >= pieces.length, 'the visible answer is rendered as it streams: ' + JSON.stringify(body.textHistory));
  const spoken = chat.announce.textHistory.filter((t) => t !== '');
  assert.deepEqual(spoken, ['The answer grows word by word [1]. Sources: 1.']);
  assert.equal(chat.log.getAttribute('aria-live'), null, 'the streaming log is not itself live');
});

test('follow-ups carry the last turns, bounded; New conversation clears them', async () => {
  let n = 0;
  const chat = load((url, init) => {
    if (url === TOKEN_URL) return json(200, tokenBody(1));
    n += 1;
    if (n === 3) return json(429, { error: 'rate_limited' });
    if (n === 4) return streamResponse(sse([['delta', { text: 'I could not find this on the site.' }], ['done', { mode: 'not_found' }]]), { signal: init.signal });
    return streamResponse(answerStream(`Answer number ${n} is long enough to be cut somewhere here [1].`, [{ n: 1, title: 'T', url: 'https://site.example/t/' }]), { signal: init.signal });
  });
  assert.equal(chat.reset.disabled, true);
  for (const question of ['one', 'two', 'three (rate limited)', 'four (not found)', 'five', 'six', 'seven']) {
    await ask(chat, question);
  }
  const bodies = chat.asks().map((c) => JSON.parse(c.init.body));
  assert.equal(bodies[0].history, undefined);
  assert.deepEqual(bodies[1].history, [{ question: 'one', answer: 'Answer number 1 is long enough to be cut' }]);
  assert.deepEqual(bodies[2].history.map((t) => t.question), ['one', 'two']);
  assert.deepEqual(bodies[4].history.map((t) => t.question), ['one', 'two'], 'failed and not-found turns are left out');
  assert.deepEqual(bodies[6].history.map((t) => t.question), ['two', 'five', 'six'], 'at most three turns');
  assert.ok(bodies.every((b) => (b.history || []).every((t) => t.answer.length <= 40 && !/\[\d+\]/.test(t.answer))));

  assert.equal(chat.reset.disabled, false);
  chat.reset.dispatch('click');
  assert.equal(chat.log.children.length, 0);
  assert.equal(chat.status.textContent, 'CLEARED');
  assert.equal(chat.reset.disabled, true);
  assert.equal(chat.starters.hidden, false);
  assert.equal(chat.doc.activeElement, chat.input);
  await ask(chat, 'fresh start');
  assert.equal(JSON.parse(chat.asks().at(-1).init.body).history, undefined);
});

test('a starter question is asked when chosen, and the starters step aside', async () => {
  const chat = load((url, init) => (url === TOKEN_URL ? json(200, tokenBody(1)) : streamResponse(answerStream('Yes [1].', [{ n: 1, title: 'T', url: 'https://site.example/t/' }]), { signal: init.signal })));
  const starter = chat.root.querySelectorAll('.pressrag-chat__starter')[1];
  const click = starter.dispatch('click');
  assert.ok(click.defaultPrevented, 'the link to the site search is not followed');
  await settle(chat);
  assert.equal(JSON.parse(chat.asks()[0].init.body).question, 'How do I start?');
  assert.equal(chat.starters.hidden, true);
  assert.ok(chat.root.classList.contains('pressrag-chat--ready'));
});

test('not found offers the site search for the question', async () => {
  const chat = load((url, init) => (url === TOKEN_URL ? json(200, tokenBody(1)) : streamResponse(
    sse([['delta', { text: 'I could not find this on the site.' }], ['citations', { citations: [] }], ['done', { mode: 'not_found' }]]),
    { signal: init.signal },
  )));
  const answer = await ask(chat, 'sourdough & rye?');
  const search = answer.querySelector('.pressrag-chat__search');
  assert.equal(search.href, 'https://site.example/?s=sourdough+%26+rye%3F');
  assert.equal(search.textContent, 'Search the site for “sourdough & rye?”');

  const empty = load((url, init) => (url === TOKEN_URL ? json(200, tokenBody(1)) : streamResponse(sse([['done', { mode: 'not_found' }]]), { signal: init.signal })));
  const emptyAnswer = await ask(empty, 'q');
  assert.ok(emptyAnswer.textContent.includes('NOT_FOUND'));
  assert.ok(emptyAnswer.querySelector('.pressrag-chat__search'));
});

test('the launcher focuses the question when opened and closes on Escape', () => {
  const chat = load(() => json(200, tokenBody(1)), { launcher: true });
  const summary = chat.details.querySelector('summary');
  chat.details.open = true;
  chat.details.dispatch('toggle');
  assert.equal(chat.doc.activeElement, chat.input);
  chat.input.dispatch('keydown', { key: 'Escape' });
  assert.equal(chat.details.open, false);
  assert.equal(chat.doc.activeElement, summary);
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
  assert.deepEqual(chat.announce.textHistory.filter(Boolean), ['UNAUTHORIZED'], 'errors are announced once too');
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

test('a plain JSON answer is handled', async () => {
  const chat = load((url) => (url === TOKEN_URL
    ? json(200, tokenBody(1))
    : json(200, { answer: 'From JSON [1]', citations: [{ n: 1, title: 'T', url: 'http://a.example/' }], mode: 'extractive' })));
  const answer = await ask(chat, 'q');
  assert.ok(answer.textContent.includes('From JSON [1]'));
  assert.deepEqual(answer.querySelectorAll('a').map((a) => a.href), ['http://a.example/', 'http://a.example/']);
});

test('an empty question is not sent', () => {
  const chat = load(() => json(200, tokenBody(1)));
  chat.input.value = '   ';
  chat.form.dispatch('submit');
  assert.equal(chat.calls.length, 0);
  assert.equal(chat.status.textContent, 'EMPTY');
});

test('numberSources keeps citations the text never marks, after the marked ones', () => {
  const chat = load(() => json(200, tokenBody(1)));
  const { numberSources } = chat.context.pressragChatInternals;
  const result = numberSources('B [2].', [
    { n: 1, title: 'A', url: 'https://a/' },
    { n: 2, title: 'B', url: 'https://b/' },
    { n: 3, title: 'A again', url: 'https://a/' },
  ]);
  assert.deepEqual(JSON.parse(JSON.stringify(result.display)), { 1: 2, 2: 1, 3: 2 });
  assert.deepEqual(Array.from(result.sources, (s) => s.title), ['B', 'A']);
});
