// Bytes transferred and time to interactive of console pages in headless
// Chromium: a first load (empty cache) and a repeat navigation (same
// browser, cache warm).
//
// Usage: node bench/page-weight.mjs <base-url> [path ...]
//   env: PW_EMAIL, PW_PASSWORD  sign in through /login first (a throwaway
//        context), then measure each path in a fresh context holding only
//        that session's cookie, so the first load starts from an empty cache.
//        Without them the paths must be reachable signed out (/login).
//        ROUNDS (1): measurements per path; each line is one round.
//        CHROMIUM_PATH: the browser (default /usr/bin/chromium).
// Prints one line per path and round: first-load and repeat bytes on the
// wire (as Chromium counts them: headers + encoded bodies), the wasm's share,
// how many static assets (/pkg/) the repeat navigation fetched again, and the
// time until the page is interactive (hydrated: `body[data-hydrated]`).
import { chromium } from '@playwright/test';

const [base, ...paths] = process.argv.slice(2);
if (!base) {
  console.error('usage: node bench/page-weight.mjs <base-url> [path ...]');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS || 1);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
});

let cookies = [];
if (process.env.PW_EMAIL) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.waitForSelector('body[data-hydrated]');
  await page.getByLabel('Email', { exact: true }).fill(process.env.PW_EMAIL);
  const password = page.getByLabel('Password', { exact: true });
  if (!(await password.isVisible())) {
    await page.getByRole('button', { name: 'Continue' }).click();
  }
  await password.fill(process.env.PW_PASSWORD || '');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  cookies = await context.cookies();
  await context.close();
}

async function measure(page, cdp, url) {
  const urls = new Map();
  let total = 0;
  let wasm = 0;
  let assets = 0;
  const onResponse = (e) => urls.set(e.requestId, e.response.url);
  const onFinished = (e) => {
    const u = urls.get(e.requestId) || '';
    total += e.encodedDataLength;
    if (u.endsWith('.wasm')) wasm += e.encodedDataLength;
    // Served from Chromium's cache, a request has no loadingFinished with
    // bytes from the network; count the asset requests that reached it.
    if (u.includes('/pkg/') && e.encodedDataLength > 0) assets += 1;
  };
  cdp.on('Network.responseReceived', onResponse);
  cdp.on('Network.loadingFinished', onFinished);
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForSelector('body[data-hydrated]', { timeout: 60_000 });
  const ms = Date.now() - t0;
  await page.waitForLoadState('networkidle');
  cdp.off('Network.responseReceived', onResponse);
  cdp.off('Network.loadingFinished', onFinished);
  return { total, wasm, assets, ms };
}

const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
for (const path of paths.length ? paths : ['/login']) {
  for (let r = 0; r < rounds; r++) {
    const context = await browser.newContext();
    if (cookies.length) await context.addCookies(cookies);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const first = await measure(page, cdp, base + path);
    // A repeat navigation: the same page loaded again in the same browser.
    const repeat = await measure(page, cdp, base + path);
    console.log(
      `${path}: first load ${kb(first.total)} (wasm ${kb(first.wasm)}), interactive in ${first.ms} ms; ` +
        `repeat ${kb(repeat.total)} (wasm ${kb(repeat.wasm)}, ${repeat.assets} static assets fetched again), interactive in ${repeat.ms} ms`,
    );
    await context.close();
  }
}
await browser.close();
