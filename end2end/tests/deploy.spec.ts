// One file to deploy (#22 item 8): the server binary, copied alone into an
// empty folder and started with only DATABASE_URL (and a free port), serves
// the console from the site built into it: the set-up page loads its
// content-hashed, brotli-compressed wasm, JS and CSS and hydrates.
import { test, expect, startServer } from './fixtures';
import * as fs from 'node:fs';
import * as path from 'node:path';

test('the binary alone in an empty folder serves a console that hydrates', async ({ page }) => {
  const srv = await startServer(false, {}, { alone: true });
  try {
    const folder = path.dirname(srv.dbPath);
    // Nothing beside the binary but what it made itself (database, secret key).
    expect(fs.readdirSync(folder).filter((f) => !/^p\.db|^secret\.key/.test(f))).toEqual(['portcullis']);

    const assets = new Map<string, { status: number; encoding: string; cache: string }>();
    page.on('response', async (res) => {
      const url = new URL(res.url());
      if (!url.pathname.startsWith('/pkg/')) return;
      const h = await res.allHeaders();
      assets.set(url.pathname, {
        status: res.status(),
        encoding: h['content-encoding'] ?? '',
        cache: h['cache-control'] ?? '',
      });
    });

    await page.goto(srv.setupURL);
    await expect(page.locator('body[data-hydrated]')).toBeAttached({ timeout: 20_000 });
    await page.getByLabel('Your name').fill('Solo Owner');
    await page.getByLabel('Password', { exact: true }).fill('a very long deploy password');
    await page.getByRole('button', { name: 'Set password and continue' }).click();
    await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();

    const names = [...assets.keys()];
    for (const ext of ['wasm', 'js', 'css']) {
      const name = names.find((n) => new RegExp(`^/pkg/portcullis\\.[0-9a-f]{16}\\.${ext}$`).test(n));
      expect(name, `a content-hashed .${ext} was loaded (saw ${names.join(', ')})`).toBeTruthy();
      const got = assets.get(name!)!;
      expect(got.status).toBe(200);
      expect(got.encoding).toBe('br');
      expect(got.cache).toBe('public, max-age=31536000, immutable');
    }
  } finally {
    await srv.stop();
  }
});
