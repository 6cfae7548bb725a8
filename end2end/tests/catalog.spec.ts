// The catalog on the demo data: servers with quarantined tools flagged, a
// server's tools with annotations and callers, the access matrix, the
// review of a changed tool definition ("rug pull") and its approval, and
// registering a server through the form (with a field error first).
// Saves screenshots of every catalog page, light and dark.
import { test, expect, screenshotPath, signInAsDemoOwner } from './fixtures';

test.use({ demoData: true });

test('admin reviews the catalog, approves a changed tool and registers a server', async ({
  page,
  server,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The duplicate resource URL below is refused with 409 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 409')) {
      consoleErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  await signInAsDemoOwner(page, server);
  // The Overview points at the two tools waiting for review.
  const accessStats = page.getByTestId('access-stats');
  await expect(accessStats).toContainText('Tools awaiting review');
  await expect(accessStats.getByRole('link', { name: 'Tools awaiting review' })).toHaveAttribute(
    'href',
    '/catalog/tools?status=quarantined',
  );
  await expect(accessStats).toContainText('12');
  await page.screenshot({ path: screenshotPath('overview-demo'), fullPage: true });
  const sidebar = page.locator('aside[aria-label="Main navigation"]');

  // Servers: GitHub shows its two quarantined tools.
  await sidebar.getByRole('link', { name: 'Servers', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Servers', exact: true })).toBeVisible();
  const github = page.locator('[data-testid="server-row"][data-slug="github"]');
  await expect(github).toContainText('2 quarantined');
  await expect(page.getByTestId('server-row')).toHaveCount(6);
  await page.screenshot({ path: screenshotPath('catalog-servers'), fullPage: true });

  // The server page: quarantine banner, tools with annotations and callers.
  await github.getByRole('link', { name: 'GitHub' }).click();
  await expect(page.getByRole('heading', { name: /GitHub/ })).toBeVisible();
  await expect(page.getByTestId('quarantine-banner')).toContainText('2 quarantined');
  const searchCode = page.locator('[data-testid="tool-row"][data-name="search_code"]');
  await expect(searchCode).toContainText('read-only');
  await expect(searchCode).toContainText(/\d+ people/);
  await expect(page.locator('[data-testid="tool-row"][data-name="delete_branch"]')).toContainText('destructive');
  await page.screenshot({ path: screenshotPath('catalog-server'), fullPage: true });

  // A tool's Who can call: people by email, each with the grant's path to
  // them (Engineering's whole-server grant), searchable and paged.
  const serverUrl = page.url();
  await searchCode.getByRole('link', { name: 'search_code' }).click();
  const callers = page.getByTestId('tool-callers');
  await expect(callers.getByTestId('caller').first()).toBeVisible();
  const total = Number(((await callers.locator('p').first().textContent()) ?? '').replace(/[^0-9]/g, ''));
  expect(total).toBeGreaterThan(25);
  await expect(callers.getByTestId('caller')).toHaveCount(25);
  await expect(callers.getByTestId('caller').first()).toContainText('Group Engineering');
  await expect(callers.getByRole('navigation', { name: 'Pagination' })).toContainText(`of ${total.toLocaleString('en-US')}`);
  await page.screenshot({ path: screenshotPath('catalog-tool-callers'), fullPage: true });
  await callers.getByRole('link', { name: 'Next' }).click();
  await expect(page).toHaveURL(/from=25/);
  await expect(callers.getByTestId('caller').first()).toBeVisible();
  const first = (await callers.getByTestId('caller').first().getAttribute('data-email')) ?? '';
  await callers.getByLabel('Search people who can call it').fill(first.split('@')[0]);
  await callers.getByLabel('Search people who can call it').press('Enter');
  await expect(page).toHaveURL(/who=/);
  await expect(callers.locator(`[data-testid="caller"][data-email="${first}"]`)).toHaveCount(1);
  await page.goto(serverUrl);

  // The access matrix: groups × tools.
  await page.getByRole('link', { name: 'Access matrix' }).click();
  await expect(page.getByTestId('access-matrix')).toBeVisible();
  await expect(page.getByTestId('access-matrix')).toContainText('Engineering');
  await page.screenshot({ path: screenshotPath('catalog-matrix'), fullPage: true });

  // Tools: the quarantined filter lists the two tools awaiting review.
  await sidebar.getByRole('link', { name: 'Tools', exact: true }).click();
  await page.getByTestId('filter-chip').filter({ hasText: 'Quarantined' }).click();
  await expect(page.getByTestId('tool-row')).toHaveCount(2);
  await page.screenshot({ path: screenshotPath('catalog-tools-quarantined'), fullPage: true });

  // Review the changed create_issue: the diff shows the injected text as text.
  await page.locator('[data-testid="tool-row"][data-name="create_issue"]').getByRole('link').click();
  await expect(page.getByTestId('quarantine-banner')).toContainText('changed this tool');
  const diff = page.getByTestId('definition-diff');
  await expect(diff).toContainText('~/.ssh/id_rsa');
  await page.screenshot({ path: screenshotPath('catalog-tool-review'), fullPage: true });
  await page.getByTestId('approve-tool').click();
  await expect(page.getByRole('alertdialog')).toContainText('Approve create_issue?');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Approve tool' }).click();
  await expect(page.getByTestId('action-notice')).toContainText('Approved');
  await expect(page.getByRole('heading', { name: /create_issue/ })).toContainText('Approved');
  await expect(page.getByTestId('definition-diff')).toHaveCount(0);

  // Register a server: a bad slug is named, then it works.
  await sidebar.getByRole('link', { name: 'Servers', exact: true }).click();
  await page.getByTestId('open-new-server').click();
  await page.getByLabel('Name', { exact: true }).fill('Linear');
  await page.getByLabel('Slug').fill('linear');
  await page.getByLabel('Resource URL').fill('https://mcp.acme.example/github');
  await page.getByRole('button', { name: 'Register server' }).last().click();
  await expect(page.getByRole('alert').filter({ hasText: 'Resource URL' })).toBeVisible();
  await page.getByLabel('Resource URL').fill('https://mcp.acme.example/linear');
  await page.getByRole('button', { name: 'Register server' }).last().click();
  await expect(page.getByRole('heading', { name: /Linear/ })).toBeVisible();
  await expect(page.getByText('No tools yet')).toBeVisible();

  // Dark mode.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/catalog/servers');
  await page.locator('[data-testid="server-row"][data-slug="github"]').getByRole('link').click();
  await expect(page.getByTestId('quarantine-banner')).toContainText('1 quarantined');
  await page.screenshot({ path: screenshotPath('catalog-server-dark'), fullPage: true });

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});
