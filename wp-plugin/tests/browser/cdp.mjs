// A headless Debian Chromium driven over the DevTools protocol with Node 20's built-in
// WebSocket (run node with --experimental-websocket): no npm packages, no downloaded browser.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const VIEWPORTS = {
  phone: { width: 390, height: 844, deviceScaleFactor: 2, mobile: true },
  desktop: { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false },
};

const KEYS = {
  Enter: { code: 'Enter', windowsVirtualKeyCode: 13, text: '\r' },
  Tab: { code: 'Tab', windowsVirtualKeyCode: 9 },
  Escape: { code: 'Escape', windowsVirtualKeyCode: 27 },
  ' ': { code: 'Space', windowsVirtualKeyCode: 32, text: ' ' },
};

function devtoolsPort(browser) {
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

/** Start Chromium and attach to its first page. `close()` ends the browser and its profile. */
export async function launch() {
  const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
  const profile = mkdtempSync(join(tmpdir(), 'pressrag-chromium-'));
  const browser = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`,
    '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const kill = () => {
    try { process.kill(-browser.pid, 'SIGKILL'); } catch { /* already gone */ }
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const port = await devtoolsPort(browser);
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const socket = new WebSocket(targets.find((t) => t.type === 'page').webSocketDebuggerUrl);
    await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
    return new Page(socket, kill);
  } catch (error) {
    kill();
    throw error;
  }
}

class Page {
  constructor(socket, kill) {
    this.socket = socket;
    this.kill = kill;
    this.id = 0;
    this.pending = new Map();
    this.consoleErrors = [];
    this.loadWaiters = [];
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.id && this.pending.has(data.id)) {
        this.pending.get(data.id)(data);
        this.pending.delete(data.id);
      } else if (data.method === 'Runtime.exceptionThrown') {
        this.consoleErrors.push(data.params.exceptionDetails.text);
      } else if (data.method === 'Runtime.consoleAPICalled' && data.params.type === 'error') {
        this.consoleErrors.push(data.params.args.map((a) => a.value).join(' '));
      } else if (data.method === 'Page.loadEventFired') {
        this.loadWaiters.splice(0).forEach((resolve) => resolve());
      }
    };
  }

  call(method, params = {}) {
    return new Promise((resolve, reject) => {
      this.id += 1;
      this.pending.set(this.id, (data) => (data.error ? reject(new Error(method + ': ' + data.error.message)) : resolve(data.result)));
      this.socket.send(JSON.stringify({ id: this.id, method, params }));
    });
  }

  async evaluate(expression) {
    const result = await this.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (result.exceptionDetails) throw new Error(result.exceptionDetails.text + ': ' + expression.slice(0, 200));
    return result.result.value;
  }

  async waitFor(expression, what, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.evaluate(expression)) return;
      await sleep(50);
    }
    throw new Error('timed out waiting for ' + what);
  }

  async start(viewport = VIEWPORTS.phone) {
    await this.call('Runtime.enable');
    await this.call('Page.enable');
    await this.viewport(viewport);
  }

  viewport(viewport) {
    return this.call('Emulation.setDeviceMetricsOverride', viewport);
  }

  /** Navigate and wait for the load event (and a `ready` condition, if given). */
  async goto(url, ready = "document.readyState === 'complete'") {
    const loaded = new Promise((resolve) => this.loadWaiters.push(resolve));
    await this.call('Page.navigate', { url });
    await loaded;
    await this.waitFor(ready, 'the page at ' + url);
  }

  /** A real key press, as a keyboard user sends it. */
  async press(key, { shift = false } = {}) {
    const spec = KEYS[key];
    const modifiers = shift ? 8 : 0;
    await this.call('Input.dispatchKeyEvent', { type: 'rawKeyDown', key, modifiers, code: spec.code, windowsVirtualKeyCode: spec.windowsVirtualKeyCode });
    if (spec.text) {
      await this.call('Input.dispatchKeyEvent', { type: 'char', key, modifiers, text: spec.text });
    }
    await this.call('Input.dispatchKeyEvent', { type: 'keyUp', key, modifiers, code: spec.code, windowsVirtualKeyCode: spec.windowsVirtualKeyCode });
  }

  async type(text) {
    await this.call('Input.insertText', { text });
  }

  /** Press Tab until `predicate` (an expression over `document.activeElement`) holds. */
  async tabUntil(predicate, what, { limit = 60, shift = false } = {}) {
    for (let i = 0; i < limit; i += 1) {
      await this.press('Tab', { shift });
      if (await this.evaluate(`(() => { const el = document.activeElement; return !!(${predicate}); })()`)) {
        return i + 1;
      }
    }
    throw new Error(`${what} was not reached with ${limit} Tab presses`);
  }

  /** PNG of an element (with some margin) into `path`. */
  async screenshot(selector, path, pad = 16) {
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).scrollIntoView({block: 'start'}), true`);
    await sleep(200);
    const rect = await this.evaluate(`(() => {
      const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
      return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
    })()`);
    const shot = await this.call('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: Math.max(0, rect.x - pad), y: Math.max(0, rect.y - pad), width: rect.width + 2 * pad, height: rect.height + 2 * pad, scale: 1 },
    });
    writeFileSync(path, Buffer.from(shot.data, 'base64'));
  }

  close() {
    this.socket.close();
    this.kill();
  }
}

/** Run `main(page)` with a fresh browser, print its result as JSON, exit non-zero on failure. */
export async function run(main) {
  let page = null;
  try {
    page = await launch();
    const result = await main(page);
    process.stdout.write(JSON.stringify({ ...result, consoleErrors: page.consoleErrors }) + '\n');
  } catch (error) {
    process.stderr.write(String((error && error.stack) || error) + '\n');
    process.exitCode = 1;
  } finally {
    page?.close();
  }
}
