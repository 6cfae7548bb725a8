// The directory pages: the owner connects an IdP in Settings → Directories
// (URL and token shown once), the "IdP" provisions people and a group over
// SCIM with that token, and the console lists, searches and shows them.
// Saves screenshots of every directory page.
import { test, expect, screenshotPath } from './fixtures';
import type { APIRequestContext } from '@playwright/test';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/** POSTs a SCIM resource with the bearer token; returns the created resource. */
async function scimPost(
  request: APIRequestContext,
  base: string,
  token: string,
  path: string,
  body: object,
): Promise<{ id: string }> {
  const res = await request.post(`${base}${path}`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    data: JSON.stringify(body),
  });
  expect(res.status(), `POST ${path}: ${await res.text()}`).toBe(201);
  return res.json();
}

test('owner connects an IdP, which provisions people and a group shown in the directory', async ({
  page,
  server,
  request,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });

  await page.goto(server.setupURL);
  await page.getByLabel('Your name').fill('Olivia Owner');
  await page.getByLabel('Password', { exact: true }).fill('a very long e2e password');
  await page.getByRole('button', { name: 'Set password and continue' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  const navTo = (name: string) => sidebar.getByRole('link', { name, exact: true }).click();

  // A new console: Overview shows the set-up checklist, nothing done yet,
  // each step linking to its page.
  const checklist = page.getByTestId('setup-checklist');
  await expect(checklist).toBeVisible();
  await expect(page.getByTestId('setup-progress')).toHaveText('0 of 5 done');
  await expect(checklist.getByTestId('setup-step')).toHaveCount(5);
  await expect(checklist.locator('[data-testid="setup-step"][data-done="true"]')).toHaveCount(0);
  await expect(checklist.getByRole('link', { name: 'Add directory' })).toHaveAttribute('href', '/settings/directories');
  await page.screenshot({ path: screenshotPath('overview-setup-checklist'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: screenshotPath('overview-setup-checklist-dark'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  // Before any directory, the people list says what to do next.
  await navTo('Users');
  await expect(page.getByRole('heading', { name: 'Users', exact: true })).toBeVisible();
  await expect(page.getByText('No people yet', { exact: true })).toBeVisible();
  await expect(page.getByText('Create a SCIM directory in Settings → Directories')).toBeVisible();

  // Settings → Directories: create "Okta"; the URL and token are shown once.
  await navTo('Directories');
  await expect(page.getByRole('heading', { name: 'Directories' })).toBeVisible();
  await expect(page.getByText('No SCIM directory yet')).toBeVisible();
  await page.getByTestId('open-new-directory').click();
  await page.getByLabel('Name', { exact: true }).fill('Okta');
  await page.getByRole('button', { name: 'Create directory' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('Directory “Okta” created');
  await expect(dialog).toContainText('This will not be shown again');
  const base = (await page.getByTestId('secret-field').textContent())?.trim() ?? '';
  const token = (await page.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(base).toBe(`${server.baseURL}/scim/v2`);
  expect(token).toMatch(/^pcs_/);
  await page.screenshot({ path: screenshotPath('settings-directories-token'), fullPage: true });
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.locator('tr[data-name="Okta"]')).toContainText('1 active');

  // The IdP provisions three people and a group over SCIM.
  const ann = await scimPost(request, base, token, '/Users', {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: 'ann.lee@e2e.example',
    externalId: '00u1ann',
    name: { givenName: 'Ann', familyName: 'Lee' },
    displayName: 'Ann Lee',
    title: 'Security engineer',
    emails: [{ value: 'ann.lee@e2e.example', type: 'work', primary: true }],
    active: true,
    [ENTERPRISE]: { department: 'Security' },
  });
  const bob = await scimPost(request, base, token, '/Users', {
    schemas: [USER_SCHEMA],
    userName: 'bob.stone@e2e.example',
    displayName: 'Bob Stone',
    emails: [{ value: 'bob.stone@e2e.example', primary: true }],
    active: true,
  });
  await scimPost(request, base, token, '/Users', {
    schemas: [USER_SCHEMA],
    userName: 'carla.diaz@e2e.example',
    displayName: 'Carla Diaz',
    emails: [{ value: 'carla.diaz@e2e.example', primary: true }],
    active: false,
  });
  await scimPost(request, base, token, '/Groups', {
    schemas: [GROUP_SCHEMA],
    displayName: 'Engineering',
    members: [{ value: ann.id }, { value: bob.id }],
  });

  // Directory → Users lists them; search narrows the list.
  await navTo('Users');
  const users = page.getByTestId('users-table');
  await expect(users.getByTestId('user-row')).toHaveCount(3);
  await expect(users).toContainText('Ann Lee');
  await expect(users.locator('tr[data-user-name="carla.diaz@e2e.example"]')).toContainText('Inactive');
  await expect(page.getByText('Showing 1–3 of 3')).toBeVisible();
  await page.screenshot({ path: screenshotPath('directory-users'), fullPage: true });
  await page.getByLabel('Search users').fill('lee');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page).toHaveURL(/[?&]q=lee/);
  await expect(users.getByTestId('user-row')).toHaveCount(1);
  await expect(users).toContainText('ann.lee@e2e.example');
  // The status chip filters.
  await page.goto(`${server.baseURL}/directory/users?status=inactive`);
  await expect(page.getByTestId('user-row')).toHaveCount(1);
  await expect(page.getByTestId('users-table')).toContainText('Carla Diaz');

  // A row opens the person: summary, attributes, groups, activity.
  await page.goto(`${server.baseURL}/directory/users`);
  await page.getByRole('link', { name: 'Ann Lee' }).click();
  await expect(page.getByRole('heading', { name: 'Ann Lee' })).toBeVisible();
  const summary = page.getByTestId('user-summary');
  await expect(summary).toContainText('Active');
  await expect(summary).toContainText('00u1ann');
  await expect(summary).toContainText('Okta');
  await expect(page.getByTestId('user-attributes')).toContainText('Security');
  await page.screenshot({ path: screenshotPath('directory-user-detail'), fullPage: true });
  const tabs = page.getByRole('navigation', { name: 'Sections' });
  await tabs.getByRole('link', { name: /^Groups/ }).click();
  await expect(page.getByTestId('user-groups')).toContainText('Engineering');
  await tabs.getByRole('link', { name: /^Activity/ }).click();
  await expect(page.getByTestId('history')).toContainText('scim.user.created');

  // Directory → Groups: the group with its member count, then its members.
  await navTo('Groups');
  const groups = page.getByTestId('groups-table');
  await expect(groups.getByTestId('group-row')).toHaveCount(1);
  await expect(groups.getByTestId('group-row')).toContainText('Engineering');
  await expect(groups.getByTestId('group-row')).toContainText('2');
  await page.screenshot({ path: screenshotPath('directory-groups'), fullPage: true });
  await groups.getByRole('link', { name: 'Engineering' }).click();
  await expect(page.getByRole('heading', { name: 'Engineering' })).toBeVisible();
  await expect(page.getByTestId('member-row')).toHaveCount(2);
  await expect(page.getByTestId('members-table')).toContainText('Bob Stone');
  await page.screenshot({ path: screenshotPath('directory-group-detail'), fullPage: true });

  // Settings → Directories shows the counts and the last request.
  await navTo('Directories');
  const okta = page.locator('tr[data-name="Okta"]');
  await expect(okta).toContainText('3');
  await expect(okta).toContainText('just now');
  await page.screenshot({ path: screenshotPath('settings-directories'), fullPage: true });

  // The directory's detail: rotating asks first and names the overlap.
  await okta.getByRole('link', { name: 'Okta' }).click();
  await expect(page.getByRole('heading', { name: 'Okta' })).toBeVisible();
  await expect(page.getByTestId('scim-base-url')).toHaveText(base);
  await expect(page.getByTestId('token-row')).toHaveCount(1);
  await page.getByTestId('rotate-token').click();
  const confirm = page.getByRole('alertdialog');
  await expect(confirm).toContainText('Rotate the SCIM token of Okta?');
  await expect(confirm).toContainText('keeps working for 24 hours');
  await confirm.getByRole('button', { name: 'Rotate token' }).click();
  await expect(page.getByRole('dialog')).toContainText('New token for Okta');
  const newToken = (await page.getByTestId('secret-value').textContent())?.trim() ?? '';
  expect(newToken).not.toBe(token);
  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('token-row')).toHaveCount(2);
  await expect(page.locator(`tr[data-hint="${token.slice(-4)}"]`)).toContainText('Expiring');
  // Revoking asks first and says what breaks.
  await page.locator(`tr[data-hint="${token.slice(-4)}"]`).getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('alertdialog')).toContainText("Okta's requests with this token will fail immediately");
  await page.screenshot({ path: screenshotPath('settings-directory-revoke'), fullPage: true });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('alertdialog')).toHaveCount(0);
  await page.screenshot({ path: screenshotPath('settings-directory-detail'), fullPage: true });

  // The checklist has ticked the directory step by itself.
  await navTo('Overview');
  await expect(page.getByTestId('setup-progress')).toHaveText('1 of 5 done');
  const step = checklist.getByTestId('setup-step').nth(1);
  await expect(step).toContainText('Add a SCIM directory');
  await expect(step).toHaveAttribute('data-done', 'true');
  await expect(step.getByRole('link')).toHaveCount(0);
  await expect(checklist.locator('[data-testid="setup-step"][data-done="true"]')).toHaveCount(1);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('overview-setup-checklist-phone'), fullPage: true });

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});
