// The Access pages on the demo data: the simulator denies a person a
// destructive tool; the admin grants it to them through the New grant form
// (after a field error); the simulator then allows it, naming the grant;
// the revision's diff shows the grant and the access gained; the person's
// Access tab agrees; revoking and rolling back work through their
// confirmations. The browser runs in Asia/Tokyo (UTC+09:00): times show
// and are entered in it, UTC on hover. A second test finds group #1,500 of
// a 2,000-group directory with the grant form's group picker. Saves
// screenshots of every Access page, light and dark.
import { test, expect, screenshotPath, signInAsDemoOwner, gotoHydrated } from './fixtures';
import type { Page } from '@playwright/test';

test.use({ demoData: true, timezoneId: 'Asia/Tokyo' });

const BEN = 'ben.adeyemi@acme.example';

/** A full-page screenshot from the top (sticky bars stay where they belong). */
async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true });
}

/** Asks the simulator through its form and waits for the answer. */
async function ask(page: Page, person: string, server: string, tool: string) {
  await page.goto('/access/simulator');
  // The picker searches once the page is interactive.
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await page.getByLabel('Person').fill(person);
  // The person picker lists matches; Escape closes it, keeping the text.
  await expect(page.getByRole('listbox')).toContainText(person);
  await page.getByLabel('Person').press('Escape');
  await page.getByLabel('Server', { exact: true }).selectOption({ label: server });
  // The tool picker lists the chosen server's tools once they are loaded.
  await expect(page.getByLabel('Tool').locator('option', { hasText: tool })).toHaveCount(1);
  await page.getByLabel('Tool').selectOption(tool);
  await page.getByTestId('simulate').click();
  await expect(page.getByTestId('sim-answer')).toBeVisible();
}

