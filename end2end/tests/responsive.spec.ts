// Every list at phone width (#22 item 3): at 390 px each list page's table
// scrolls sideways inside its card with the first column kept in view, so
// no header or cell is printed over another and the page itself never
// scrolls sideways. Runs on the demo data (hundreds of people, servers,
// grants, revisions, audit events) and saves a phone screenshot of each
// page, light and dark.
import { test, expect, signInAsDemoOwner, screenshotPath, gotoHydrated } from './fixtures';
import type { Page } from '@playwright/test';

test.use({ demoData: true });

/** What overlaps or overflows on the page, as readable lines (empty: none). */
async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const text = (e: Element) => (e.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 50);
    const tables = [...document.querySelectorAll('main table')];
    tables.forEach((table, t) => {
      const head = table.querySelector('thead');
      const firstRow = table.querySelector('tbody tr');
      if (head && firstRow && head.getBoundingClientRect().bottom > firstRow.getBoundingClientRect().top + 1) {
        problems.push(`table ${t}: the header row covers the first row`);
      }
      for (const tr of table.querySelectorAll('tr')) {
        const cells = [...tr.children].filter((c) => getComputedStyle(c).display !== 'none' && c.getClientRects().length > 0);
        const rects = cells.map((c) => c.getBoundingClientRect());
        for (let i = 1; i < rects.length; i++) {
          if (rects[i].left < rects[i - 1].right - 1) {
            problems.push(`table ${t}: cells "${text(cells[i - 1])}" and "${text(cells[i])}" overlap`);
          }
        }
        for (const c of cells) {
          // Content wider than its cell is printed over the next one (a
          // cell that clips, with an ellipsis, shows none of it).
          const clips = ['hidden', 'clip'].includes(getComputedStyle(c).overflowX);
          if (!clips && c.scrollWidth > c.clientWidth + 1) {
            problems.push(`table ${t}: "${text(c)}" overflows its cell (${c.scrollWidth} > ${c.clientWidth} px)`);
          }
        }
      }
    });
    const page = document.documentElement;
    if (page.scrollWidth > window.innerWidth + 1) {
      // Name what sticks out (outside the tables, which scroll inside).
      const out = [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((e) => !e.closest('main table') || getComputedStyle(e).position === 'absolute')
        .slice(0, 3)
        .map((e) => `<${e.tagName.toLowerCase()} class="${e.getAttribute('class') ?? ''}">`);
      problems.push(`the page scrolls sideways (${page.scrollWidth} px wide at ${window.innerWidth} px): ${out.join(', ')}`);
    }
    return problems;
  });
}

/** The detail page behind the first link in the list's table. */
async function firstDetail(page: Page, listPath: string, testId: string): Promise<string> {
  await page.goto(listPath);
  const href = await page.getByTestId(testId).locator('tbody a[href^="/"]').first().getAttribute('href');
  expect(href, `a link in ${testId}`).toBeTruthy();
  return href!;
}

test('every list reads at 390 px: nothing overlaps, tables scroll inside their cards', async ({ page, server }) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 390, height: 844 });
  await signInAsDemoOwner(page, server);

  // The demo has no gateway, OAuth client or agent yet: add one of each (through
  // their dialogs, at phone width) so those lists have rows.
  await gotoHydrated(page, '/gateways');
  await page.getByTestId('open-new-gateway').first().click();
  const gw = page.getByTestId('new-gateway-dialog');
  await gw.getByLabel('Name', { exact: true }).fill('edge-eu-1');
  await gw.getByRole('button', { name: 'Add gateway' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('gateway-row')).toHaveCount(1);
  await gotoHydrated(page, '/clients');
  await page.getByTestId('open-new-client').first().click();
  const cl = page.getByTestId('new-client-dialog');
  await cl.getByLabel('Name', { exact: true }).fill('Acme Desktop Assistant for Engineering');
  await cl.getByLabel('Redirect URIs').fill('https://assistant.acme.example/oauth/callback');
  await cl.getByRole('button', { name: 'Add client' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('client-row')).toHaveCount(1);
  await gotoHydrated(page, '/agents');
  await page.getByTestId('open-register-agent').click();
  await page.getByLabel('Name', { exact: true }).fill('Nightly issue triage for the platform team');
  await page.getByLabel("Owner's email").fill('ben.adeyemi@acme.example');
  await page.getByLabel("Owner's email").press('Escape');
  await page.getByTestId('register-agent').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('agent-row')).toHaveCount(1);

  const lists: { name: string; path: string; table: string }[] = [
    { name: 'users', path: '/directory/users', table: 'users-table' },
    { name: 'groups', path: '/directory/groups', table: 'groups-table' },
    { name: 'group', path: await firstDetail(page, '/directory/groups', 'groups-table'), table: 'members-table' },
    { name: 'servers', path: '/catalog/servers', table: 'servers-table' },
    { name: 'server', path: await firstDetail(page, '/catalog/servers', 'servers-table'), table: 'tools-table' },
    { name: 'tools', path: '/catalog/tools', table: 'all-tools-table' },
    { name: 'grants', path: '/access/grants', table: 'grants-table' },
    { name: 'revisions', path: '/access/revisions', table: 'revisions-table' },
    { name: 'gateways', path: '/gateways', table: 'gateways-table' },
    { name: 'clients', path: '/clients', table: 'clients-table' },
    { name: 'agents', path: '/agents', table: 'agents-table' },
    { name: 'audit', path: '/audit', table: 'audit-table' },
    { name: 'directories', path: '/settings/directories', table: 'directories-table' },
    {
      name: 'directory',
      path: await firstDetail(page, '/settings/directories', 'directories-table'),
      table: 'tokens-table',
    },
    { name: 'admins', path: '/settings/admins', table: 'admins-table' },
  ];

  const found: string[] = [];
  for (const list of lists) {
    await page.goto(list.path);
    const table = page.getByTestId(list.table);
    await expect(table, `${list.name}: ${list.path} shows its table`).toBeVisible();
    await expect(table.locator('tbody tr').first()).toBeVisible();
    expect(await layoutProblems(page), `${list.name} (${list.path}) at 390 px`).toEqual([]);
    // A table wider than the screen scrolls inside itself, its first column
    // staying where it was.
    const scroll = await table.evaluate((t) => {
      const first = t.querySelector('tbody tr > :first-child')!;
      const before = first.getBoundingClientRect().left;
      t.scrollLeft = t.scrollWidth;
      const after = first.getBoundingClientRect().left;
      const scrolled = t.scrollLeft;
      t.scrollLeft = 0;
      return { wider: t.scrollWidth > t.clientWidth + 1, scrolled, moved: Math.abs(after - before) };
    });
    if (scroll.wider) {
      expect(scroll.scrolled, `${list.name}: the table scrolls`).toBeGreaterThan(0);
      expect(scroll.moved, `${list.name}: the first column stays in view`).toBeLessThan(1);
    }
    found.push(list.name);
    await page.screenshot({ path: screenshotPath(`phone-${list.name}`), fullPage: false });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: screenshotPath(`phone-${list.name}-dark`), fullPage: false });
    await page.emulateMedia({ colorScheme: 'light' });
  }
  expect(found).toHaveLength(lists.length);

  // At desktop width the same pages keep their full-width tables.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/access/grants');
  const display = await page.getByTestId('grants-table').evaluate((t) => getComputedStyle(t).display);
  expect(display).toBe('table');
  expect(await layoutProblems(page)).toEqual([]);
});
