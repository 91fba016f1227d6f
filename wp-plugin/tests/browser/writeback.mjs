// The write-back in a real headless Chromium, as an editor uses it.
//
// Usage: node --experimental-websocket writeback.mjs CONFIG_JSON
// CONFIG: {mode: "panel" | "draft", loginUrl, user, password, timeoutMs,
//          panel: {editUrl}                          — read the block editor's PressRAG panel,
//                                                      then press "Regenerate"
//          draft: {pageUrl, topic, outline, words}}   — request a draft, wait for its link
// Prints one JSON object with what the page showed.
import { VIEWPORTS, run, sleep } from './cdp.mjs';

const config = JSON.parse(process.argv[2]);

async function logIn(page) {
  await page.goto(config.loginUrl, "!!document.querySelector('#user_login')");
  await page.evaluate(`(() => {
    document.querySelector('#user_login').value = ${JSON.stringify(config.user)};
    document.querySelector('#user_pass').value = ${JSON.stringify(config.password)};
    return true;
  })()`);
  const loaded = new Promise((resolve) => page.loadWaiters.push(resolve));
  await page.evaluate("document.querySelector('#loginform').submit(), true");
  await loaded;
}

async function panel(page) {
  await page.goto(config.panel.editUrl, "!!(window.wp && wp.data && wp.data.select('core/editor') && wp.data.select('core/editor').getCurrentPostId())");
  // The document sidebar, with the PressRAG panel opened (closed panels render nothing).
  await page.evaluate(`(() => {
    const edit = wp.data.select('core/edit-post');
    if (edit.isFeatureActive('welcomeGuide')) wp.data.dispatch('core/edit-post').toggleFeature('welcomeGuide');
    if (!edit.isEditorSidebarOpened()) wp.data.dispatch('core/edit-post').openGeneralSidebar('edit-post/document');
    return true;
  })()`);
  await page.waitFor("[...document.querySelectorAll('.components-panel__body-toggle')].some((b) => b.textContent.includes('PressRAG summary'))", 'the PressRAG panel');
  await page.evaluate(`(() => {
    const toggle = [...document.querySelectorAll('.components-panel__body-toggle')].find((b) => b.textContent.includes('PressRAG summary'));
    if (toggle.getAttribute('aria-expanded') !== 'true') toggle.click();
    return true;
  })()`);
  await page.waitFor("!!document.querySelector('.pressrag-summary-text, .pressrag-summary-none')", 'the summary in the panel', config.timeoutMs);
  const shown = await page.evaluate(`({
    summary: document.querySelector('.pressrag-summary-text')?.textContent ?? null,
    meta: [...document.querySelectorAll('.pressrag-summary-meta')].map((n) => n.textContent),
  })`);
  await page.evaluate("[...document.querySelectorAll('.pressrag-summary button')].find((b) => b.textContent === 'Regenerate').click(), true");
  await page.waitFor("!!document.querySelector('.pressrag-summary-requested')", 'the regenerate request', config.timeoutMs);
  return { ...shown, requested: await page.evaluate("document.querySelector('.pressrag-summary-requested').textContent") };
}

async function draft(page) {
  const { pageUrl, topic, outline, words } = config.draft;
  await page.goto(pageUrl, "!!document.querySelector('#pressrag-draft-form') && !!(window.wp && wp.apiFetch)");
  await page.evaluate(`(() => {
    const form = document.querySelector('#pressrag-draft-form');
    form.elements.topic.value = ${JSON.stringify(topic)};
    form.elements.outline.value = ${JSON.stringify(outline)};
    form.elements.words.value = ${JSON.stringify(String(words))};
    document.querySelector('#pressrag-draft-submit').click();
    return true;
  })()`);
  const first = "document.querySelector('#pressrag-draft-list tbody tr')";
  await page.waitFor(`!!${first} && ${first}.textContent.includes(${JSON.stringify(topic)})`, 'the request in the list');
  const requested = await page.evaluate(`${first}.dataset.request`);
  const progress = new Set();
  const deadline = Date.now() + config.timeoutMs;
  while (Date.now() < deadline) {
    const row = await page.evaluate(`(() => {
      const row = document.querySelector('#pressrag-draft-list tr[data-request=${JSON.stringify(requested)}]');
      return row && { status: row.dataset.status, text: row.cells[2].textContent, href: row.querySelector('a')?.href ?? null };
    })()`);
    if (row) {
      progress.add(row.status);
      if (row.href || row.status === 'failed') {
        return { requestId: requested, statuses: [...progress], ...row };
      }
    }
    await sleep(500);
  }
  throw new Error('no draft link within ' + config.timeoutMs + ' ms; statuses seen: ' + [...progress]);
}

await run(async (page) => {
  await page.start(VIEWPORTS.desktop);
  await logIn(page);
  return config.mode === 'panel' ? panel(page) : draft(page);
});
