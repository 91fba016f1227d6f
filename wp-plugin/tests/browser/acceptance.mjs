// The chat block's acceptance run in a real headless Chromium, keyboard only where a visitor
// would use the keyboard: load (layout shift measured), ask, ask a follow-up, reach a [n]
// link, screenshots at desktop width and at 390 px, "New conversation", a starter question
// whose [1] link is followed, the page without JavaScript, the floating launcher, and
// "Test connection" on the settings screen.
//
// Usage: node --experimental-websocket acceptance.mjs CONFIG_JSON
// CONFIG: {chatUrl, homeUrl, question, followUp, answerTimeoutMs, screenshots: {desktop, phone},
//          admin: {loginUrl, settingsUrl, user, password}}
// Prints one JSON object with what each step saw.
import { VIEWPORTS, run, sleep } from './cdp.mjs';
import { ANSWER_FACTS, PAGE_FACTS, askFocused } from './drive_chat.mjs';

const config = JSON.parse(process.argv[2]);
const READY = "document.readyState === 'complete' && !!document.querySelector('.pressrag-chat--ready')";
const FOCUSED = `(() => {
  const el = document.activeElement;
  const style = el ? getComputedStyle(el) : null;
  return el ? {
    tag: el.tagName, className: el.className, href: el.getAttribute('href'), text: el.textContent,
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
  } : null;
})()`;
// Layout shifts not caused by input, summed from the first paint (CLS as browsers count it).
const MEASURE_SHIFTS = `window.__shift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shift += entry.value;
}).observe({ type: 'layout-shift', buffered: true });`;

async function conversation(page) {
  await page.call('Page.addScriptToEvaluateOnNewDocument', { source: MEASURE_SHIFTS });
  await page.goto(config.chatUrl, READY);
  await sleep(800);
  const loadShift = await page.evaluate('window.__shift');

  const tabsToInput = await page.tabUntil("el && el.classList.contains('pressrag-chat__input')", 'the question input');
  const first = await askFocused(page, config.question, config.answerTimeoutMs);
  const followUp = await askFocused(page, config.followUp, config.answerTimeoutMs);
  await page.tabUntil("el && el.classList.contains('pressrag-chat__cite')", 'a [n] link', { shift: true });
  const citeFocus = await page.evaluate(FOCUSED);

  const toLatest = "(() => { const log = document.querySelector('.pressrag-chat__log'); log.scrollTo({ top: log.scrollHeight, behavior: 'instant' }); return true; })()";
  await page.evaluate(toLatest);
  await page.screenshot('.pressrag-chat', config.screenshots.desktop);
  await page.viewport(VIEWPORTS.phone);
  await sleep(300);
  await page.evaluate(toLatest);
  const phone = await page.evaluate(PAGE_FACTS);
  await page.screenshot('.pressrag-chat', config.screenshots.phone);
  await page.viewport(VIEWPORTS.desktop);

  await page.tabUntil("el && el.classList.contains('pressrag-chat__reset')", 'New conversation', { shift: true });
  await page.press('Enter');
  const afterReset = await page.evaluate(`({
    answers: document.querySelectorAll('.pressrag-chat__msg').length,
    startersShown: !document.querySelector('.pressrag-chat__starters').hidden,
    focusOnInput: document.activeElement === document.querySelector('.pressrag-chat__input'),
  })`);
  return { loadShift, tabsToInput, first, followUp, citeFocus, phone, afterReset };
}

async function starterThenFollowLink(page) {
  await page.tabUntil("el && el.classList.contains('pressrag-chat__starter')", 'a starter question', { shift: true });
  const starter = (await page.evaluate(FOCUSED)).text;
  await page.press('Enter');
  await page.waitFor(
    "document.querySelectorAll('.pressrag-chat__msg--answer').length === 1 && document.querySelector('.pressrag-chat__log').getAttribute('aria-busy') === 'false'",
    'the starter answer',
    config.answerTimeoutMs,
  );
  const answer = await page.evaluate(ANSWER_FACTS);
  await page.tabUntil("el && el.classList.contains('pressrag-chat__cite')", 'the starter answer [1] link', { shift: true });
  const href = (await page.evaluate(FOCUSED)).href;
  const loaded = new Promise((resolve) => page.loadWaiters.push(resolve));
  await page.press('Enter');
  await loaded;
  return { starter, answer, focusedHref: href, landedOn: await page.evaluate('location.href') };
}

async function withoutJavaScript(page) {
  await page.call('Emulation.setScriptExecutionDisabled', { value: true });
  try {
    await page.goto(config.chatUrl);
    await page.tabUntil("el && el.classList.contains('pressrag-chat__input')", 'the search input');
    await page.type(config.question);
    const loaded = new Promise((resolve) => page.loadWaiters.push(resolve));
    await page.press('Enter');
    await loaded;
    return page.evaluate("({ url: location.href, text: document.body.innerText.slice(0, 5000) })");
  } finally {
    await page.call('Emulation.setScriptExecutionDisabled', { value: false });
  }
}

async function launcher(page) {
  await page.goto(config.homeUrl, "document.readyState === 'complete' && !!document.querySelector('[data-pressrag-launcher] .pressrag-chat--ready')");
  await page.tabUntil("el && el.classList.contains('pressrag-launcher__button')", 'the launcher', { shift: true });
  await page.press('Enter');
  await sleep(200);
  const opened = await page.evaluate(`({
    open: document.querySelector('[data-pressrag-launcher]').open,
    focusOnInput: document.activeElement === document.querySelector('[data-pressrag-launcher] .pressrag-chat__input'),
    fixed: getComputedStyle(document.querySelector('[data-pressrag-launcher]')).position,
  })`);
  await page.press('Escape');
  const closed = await page.evaluate(`({
    open: document.querySelector('[data-pressrag-launcher]').open,
    focusOnButton: document.activeElement === document.querySelector('.pressrag-launcher__button'),
  })`);
  return { opened, closed };
}

async function testConnection(page) {
  const admin = config.admin;
  await page.goto(admin.loginUrl, "!!document.querySelector('#user_login')");
  await page.evaluate(`(() => {
    document.querySelector('#user_login').value = ${JSON.stringify(admin.user)};
    document.querySelector('#user_pass').value = ${JSON.stringify(admin.password)};
    return true;
  })()`);
  let loaded = new Promise((resolve) => page.loadWaiters.push(resolve));
  await page.evaluate("document.querySelector('#loginform').submit(), true");
  await loaded;
  await page.goto(admin.settingsUrl, "!!document.querySelector('input[value=\"pressrag_test_connection\"]')");
  loaded = new Promise((resolve) => page.loadWaiters.push(resolve));
  await page.evaluate("document.querySelector('input[value=\"pressrag_test_connection\"]').form.querySelector('[type=submit]').click(), true");
  await loaded;
  await page.waitFor("document.querySelectorAll('.pressrag-result').length > 0", 'the connection test result');
  return page.evaluate(`[...document.querySelectorAll('.pressrag-result')].map((n) => ({
    level: [...n.classList].find((c) => c.startsWith('notice-') && c !== 'notice-dismiss'),
    text: n.textContent.trim(),
  }))`);
}

await run(async (page) => {
  await page.start(VIEWPORTS.desktop);
  const chat = await conversation(page);
  const starter = await starterThenFollowLink(page);
  const noScript = await withoutJavaScript(page);
  const floating = await launcher(page);
  const connection = await testConnection(page);
  return { chat, starter, noScript, floating, connection };
});
