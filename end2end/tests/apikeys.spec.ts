// Settings → API keys on the demo data: the empty state with the CLI
// command; an owner creates a key (the secret shown once), the key works
// against the admin REST API and its use shows on the page; a second key
// with the same name is refused next to the field; revoking through the
// confirmation makes the key answer 401; the API reference lists the
// operations. Saves screenshots of the page, the dialog and the reference.
import { test, expect, screenshotPath, signInAsDemoOwner } from './fixtures';
import type { Page } from '@playwright/test';

test.use({ demoData: true });

async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true });
}

test('owner creates an API key, scripts use it, the owner revokes it', async ({ page, server, request }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The duplicate name below is refused with 409 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 409')) {
      consoleErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  await sidebar.getByRole('link', { name: 'API keys', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  await expect(page.getByText('No API keys yet')).toBeVisible();
  await expect(page.getByText('portcullis api-key create --name terraform --role admin')).toBeVisible();
  await shot(page, 'apikeys-empty');

  // Create: the secret is shown once.
  await page.getByTestId('open-create-key').click();
  await page.getByLabel('Name', { exact: true }).fill('terraform');
  await page.getByLabel('Role', { exact: true }).selectOption('admin');
  await page.getByLabel(/Expires after/).fill('90');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = page.getByRole('dialog').filter({ hasText: 'API key “terraform” created' });
  await expect(secret).toBeVisible();
  await expect(secret).toContainText('This will not be shown again');
  await page.screenshot({ path: screenshotPath('apikeys-created') });
  const key = (await secret.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(key).toMatch(/^pck_[A-Za-z0-9_-]{43}$/);
  await secret.getByRole('button', { name: 'Done' }).click();

  // The key works against the REST API; its use shows on the page.
  const servers = await request.get(`${server.baseURL}/api/v1/admin/servers`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(servers.status()).toBe(200);
  expect((await servers.json()).total).toBe(6);
  await page.reload();
  const row = page.getByTestId('api-key-row').filter({ hasText: 'terraform' });
  await expect(row).toContainText('Admin');
  await expect(row).toContainText('Active');
  await expect(row).toContainText('127.0.0.1');
  await expect(row).toContainText(key.slice(-4));
  await expect(row).not.toContainText(key.slice(4, 20));
  await shot(page, 'apikeys-list');

  // The same name again is refused next to the field.
  await page.getByTestId('open-create-key').click();
  await page.getByLabel('Name', { exact: true }).fill('terraform');
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'an active API key is already named terraform' })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel' }).click();

  // Revoke through the confirmation: the key stops working.
  await row.getByRole('button', { name: 'Revoke' }).click();
  const confirm = page.getByRole('alertdialog').filter({ hasText: 'Revoke terraform?' });
  await expect(confirm).toContainText(`ending in ${key.slice(-4)}`);
  await confirm.getByRole('button', { name: 'Revoke key' }).click();
  await expect(row).toContainText('Revoked');
  await expect(row.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
  const refused = await request.get(`${server.baseURL}/api/v1/admin/servers`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(refused.status()).toBe(401);

  // The API reference, rendered from the OpenAPI document.
  await page.getByRole('link', { name: 'API reference' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'API reference' })).toBeVisible();
  await expect(page.getByRole('heading', { level: 2, name: 'Catalog' })).toBeVisible();
  expect(await page.getByTestId('api-operation').count()).toBeGreaterThan(30);
  await page.getByTestId('api-operation').filter({ hasText: 'Register an MCP server' }).locator('summary').click();
  await expect(page.getByText('Idempotency-Key').first()).toBeVisible();
  await shot(page, 'api-reference');
  expect(consoleErrors).toEqual([]);
});
