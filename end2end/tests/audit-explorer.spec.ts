// The audit explorer on the demo data: the timeline over the range; a
// filter by action prefix (every row matches, the URL is the search); an
// event opened in the drawer with its details and the links to its
// actor's and its target's events; the CSV export of what the filter
// matches, with progress, saved whole (its rows are the filtered events);
// the search and the export are themselves in the log; a server's "Audit
// events" button opens the explorer on its events. Screenshots (light,
// dark, 390 px): artifacts/screenshots/audit-explorer*.png.
import * as fs from 'node:fs';
import { test, expect, shots, signInAsDemoOwner } from './fixtures';

test.use({ demoData: true });

test('filter, open an event, export with progress, see the timeline; searches and exports are audited', async ({ page, server }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  await sidebar.getByRole('link', { name: 'Audit log', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  const summary = page.getByTestId('timeline-summary');
  await expect(summary).toContainText(/\d+ events from .* one bar per 6 h/);
  await expect(page.getByRole('img', { name: /Audit events over time: \d+ in total/ })).toBeVisible();
  const rows = page.getByTestId('audit-row');
  await expect(rows.first()).toBeVisible();
  await shots(page, 'audit-explorer');

  // Filter by an action prefix: every row is a grant change, the URL holds the search.
  await page.getByLabel('Action', { exact: true }).fill('access.grant');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/action=access\.grant/);
  await expect(rows.first()).toContainText('access.grant.');
  const shown = await rows.count();
  expect(shown).toBeGreaterThan(0);
  for (const action of await rows.locator('td:nth-child(4)').allTextContents()) {
    expect(action).toMatch(/^access\.grant\./);
  }
  await expect(summary).toContainText(`${shown} events from`);

  // Open one: the drawer has every field, the details as text, and links.
  await rows.first().click();
  const drawer = page.getByTestId('event-drawer');
  await expect(drawer).toBeVisible();
  await expect(drawer.getByRole('heading', { level: 2 })).toContainText('access.grant.');
  await expect(drawer).toContainText(server.demoOwner?.email ?? 'no demo owner');
  await expect(drawer.getByTestId('event-details')).toContainText('{');
  await expect(drawer.getByRole('link', { name: 'Events by this actor →' })).toBeVisible();
  await shots(page, 'audit-explorer-drawer');
  const targetLink = drawer.getByRole('link', { name: 'Events about this target →' });
  await expect(targetLink).toBeVisible();
  await drawer.locator('footer').getByRole('button', { name: 'Close' }).click();
  await expect(drawer).toBeHidden();

  // Export what the filter matches, as CSV: progress, then the whole file.
  const download = page.waitForEvent('download');
  await page.getByTestId('export-csv').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('portcullis-audit.csv');
  await expect(page.getByTestId('export-done')).toHaveText(`Exported ${shown} events as CSV.`);
  const csv = fs.readFileSync(await file.path(), 'utf8').trim().split('\n');
  expect(csv[0]).toContain('action');
  expect(csv).toHaveLength(shown + 1);
  for (const line of csv.slice(1)) expect(line).toContain('access.grant.');

  // The search and the export are in the log, by the owner.
  await page.goto('/audit?action=audit');
  await expect(rows.filter({ hasText: 'audit.exported' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'audit.searched' }).first()).toBeVisible();
  await rows.filter({ hasText: 'audit.exported' }).click();
  await expect(drawer.getByTestId('event-details')).toContainText('"action": "access.grant"');
  await drawer.locator('footer').getByRole('button', { name: 'Close' }).click();

  // A server's "Audit events" opens the explorer on its events.
  await sidebar.getByRole('link', { name: 'Servers', exact: true }).click();
  await page.getByRole('link', { name: 'GitHub', exact: true }).first().click();
  await page.getByTestId('audit-events-link').click();
  await expect(page).toHaveURL(/\/audit\?target=/);
  await expect(rows.first()).toBeVisible();
  await expect(rows.first().locator('td:nth-child(5)')).toContainText('GitHub');

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});
