// Bytes transferred and load time of a console page in headless Chromium:
// a first load (empty cache) and a repeat navigation (same browser).
//
// Usage: node bench/page-weight.mjs <base-url> [path ...]
// Prints one line per page: first-load and repeat bytes on the wire (as
// Chromium counts them: headers + encoded bodies), the wasm's share, and
// the time until the `load` event. Needs a running console; the path must
// be reachable without signing in (/login) unless the server is in demo
// mode with a session cookie given in PW_COOKIE (name=value).
import { chromium } from '@playwright/test';

const [base, ...paths] = process.argv.slice(2);
if (!base) {
  console.error('usage: node bench/page-weight.mjs <base-url> [path ...]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
});

async function measure(page, cdp, url) {
  const sizes = new Map();
  let total = 0;
  let wasm = 0;
  const onResponse = (e) => sizes.set(e.requestId, e.response.url);
  const onFinished = (e) => {
    total += e.encodedDataLength;
    if ((sizes.get(e.requestId) || '').endsWith('.wasm')) wasm += e.encodedDataLength;
  };
  cdp.on('Network.responseReceived', onResponse);
  cdp.on('Network.loadingFinished', onFinished);
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  const ms = Date.now() - t0;
  await page.waitForLoadState('networkidle');
  cdp.off('Network.responseReceived', onResponse);
  cdp.off('Network.loadingFinished', onFinished);
  return { total, wasm, ms };
}

for (const path of paths.length ? paths : ['/login']) {
  const context = await browser.newContext();
  if (process.env.PW_COOKIE) {
    const [name, value] = process.env.PW_COOKIE.split('=');
    await context.addCookies([{ name, value, url: base }]);
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const first = await measure(page, cdp, base + path);
  const repeat = await measure(page, cdp, base + path);
  const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
  console.log(
    `${path}: first load ${kb(first.total)} (wasm ${kb(first.wasm)}) in ${first.ms} ms; ` +
      `repeat ${kb(repeat.total)} (wasm ${kb(repeat.wasm)}) in ${repeat.ms} ms`,
  );
  await context.close();
}
await browser.close();
