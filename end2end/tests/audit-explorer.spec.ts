// The audit explorer on the demo data: the timeline over the range; a
// filter by action prefix (every row matches, the URL is the search); an
// event opened in the drawer with its details and the links to its
// actor's and its target's events; the CSV export of what the filter
// matches, with progress, saved whole (its rows are the filtered events);
// the search and the export are themselves in the log; a server's "Audit
// events" button opens the explorer on its events. Screenshots (light,
// dark, 390 px): artifacts/screenshots/audit-explorer*.png.
import * as fs from 'node:fs';
import { test, expect, shots, signInAsDemoOwner, gotoHydrated } from './fixtures';

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

// Masked details and erasure (issue #19): the email typed at a failed
// sign-in reads masked until the owner reveals it (recorded); the owner
// erases a directory person's personal data from one of their events,
// after a confirmation. Screenshots: audit-explorer-masked*.png,
// audit-explorer-erase*.png.
test('an owner reveals masked details and erases a person, both recorded', async ({ page, server }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  // A sign-in with a typo: its typed email is personal data, masked.
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill('mallory.typo@corp.example');
  await page.getByLabel('Password', { exact: true }).fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  consoleErrors.length = 0; // the refused sign-in's own error status
  await signInAsDemoOwner(page, server);

  await gotoHydrated(page, '/audit?action=console.signin.failed');
  const rows = page.getByTestId('audit-row');
  await rows.first().click();
  const drawer = page.getByTestId('event-drawer');
  // What the caller typed is masked: the actor name and the email.
  await expect(drawer.getByTestId('masked-note')).toContainText('Personal details are masked: actor name, email');
  await expect(drawer.getByTestId('event-details')).toContainText('•••• masked');
  await expect(drawer.getByTestId('event-actor')).toHaveText('•••• masked');
  await expect(drawer).not.toContainText('mallory.typo');
  await expect(rows.first()).not.toContainText('mallory.typo');
  await shots(page, 'audit-explorer-masked');
  await drawer.getByTestId('reveal-details').click();
  await expect(drawer.getByTestId('event-details')).toContainText('mallory.typo@corp.example');
  await expect(drawer.getByTestId('event-actor')).toHaveText('mallory.typo@corp.example');
  await expect(drawer.getByTestId('masked-note')).toContainText('Your reveal is recorded');
  // The event's link, opened afresh (the drawer rendered by the server,
  // then hydrated): masked again, and the owner's reveal is offered.
  const link = await drawer.getByRole('link', { name: 'Link to this event' }).getAttribute('href');
  expect(link).toMatch(/^\/audit\?event=/);
  await page.goto(link!);
  await expect(drawer.getByTestId('event-actor')).toHaveText('•••• masked');
  await expect(drawer.getByTestId('reveal-details')).toBeVisible();
  await drawer.getByTestId('reveal-details').click();
  await expect(drawer.getByTestId('event-actor')).toHaveText('mallory.typo@corp.example');
  await drawer.locator('footer').getByRole('button', { name: 'Close' }).click();

  // A directory person: erase their personal data from one of their events.
  await gotoHydrated(page, '/audit?action=scim.user.created');
  await rows.first().click();
  const name = (await drawer.locator('dd').nth(1).locator('span').first().textContent())?.trim() ?? '';
  expect(name.length).toBeGreaterThan(2);
  await drawer.getByTestId('erase-person').click();
  const confirm = page.getByRole('alertdialog');
  await expect(confirm).toContainText(`Erase ${name}'s personal data from the audit log?`);
  await shots(page, 'audit-explorer-erase');
  await confirm.getByRole('button', { name: 'Erase personal data' }).click();
  await expect(drawer.getByTestId('erase-done')).toContainText(/Erased: \d+ events now read “Erased person [0-9a-f]{8}”/);
  await drawer.locator('footer').getByRole('button', { name: 'Close' }).click();

  // Both are in the log; the person's name is not.
  await page.goto('/audit?action=audit.revealed');
  await expect(rows).toHaveCount(2);
  await page.goto('/audit?action=audit.erased');
  await expect(rows).toHaveCount(1);
  await page.goto('/audit?action=scim.user');
  await expect(rows.first()).toBeVisible();
  await expect(rows.filter({ hasText: name })).toHaveCount(0);

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});
