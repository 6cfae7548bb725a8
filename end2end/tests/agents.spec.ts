// Agents on the demo data: the empty state; an admin registers an agent
// (owner Ben, a client secret shown once), the secret gets a token with the
// client_credentials grant and the page shows its last token; the Grants
// page grants it one GitHub tool (the "An agent" subject); the simulator
// answers for the agent by name (allowed for that tool, denied for another
// that Everyone may call); the server's access matrix lists it as an agent;
// the kill switch through the confirmation makes its next token request
// fail; a key agent registered with a pasted JWKS signs its own assertion,
// and replacing its keys from the page stops the old key at once; the
// Delegations panel lets it act for Ben on GitHub and removes that again.
// Screenshots (light, dark, 390 px): artifacts/screenshots/agents-*.png.
import { test, expect, screenshotPath, shot, shots, signInAsDemoOwner, gotoHydrated } from './fixtures';
import * as crypto from 'node:crypto';

test.use({ demoData: true });

const BEN = 'ben.adeyemi@acme.example';
const GITHUB = 'https://mcp.acme.example/github';

test('admin registers an agent, grants it a tool, sees it in the simulator and the matrix, and disables it', async ({
  page,
  server,
  request,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The registration without an owner below is refused with 422 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 422')) consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  await sidebar.getByRole('link', { name: 'Agents', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Agents' })).toBeVisible();
  await expect(page.getByText('No agents yet')).toBeVisible();
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await shot(page, 'agents-empty');

  // Register: the owner must be someone; then the secret is shown once.
  await page.getByTestId('open-register-agent').click();
  await page.getByLabel('Name', { exact: true }).fill('Nightly triage');
  await page.getByLabel(/Description/).fill('Labels new GitHub issues every night');
  await page.getByLabel(/Expires after/).fill('90');
  await page.getByTestId('register-agent').click();
  await expect(page.getByRole('alert').filter({ hasText: "enter the owner's email" })).toBeVisible();
  await page.getByLabel("Owner's email").fill(BEN);
  await expect(page.getByRole('listbox')).toContainText(BEN);
  await page.getByLabel("Owner's email").press('Escape');
  await shot(page, 'agents-form');
  await page.getByTestId('register-agent').click();
  const dialog = page.getByRole('dialog').filter({ hasText: 'Agent “Nightly triage” registered' });
  await expect(dialog).toBeVisible();
  await page.screenshot({ path: screenshotPath('agents-secret') });
  const secret = (await dialog.getByTestId('secret-value').textContent())?.trim() ?? '';
  const id = (await dialog.getByText(/^agt_/).first().textContent())?.trim() ?? '';
  expect(id).toMatch(/^agt_/);
  expect(secret.length).toBeGreaterThan(30);
  await dialog.getByRole('button', { name: 'Done' }).click();

  // The secret gets a token (client_credentials, HTTP Basic).
  const basic = 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
  const tokenRequest = () =>
    request.post(`${server.baseURL}/oauth/token`, {
      headers: { authorization: basic },
      form: { grant_type: 'client_credentials', resource: GITHUB },
    });
  const token = await tokenRequest();
  expect(token.status()).toBe(200);
  expect((await token.json()).refresh_token).toBeUndefined();
  await page.reload();
  const row = page.locator('[data-testid="agent-row"][data-name="Nightly triage"]');
  await expect(row).toContainText('Active');
  await expect(row).toContainText(BEN);
  await expect(row).toContainText('Client secret');
  await expect(row).not.toContainText('Never');

  // Grant it one GitHub tool on the Grants page.
  await sidebar.getByRole('link', { name: 'Grants', exact: true }).click();
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await page.getByTestId('open-new-grant').click();
  const form = page.getByTestId('grant-form');
  await form.getByText('An agent', { exact: true }).click();
  await form.getByLabel('Agent', { exact: true }).fill('Nightly');
  await expect(page.getByRole('listbox')).toContainText('Nightly triage');
  await page.getByRole('option', { name: /Nightly triage/ }).click();
  await form.getByLabel('Server', { exact: true }).selectOption({ label: 'GitHub (github)' });
  await form.getByText('Specific tools').click();
  await form.getByLabel('list_pull_requests').check();
  await form.getByLabel('Reason').fill('Files triage issues (IT-5120)');
  await shot(page, 'agents-grant-form');
  await form.getByRole('button', { name: 'Add grant' }).click();
  await expect(page.getByTestId('notice')).toContainText(/Grant added — revision \d+/);
  const grant = page.locator('[data-testid="grant-row"][data-subject="Nightly triage"]');
  await expect(grant).toContainText('list_pull_requests');

  // The simulator answers for the agent by name.
  await gotoHydrated(page, '/access/simulator');
  await page.getByLabel('Person or agent').fill('Nightly');
  await expect(page.getByRole('listbox')).toContainText('Nightly triage');
  await page.getByRole('option', { name: /Nightly triage/ }).click();
  await page.getByLabel('Server', { exact: true }).selectOption({ label: 'GitHub (github)' });
  await expect(page.getByLabel('Tool').locator('option', { hasText: 'list_pull_requests' })).toHaveCount(1);
  await page.getByLabel('Tool').selectOption('list_pull_requests');
  await page.getByTestId('simulate').click();
  await expect(page.getByTestId('sim-verdict')).toHaveText('Allowed');
  await expect(page.getByTestId('sim-answer')).toContainText('Nightly triage (agent) may call list_pull_requests');
  await shots(page, 'agents-simulator');
  // Engineering may search code; that grant does not reach the agent.
  await page.getByLabel('Tool').selectOption('search_code');
  await page.getByTestId('simulate').click();
  await expect(page.getByTestId('sim-verdict')).toHaveText('Denied');
  await expect(page.getByTestId('sim-answer')).toContainText('no_grant');

  // The server's access matrix lists the agent after the groups.
  await page.goto('/catalog/servers');
  await page.locator('[data-testid="server-row"][data-slug="github"]').getByRole('link', { name: 'GitHub' }).click();
  await page.getByRole('link', { name: 'Access matrix' }).click();
  const matrix = page.getByTestId('access-matrix');
  await expect(matrix).toContainText('Nightly triage (agent)');
  await expect(matrix).toContainText('Engineering');
  await shot(page, 'agents-matrix');

  // The kill switch: confirmed, then the next token request is refused.
  await sidebar.getByRole('link', { name: 'Agents', exact: true }).click();
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await shots(page, 'agents-list');

  // Delegations: let the agent act for Ben on GitHub, then remove it (asked first).
  await row.getByTestId('agent-delegations').click();
  const panel = page.getByTestId('delegations-panel');
  await expect(panel).toContainText('Whom Nightly triage may act for');
  await expect(panel).toContainText('It acts for nobody');
  await panel.getByLabel("Person's email").fill(BEN);
  await expect(page.getByRole('listbox')).toContainText(BEN);
  await panel.getByLabel("Person's email").press('Escape');
  await panel.getByLabel('Server', { exact: true }).selectOption({ label: 'GitHub' });
  await panel.getByLabel(/Why/).fill('Triage for Ben (IT-5121)');
  await panel.getByTestId('add-delegation').click();
  const delegationRow = panel.getByTestId('delegation-row');
  await expect(delegationRow).toContainText(BEN);
  await expect(delegationRow).toContainText('GitHub');
  await shots(page, 'agents-delegations');
  // The simulator explains a delegated call: the person, the agent and the delegation.
  await page.goto(`/access/simulator?user=${encodeURIComponent(BEN)}&server=github&tool=list_pull_requests&via=${encodeURIComponent('Nightly triage')}`);
  const delegatedCard = page.getByTestId('sim-delegated');
  await expect(delegatedCard).toContainText(`Nightly triage (agent) acting for ${BEN}`);
  await expect(delegatedCard).toContainText("Nightly triage (agent)'s own grants allow it (allowed)");
  const personVerdict = (await page.getByTestId('sim-verdict').textContent())?.trim();
  await expect(page.getByTestId('sim-delegated-answer')).toContainText(
    personVerdict === 'Allowed' ? 'Allowed: the person may call it' : 'Denied: the person may not call it',
  );
  await shots(page, 'agents-simulator-delegated');
  await sidebar.getByRole('link', { name: 'Agents', exact: true }).click();
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await row.getByTestId('agent-delegations').click();
  await delegationRow.getByTestId('remove-delegation').click();
  const stop = page.getByRole('alertdialog').filter({ hasText: `Stop Nightly triage acting for ${BEN}?` });
  await expect(stop).toContainText('refused from the next policy revision');
  await stop.getByRole('button', { name: 'Remove delegation' }).click();
  await expect(panel).toContainText('It acts for nobody');
  await panel.getByRole('button', { name: 'Close' }).click();
  await expect(panel).toHaveCount(0);

  await row.getByTestId('disable-agent').click();
  const confirm = page.getByRole('alertdialog').filter({ hasText: 'Disable Nightly triage?' });
  await expect(confirm).toContainText('gateways deny it');
  await confirm.getByRole('button', { name: 'Disable agent' }).click();
  await expect(row).toContainText('Disabled');
  await expect(row.getByRole('button', { name: 'Enable' })).toBeVisible();
  const refused = await tokenRequest();
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error_description).toContain('disabled');

  // A key agent (private_key_jwt): registered with a pasted JWKS, it signs
  // its own assertion; its keys are replaced from the page and the old key
  // stops at once.
  const keyPair = () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    return { privateKey, jwks: JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }] }) };
  };
  const first = keyPair();
  await page.getByTestId('open-register-agent').click();
  await page.getByLabel('Name', { exact: true }).fill('Deploy signer');
  await page.getByLabel("Owner's email").fill(BEN);
  await page.getByLabel("Owner's email").press('Escape');
  await page.getByText('Public keys (JWKS)').click();
  await page.getByLabel('JWKS', { exact: true }).fill(first.jwks);
  await page.getByTestId('register-agent').click();
  const keyDialog = page.getByRole('dialog').filter({ hasText: 'Agent “Deploy signer” registered' });
  await expect(keyDialog).toContainText('private_key_jwt');
  const keyAgent = (await keyDialog.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(keyAgent).toMatch(/^agt_/);
  await keyDialog.getByRole('button', { name: 'Done' }).click();
  const assertion = (key: crypto.KeyObject, jti: string) => {
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'k1' })}.${b64({
      iss: keyAgent, sub: keyAgent, aud: `${server.baseURL}/oauth/token`, jti, exp: Math.floor(Date.now() / 1000) + 60,
    })}`;
    return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`;
  };
  const signed = (key: crypto.KeyObject, jti: string) =>
    request.post(`${server.baseURL}/oauth/token`, {
      form: {
        grant_type: 'client_credentials', resource: GITHUB,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion(key, jti),
      },
    });
  expect((await signed(first.privateKey, 'a1')).status()).toBe(200);
  const keyRow = page.locator('[data-testid="agent-row"][data-name="Deploy signer"]');
  await expect(keyRow).toContainText('public keys');
  const second = keyPair();
  await keyRow.getByTestId('replace-agent-keys').click();
  const keysForm = page.getByTestId('agent-keys-form');
  await expect(keysForm).toContainText('Replace the keys of Deploy signer');
  await keysForm.getByLabel('New JWKS', { exact: true }).fill(second.jwks);
  await shot(page, 'agents-replace-keys');
  await keysForm.getByTestId('save-agent-keys').click();
  await expect(keysForm).toHaveCount(0);
  expect((await signed(first.privateKey, 'a2')).status()).toBe(401);
  expect((await signed(second.privateKey, 'a3')).status()).toBe(200);

  // Search narrows the list; a miss says so.
  await page.getByLabel('Search agents').fill('nothing-like-this');
  await page.getByLabel('Search agents').press('Enter');
  await expect(page.getByText('No agent matches')).toBeVisible();
  expect(consoleErrors).toEqual([]);
});
