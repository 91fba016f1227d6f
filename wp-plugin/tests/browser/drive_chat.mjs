// Drive the [ai_chat] box in a real headless Chromium over the DevTools protocol.
//
// Usage: node --experimental-websocket drive_chat.mjs PAGE_URL QUESTION [QUESTION...]
// Prints one JSON object: per question the answer box's text, links and images, plus
// page-level facts (XSS canary, horizontal overflow on a phone viewport, console errors).
// No npm packages: Node 20's experimental WebSocket talks to Chromium directly.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [pageUrl, ...questions] = process.argv.slice(2);
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'pressrag-chromium-'));
const browser = spawn(chromium, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`,
  '--remote-debugging-port=0', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });

function cleanup() {
  try { process.kill(-browser.pid, 'SIGKILL'); } catch { /* already gone */ }
  rmSync(profile, { recursive: true, force: true });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Env: VIEWPORT=phone (default) or desktop; ANSWER_TIMEOUT_MS per answer (a real backend
// embeds the question first); SCREENSHOT=path writes a PNG of the chat box at the end.
const desktop = process.env.VIEWPORT === 'desktop';
const answerTimeout = process.env.ANSWER_TIMEOUT_MS ? Number(process.env.ANSWER_TIMEOUT_MS) : undefined;

async function devtoolsPort() {
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Chromium did not start: ' + log)), 30000);
    browser.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
}

async function connect(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === 'page');
  const socket = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
  let id = 0;
  const pending = new Map();
  const consoleErrors = [];
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.id && pending.has(data.id)) {
      pending.get(data.id)(data);
      pending.delete(data.id);
    } else if (data.method === 'Runtime.exceptionThrown') {
      consoleErrors.push(data.params.exceptionDetails.text);
    } else if (data.method === 'Runtime.consoleAPICalled' && data.params.type === 'error') {
      consoleErrors.push(data.params.args.map((a) => a.value).join(' '));
    }
  };
  const call = (method, params = {}) => new Promise((resolve, reject) => {
    id += 1;
    pending.set(id, (data) => (data.error ? reject(new Error(method + ': ' + data.error.message)) : resolve(data.result)));
    socket.send(JSON.stringify({ id, method, params }));
  });
  const evaluate = async (expression) => {
    const result = await call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (result.exceptionDetails) throw new Error(result.exceptionDetails.text);
    return result.result.value;
  };
  return { call, evaluate, consoleErrors, close: () => socket.close() };
}

async function waitFor(evaluate, expression, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await evaluate(expression)) return;
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what);
}

async function main() {
  const cdp = await connect(await devtoolsPort());
  await cdp.call('Runtime.enable');
  // A phone-sized viewport by default: the chat must be readable without sideways scrolling.
  await cdp.call('Emulation.setDeviceMetricsOverride', desktop
    ? { width: 1024, height: 900, deviceScaleFactor: 1, mobile: false }
    : { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
  await cdp.call('Page.navigate', { url: pageUrl });
  await waitFor(cdp.evaluate, "document.readyState === 'complete' && !!document.querySelector('.pressrag-chat__input')", 'the chat box');
  const answers = [];
  for (const question of questions) {
    const before = await cdp.evaluate("document.querySelectorAll('.pressrag-chat__msg--answer').length");
    await cdp.evaluate("document.querySelector('.pressrag-chat__input').focus(), true");
    await cdp.call('Input.insertText', { text: question });
    // A real Enter key press, as a keyboard user would send it.
    for (const type of ['rawKeyDown', 'char', 'keyUp']) {
      await cdp.call('Input.dispatchKeyEvent', { type, key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, text: type === 'char' ? '\r' : undefined });
    }
    await waitFor(cdp.evaluate, `document.querySelectorAll('.pressrag-chat__msg--answer').length > ${before} && document.querySelector('.pressrag-chat__log').getAttribute('aria-busy') === 'false'`, 'the answer', answerTimeout);
    answers.push(await cdp.evaluate(`(() => {
      const boxes = document.querySelectorAll('.pressrag-chat__msg--answer');
      const box = boxes[boxes.length - 1];
      return {
        text: box.textContent,
        error: box.classList.contains('pressrag-chat__msg--error'),
        links: [...box.querySelectorAll('a')].map((a) => ({ href: a.getAttribute('href'), text: a.textContent })),
        images: box.querySelectorAll('img').length,
        focusOnInput: document.activeElement === document.querySelector('.pressrag-chat__input'),
      };
    })()`));
  }
  const page = await cdp.evaluate(`({
    pwned: window.__pwned === true,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    inputWidth: document.querySelector('.pressrag-chat__input').getBoundingClientRect().width,
    fontSize: parseFloat(getComputedStyle(document.querySelector('.pressrag-chat__input')).fontSize),
    images: document.querySelectorAll('.pressrag-chat img').length,
  })`);
  if (process.env.SCREENSHOT) {
    await cdp.evaluate("document.querySelector('.pressrag-chat').scrollIntoView({block: 'start'}), true");
    await sleep(200);
    const rect = await cdp.evaluate(`(() => {
      const r = document.querySelector('.pressrag-chat').getBoundingClientRect();
      return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
    })()`);
    const pad = 16;
    const shot = await cdp.call('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: Math.max(0, rect.x - pad), y: Math.max(0, rect.y - pad), width: rect.width + 2 * pad, height: rect.height + 2 * pad, scale: 1 },
    });
    writeFileSync(process.env.SCREENSHOT, Buffer.from(shot.data, 'base64'));
  }
  cdp.close();
  return { answers, page, consoleErrors: cdp.consoleErrors };
}

try {
  process.stdout.write(JSON.stringify(await main()) + '\n');
  cleanup();
} catch (error) {
  cleanup();
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
}