test('admin grants a person a tool and the simulator, diff and Access tab agree', async ({
  page,
  server,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The refused grant below (422, on purpose) is logged by the browser.
    if (msg.type() === 'error' && !msg.text().includes('status of 422')) {
      consoleErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  // Overview's activity chart counts the admin's days.
  await expect(page.getByTestId('chart-zone')).toHaveText('Last 14 days, Asia/Tokyo');

  // The simulator before any question explains itself.
  await sidebar.getByRole('link', { name: 'Simulator', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Simulator', exact: true })).toBeVisible();
  await expect(page.getByText('Ask a question')).toBeVisible();

  // Ben may not delete Jira issues: destructive, and no grant names it.
  await ask(page, BEN, 'Jira (jira)', 'delete_issue');
  await expect(page.getByTestId('sim-answer')).toHaveAttribute('data-allowed', 'false');
  await expect(page.getByTestId('sim-verdict')).toHaveText('Denied');
  await expect(page).toHaveURL(/user=ben\.adeyemi%40acme\.example/);
  await shot(page, 'access-simulator-denied');

  // Grants: the demo's grants, filtered by server.
  await sidebar.getByRole('link', { name: 'Grants', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Grants', exact: true })).toBeVisible();
  await expect(page.getByTestId('grant-row').first()).toBeVisible();
  await shot(page, 'access-grants');
  await page.getByTestId('filter-chip').filter({ hasText: 'Jira' }).click();
  await expect(page).toHaveURL(/server=/);
  await expect(page.getByTestId('grant-row')).toHaveCount(2);

  // New grant: a person without an email is refused, naming the field.
  await page.getByTestId('open-new-grant').click();
  const form = page.getByTestId('grant-form');
  await form.getByText('One person').click();
  await form.getByLabel('Server', { exact: true }).selectOption({ label: 'Jira (jira)' });
  await form.getByText('Specific tools').click();
  await form.getByLabel('delete_issue').check();
  await form.getByRole('button', { name: 'Add grant' }).click();
  await expect(form.getByTestId('field-error')).toContainText("Who: enter the person's email");

  await form.getByLabel("Person's email").fill(BEN);
  await form.getByLabel('Reason').fill('Cleans up duplicate tickets (IT-4411)');
  await shot(page, 'access-grant-form');
  await form.getByRole('button', { name: 'Add grant' }).click();
  await expect(page.getByTestId('notice')).toContainText(/Grant added — revision \d+/);
  await expect(page.getByTestId('grant-form')).toHaveCount(0);
  // (Ben also has the demo's Slack grant.)
  const row = page
    .locator(`[data-testid="grant-row"][data-subject="${BEN}"]`)
    .filter({ hasText: 'delete_issue' });
  await expect(row).toContainText('delete_issue');
  await expect(row).toContainText('Cleans up duplicate tickets');
  await shot(page, 'access-grant-added');

  // The simulator now allows it, through the direct grant.
  await ask(page, BEN, 'Jira (jira)', 'delete_issue');
  await expect(page.getByTestId('sim-verdict')).toHaveText('Allowed');
  const deciding = page.locator('[data-testid="sim-rule"][data-deciding="true"]');
  await expect(deciding).toContainText('Direct grant');
  await expect(deciding).toContainText('Decided the answer');
  await shot(page, 'access-simulator-allowed');

  // Revisions: the newest is the grant; its changes list the access gained.
  await sidebar.getByRole('link', { name: 'Revisions', exact: true }).click();
  const newest = page.getByTestId('revision-row').first();
  await expect(newest).toContainText('Grant added');
  await expect(newest).toContainText('Current');
  await newest.getByRole('link', { name: 'Changes' }).click();
  const diff = page.getByTestId('revision-diff');
  await expect(diff.getByTestId('diff-grants-added')).toContainText(BEN);
  await expect(diff.getByTestId('diff-access-added')).toContainText('delete_issue');
  await shot(page, 'access-revisions-diff');

  // Ben's Access tab: delete_issue allowed via the direct grant.
  await diff.getByTestId('diff-access-added').getByRole('link', { name: BEN }).click();
  await expect(page.getByTestId('user-access')).toBeVisible();
  const tool = page.locator('[data-testid="user-access-tool"][data-tool="delete_issue"]');
  await expect(tool).toHaveAttribute('data-allowed', 'true');
  await expect(tool).toContainText('Via a direct grant');
  await shot(page, 'access-user-tab');

  // Edit the grant: an expiry and a new reason. The dialog starts from
  // the grant as it is; saving makes a revision and the audit log says so.
  await sidebar.getByRole('link', { name: 'Grants', exact: true }).click();
  await row.getByTestId('edit-grant').click();
  const edit = page.getByTestId('edit-grant-dialog');
  await expect(edit).toContainText(`Edit ${BEN}'s grant on Jira`);
  await expect(edit.getByLabel('Reason')).toHaveValue('Cleans up duplicate tickets (IT-4411)');
  await expect(edit.getByLabel(/Expires/)).toHaveValue('');
  await expect(edit.getByText('In your time zone (Asia/Tokyo)')).toBeVisible();
  // The grant names a tool: its tools can change too.
  const editTools = edit.getByTestId('edit-grant-tools');
  await expect(editTools.getByLabel('delete_issue')).toBeChecked();
  await expect(editTools.getByLabel('transition_issue')).not.toBeChecked();
  await editTools.getByLabel('transition_issue').check();
  await edit.getByLabel(/Expires/).fill('2030-06-30T17:00');
  await edit.getByLabel('Reason').fill('Duplicate ticket clean-up until the migration ends (IT-4411)');
  await page.screenshot({ path: screenshotPath('access-grant-edit') });
  await edit.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('notice')).toContainText(/Grant updated — revision \d+/);
  await expect(edit).toHaveCount(0);
  await expect(row).toContainText('Duplicate ticket clean-up until the migration ends');
  await expect(row).toContainText('transition_issue');
  // Entered in Tokyo time, stored in UTC: 17:00 there is 08:00 UTC.
  const expiry = '[title="2030-06-30 17:00:00 Asia/Tokyo · 2030-06-30 08:00:00 UTC"]';
  await expect(row.locator(expiry)).toBeVisible();
  await shot(page, 'access-grant-edited');
  // A past expiry is refused next to the field; nothing changes.
  await row.getByTestId('edit-grant').click();
  await edit.getByLabel(/Expires/).fill('2020-01-01T00:00');
  await edit.getByRole('button', { name: 'Save changes' }).click();
  await expect(edit.getByText('choose a time in the future')).toBeVisible();
  await edit.getByRole('button', { name: 'Cancel' }).click();
  await expect(row.locator(expiry)).toBeVisible();
  // Reopened, the dialog shows the expiry in local time again.
  await row.getByTestId('edit-grant').click();
  await expect(edit.getByLabel(/Expires/)).toHaveValue('2030-06-30T17:00');
  await edit.getByRole('button', { name: 'Cancel' }).click();
  await sidebar.getByRole('link', { name: 'Audit log', exact: true }).click();
  const audit = page.getByTestId('audit-table');
  await expect(audit).toContainText('access.grant.updated');
  // The audit log's times: local, with UTC on hover; its details in UTC.
  await expect(audit.locator('time').first()).toHaveAttribute('title', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Asia\/Tokyo · .* UTC$/);
  await expect(page.getByText('To (inclusive)')).toBeVisible();

  // Revoke, confirming a dialog that says who loses what.
  await sidebar.getByRole('link', { name: 'Grants', exact: true }).click();
  await row.getByTestId('revoke-grant').click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`${BEN} loses this grant (delete_issue and 1 more tool on Jira)`);
  await page.screenshot({ path: screenshotPath('access-revoke-confirm') });
  await dialog.getByRole('button', { name: 'Revoke grant' }).click();
  await expect(page.getByTestId('notice')).toContainText(/Grant revoked — revision \d+/);
  await expect(row).toHaveCount(0);

  // Roll back to the revision with the grant: it comes back.
  await sidebar.getByRole('link', { name: 'Revisions', exact: true }).click();
  const withGrant = page.getByTestId('revision-row').nth(1);
  const number = (await withGrant.getAttribute('data-revision')) ?? '';
  await withGrant.getByTestId('rollback').click();
  await expect(page.getByRole('alertdialog')).toContainText(
    `Make the grants what they were at revision ${number}?`,
  );
  await page.getByRole('alertdialog').getByRole('button', { name: 'Roll back grants' }).click();
  await expect(page.getByTestId('notice')).toContainText(`Grants rolled back to revision ${number}`);
  await expect(page.getByTestId('revision-row').first()).toContainText('Rollback');
  await shot(page, 'access-revisions');
  await ask(page, BEN, 'Jira (jira)', 'delete_issue');
  await expect(page.getByTestId('sim-verdict')).toHaveText('Allowed');

  // Dark mode.
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'access-simulator-dark');
  await sidebar.getByRole('link', { name: 'Grants', exact: true }).click();
  await expect(page.getByTestId('grant-row').first()).toBeVisible();
  await shot(page, 'access-grants-dark');
  await page.getByTestId('open-new-grant').click();
  await page.getByTestId('grant-form').getByLabel('Server', { exact: true }).selectOption({ label: 'GitHub (github)' });
  await page.getByTestId('grant-form').getByText('Specific tools').click();
  await expect(page.getByTestId('tool-choices')).toBeVisible();
  await shot(page, 'access-grant-form-dark');
  await page.goto(`/access/revisions?from=${Number(number) - 1}&to=${number}`);
  await expect(page.getByTestId('revision-diff')).toBeVisible();
  await shot(page, 'access-revisions-dark');

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});

test('the group picker finds group #1,500 of a 2,000-group directory', async ({ page, server, request }) => {
  test.setTimeout(180_000);
  await signInAsDemoOwner(page, server);
  // A second directory whose IdP pushes 2,000 groups over SCIM.
  await gotoHydrated(page, '/settings/directories');
  await page.getByTestId('open-new-directory').first().click();
  await page.getByLabel('Name', { exact: true }).fill('Entra ID');
  await page.getByRole('button', { name: 'Create directory' }).click();
  const base = (await page.getByTestId('secret-field').textContent())?.trim() ?? '';
  const token = (await page.getByTestId('secret-value').textContent())?.trim() ?? '';
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  const names = Array.from({ length: 2000 }, (_, i) => `Project team ${String(i + 1).padStart(4, '0')}`);
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(
      names.slice(i, i + 25).map(async (displayName) => {
        const res = await request.post(`${base}/Groups`, {
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          data: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName }),
        });
        expect(res.status(), `${displayName}: ${await res.text()}`).toBe(201);
      }),
    );
  }

  await gotoHydrated(page, '/access/grants');
  await page.getByTestId('open-new-grant').click();
  const form = page.getByTestId('grant-form');
  const picker = form.getByRole('combobox', { name: 'Group' });
  // Focused, it lists the first groups by name and how many more there are.
  await picker.focus();
  const options = form.getByRole('listbox').getByRole('option');
  await expect(options.first()).toBeVisible();
  await expect(form.getByRole('listbox')).toContainText(/[\d,]+ more — type to narrow the list/);
  // Typing searches the server: group #1,500 is found and picked with the keyboard.
  await picker.fill('team 1500');
  await expect(options).toHaveCount(1);
  await expect(options.first()).toContainText('Project team 1500');
  await expect(options.first()).toContainText('0 members · Entra ID');
  await page.screenshot({ path: screenshotPath('access-group-picker') });
  await picker.press('ArrowDown');
  await picker.press('Enter');
  await expect(picker).toHaveValue('Project team 1500');
  await expect(form.getByRole('listbox')).toBeHidden();
  await form.getByLabel('Server', { exact: true }).selectOption({ label: 'Jira (jira)' });
  await form.getByRole('button', { name: 'Add grant' }).click();
  await expect(page.getByTestId('notice')).toContainText(/Grant added — revision \d+/);
  await expect(page.getByTestId('grant-row').filter({ hasText: 'Project team 1500' })).toHaveCount(1);
});
