// Ask questions in the chat box of a page in a real headless Chromium, keyboard only.
//
// Usage: node --experimental-websocket drive_chat.mjs PAGE_URL QUESTION [QUESTION...]
// Prints one JSON object: per question the answer box's text, links (the [n] markers and the
// source list), images, plus page-level facts (XSS canary, horizontal overflow, console errors).
// Env: VIEWPORT=phone (default) or desktop; ANSWER_TIMEOUT_MS per answer (a real backend
// embeds the question first); SCREENSHOT=path writes a PNG of the chat box at the end.
import { VIEWPORTS, run } from './cdp.mjs';

export const ANSWER_FACTS = `(() => {
  const boxes = document.querySelectorAll('.pressrag-chat__msg--answer');
  const box = boxes[boxes.length - 1];
  const link = (a) => ({ href: a.getAttribute('href'), text: a.textContent });
  return {
    text: box.textContent,
    answer: (box.querySelector('.pressrag-chat__text') || box).textContent,
    error: box.classList.contains('pressrag-chat__msg--error'),
    links: [...box.querySelectorAll('a')].map(link),
    cites: [...box.querySelectorAll('.pressrag-chat__cite')].map(link),
    sources: [...box.querySelectorAll('.pressrag-chat__source a')].map(link),
    search: [...box.querySelectorAll('.pressrag-chat__search')].map(link),
    images: box.querySelectorAll('img').length,
    focusOnInput: document.activeElement === document.querySelector('.pressrag-chat__input'),
  };
})()`;

/** Type a question into the (focused) chat input, press Enter, wait for the answer. */
export async function askFocused(page, question, timeoutMs) {
  const before = await page.evaluate("document.querySelectorAll('.pressrag-chat__msg--answer').length");
  await page.type(question);
  await page.press('Enter');
  await page.waitFor(
    `document.querySelectorAll('.pressrag-chat__msg--answer').length > ${before} && document.querySelector('.pressrag-chat__log').getAttribute('aria-busy') === 'false'`,
    'the answer to ' + JSON.stringify(question),
    timeoutMs,
  );
  return page.evaluate(ANSWER_FACTS);
}

export const PAGE_FACTS = `({
  pwned: window.__pwned === true,
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  inputWidth: document.querySelector('.pressrag-chat__input').getBoundingClientRect().width,
  fontSize: parseFloat(getComputedStyle(document.querySelector('.pressrag-chat__input')).fontSize),
  images: document.querySelectorAll('.pressrag-chat img').length,
})`;

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const [pageUrl, ...questions] = process.argv.slice(2);
  const answerTimeout = process.env.ANSWER_TIMEOUT_MS ? Number(process.env.ANSWER_TIMEOUT_MS) : undefined;
  await run(async (page) => {
    await page.start(process.env.VIEWPORT === 'desktop' ? { ...VIEWPORTS.desktop, width: 1024 } : VIEWPORTS.phone);
    await page.goto(pageUrl, "document.readyState === 'complete' && !!document.querySelector('.pressrag-chat--ready')");
    const answers = [];
    for (const question of questions) {
      await page.evaluate("document.querySelector('.pressrag-chat__input').focus(), true");
      answers.push(await askFocused(page, question, answerTimeout));
    }
    const facts = await page.evaluate(PAGE_FACTS);
    if (process.env.SCREENSHOT) {
      await page.screenshot('.pressrag-chat', process.env.SCREENSHOT);
    }
    return { answers, page: facts };
  });
}
