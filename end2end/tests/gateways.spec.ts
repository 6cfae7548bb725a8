// The Gateways page on the demo data: the empty state; adding gateways
// through the dialog (a duplicate name is named next to the field), the
// credential shown once with the policy and JWKS URLs; a gateway that
// reports the current revision becomes "Up to date", one that reports an
// error shows it; rotating the signing key, rotating a credential and
// revoking a gateway through their confirmations. Saves screenshots of the
// page, the dialog and the credential, light and dark.
import { test, expect, screenshotPath, signInAsDemoOwner } from './fixtures';
import type { APIRequestContext, Page } from '@playwright/test';

test.use({ demoData: true });

/** A full-page screenshot from the top (sticky bars stay where they belong). */
async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true });
}

/** A screenshot of the viewport, for dialogs (their overlay covers the viewport). */
async function shotDialog(page: Page, name: string) {
  await page.screenshot({ path: screenshotPath(name) });
}

/** Adds a gateway through the dialog; returns the credential it shows once. */
async function addGateway(page: Page, name: string, description: string, servers: string[], shotName?: string) {
  await page.getByTestId('open-new-gateway').first().click();
  const dialog = page.getByTestId('new-gateway-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel(/Description/).fill(description);
  for (const s of servers) {
    await dialog.getByTestId('server-choices').getByLabel(s, { exact: true }).check();
  }
  if (shotName) await shotDialog(page, shotName);
  await dialog.getByRole('button', { name: 'Add gateway' }).click();
  const secret = page.getByRole('dialog').filter({ hasText: `Gateway “${name}” added` });
  await expect(secret).toBeVisible();
  await expect(secret).toContainText('This will not be shown again');
  const token = (await secret.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(token).toMatch(/^pcg_/);
  return token;
}

/** The revision the policy API serves, fetched with a gateway credential. */
async function servedRevision(request: APIRequestContext, base: string, token: string) {
  const res = await request.get(`${base}/api/v1/policy`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status()).toBe(200);
  return Number(res.headers()['portcullis-revision']);
}

test('admin adds gateways, sees what they enforce, rotates the signing key and revokes one', async ({
  page,
  server,
  request,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The duplicate name below is refused with 409 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 409')) {
      consoleErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  await sidebar.getByRole('link', { name: 'Gateways', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Gateways' })).toBeVisible();

  // Empty state: what a gateway is, the button and the CLI command.
  const empty = page.getByTestId('gateways-empty');
  await expect(empty).toContainText('No gateways yet');
  await expect(empty).toContainText('portcullis gateway create --name');
  await expect(page.getByTestId('rollout-headline')).toHaveText('No gateway enforces the policy yet');
  await shot(page, 'gateways-empty');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'gateways-empty-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Add a gateway: the credential is shown once, with the URLs.
  const euToken = await addGateway(
    page,
    'edge-eu-1',
    'Envoy in front of the EU MCP servers',
    ['GitHub', 'Jira'],
    'gateways-add-dialog',
  );
  const secret = page.getByRole('dialog').filter({ hasText: 'Gateway “edge-eu-1” added' });
  await expect(secret.getByTestId('secret-field').first()).toHaveText(`${server.baseURL}/api/v1/policy`);
  await expect(secret.getByTestId('secret-field').nth(1)).toHaveText(`${server.baseURL}/.well-known/jwks.json`);
  await shotDialog(page, 'gateways-credential');
  await secret.getByRole('button', { name: 'Done' }).click();
  await expect(secret).toHaveCount(0);
  const eu = page.locator('[data-testid="gateway-row"][data-name="edge-eu-1"]');
  await expect(eu).toContainText('Never connected');
  await expect(eu).toContainText('GitHub, Jira');
  await expect(eu).toContainText(`…${euToken.slice(-4)}`);
  // The credential is not on the page any more.
  await expect(page.getByText(euToken)).toHaveCount(0);

  // A duplicate name is named next to the field; nothing is added.
  await page.getByTestId('open-new-gateway').first().click();
  const dialog = page.getByTestId('new-gateway-dialog');
  await dialog.getByLabel('Name', { exact: true }).fill('EDGE-EU-1');
  await dialog.getByRole('button', { name: 'Add gateway' }).click();
  await expect(dialog.getByRole('alert').filter({ hasText: 'Name:' })).toContainText(
    'a gateway with this name already exists',
  );
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('gateway-row')).toHaveCount(1);

  const usToken = await addGateway(page, 'edge-us-1', 'Kong plugin, US region', ['Jira']);
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await addGateway(page, 'staging', '', []);
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('gateway-row')).toHaveCount(3);

  // edge-eu-1 reports the current revision; edge-us-1 an older one and an error.
  const head = await servedRevision(request, server.baseURL, euToken);
  let res = await request.post(`${server.baseURL}/api/v1/gateway/status`, {
    headers: { authorization: `Bearer ${euToken}` },
    data: { active_revision: head, software: 'envoy-portcullis/1.4.2' },
  });
  expect(res.status()).toBe(200);
  await servedRevision(request, server.baseURL, usToken);
  res = await request.post(`${server.baseURL}/api/v1/gateway/status`, {
    headers: { authorization: `Bearer ${usToken}` },
    data: {
      active_revision: head - 2,
      software: 'kong-portcullis/0.9.0',
      last_error: 'signature verification failed: no key "k-old" in the JWKS',
    },
  });
  expect(res.status()).toBe(200);
  await page.reload();
  await expect(eu).toContainText('Up to date');
  await expect(eu).toContainText('envoy-portcullis/1.4.2');
  await expect(eu).toContainText(`#${head}`);
  const us = page.locator('[data-testid="gateway-row"][data-name="edge-us-1"]');
  await expect(us).toContainText('Error');
  await expect(us.getByTestId('gateway-error')).toContainText('signature verification failed');
  await expect(us).toContainText('2 revisions behind');
  await expect(page.locator('[data-testid="gateway-row"][data-name="staging"]')).toContainText('Never connected');
  await expect(page.getByTestId('rollout-headline')).toHaveText('1 of 3 gateways enforces the current policy');
  await expect(page.getByTestId('gateways-summary')).toContainText(`Current policy revision ${head}`);
  await shot(page, 'gateways-list');

  // Rotate the signing key: a new active key, the old one retired but published.
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await page.getByTestId('rotate-signing-key').click();
  await expect(page.getByRole('alertdialog')).toContainText('Rotate the policy signing key?');
  await expect(page.getByRole('alertdialog')).toContainText('JWKS');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Rotate signing key' }).click();
  await expect(page.getByTestId('notice')).toContainText('Signing key rotated');
  await expect(page.getByTestId('key-row')).toHaveCount(2);
  await expect(page.locator('[data-testid="key-row"][data-status="retired"]')).toContainText('Published');

  // Rotate edge-eu-1's credential: the new one is shown once, the old one stops.
  await eu.getByTestId('rotate-credential').click();
  await expect(page.getByRole('alertdialog')).toContainText('Rotate the credential of edge-eu-1?');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Rotate credential' }).click();
  const rotated = page.getByRole('dialog').filter({ hasText: 'New credential for edge-eu-1' });
  await expect(rotated).toBeVisible();
  const newToken = (await rotated.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(newToken).toMatch(/^pcg_/);
  expect(newToken).not.toBe(euToken);
  await rotated.getByRole('button', { name: 'Done' }).click();
  res = await request.get(`${server.baseURL}/api/v1/policy`, { headers: { authorization: `Bearer ${euToken}` } });
  expect(res.status()).toBe(401);

  // Revoke edge-us-1: listed last, dimmed, its credential refused.
  await us.getByTestId('revoke-gateway').click();
  await expect(page.getByRole('alertdialog')).toContainText('Revoke edge-us-1?');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke gateway' }).click();
  await expect(page.getByTestId('notice')).toContainText('edge-us-1 revoked');
  await expect(page.getByTestId('gateway-row').last()).toHaveAttribute('data-name', 'edge-us-1');
  await expect(us).toHaveAttribute('data-state', 'revoked');
  await expect(us.getByTestId('revoke-gateway')).toHaveCount(0);
  res = await request.get(`${server.baseURL}/api/v1/policy`, { headers: { authorization: `Bearer ${usToken}` } });
  expect(res.status()).toBe(401);
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await shot(page, 'gateways-list-after');

  // Dark mode: the list, the dialog and a credential.
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'gateways-list-dark');
  await addGateway(page, 'edge-ap-1', 'Envoy, Singapore', ['GitHub'], 'gateways-add-dialog-dark');
  await shotDialog(page, 'gateways-credential-dark');
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});
