// The owner's first visit: set-up link → Overview → invite an admin → the
// events in the Audit log. Saves screenshots of every page it passes.
import { test, expect, screenshotPath } from './fixtures';

test('owner sets up, invites an admin and sees it in the audit log', async ({ page, server }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });

  // Signed out, the console sends us to sign-in.
  await page.goto(server.baseURL + '/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.screenshot({ path: screenshotPath('login'), fullPage: true });

  // The set-up link printed at start.
  await page.goto(server.setupURL);
  await expect(page.getByTestId('setup-email')).toHaveText('owner@e2e.example');
  await page.screenshot({ path: screenshotPath('setup'), fullPage: true });
  await page.getByLabel('Your name').fill('Olivia Owner');
  await page.getByLabel('Password', { exact: true }).fill('a very long e2e password');
  await page.getByRole('button', { name: 'Set password and continue' }).click();

  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('me-name')).toHaveText('Olivia Owner');
  await expect(page.getByTestId('latest-events')).toContainText('console.owner.setup_completed');
  await page.screenshot({ path: screenshotPath('overview'), fullPage: true });

  // Settings → Admins: invite Priya as an admin.
  await page.getByRole('link', { name: 'Admins' }).click();
  await expect(page.getByRole('heading', { name: 'Admins' })).toBeVisible();
  await page.getByTestId('open-invite').click();
  await page.getByLabel('Email', { exact: true }).fill('priya@e2e.example');
  await page.getByLabel('Name (optional)').fill('Priya Raman');
  await page.getByLabel('Role', { exact: true }).selectOption('admin');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  const secret = page.getByTestId('secret-value');
  await expect(secret).toContainText('/setup?token=');
  await page.screenshot({ path: screenshotPath('admins-invite-link'), fullPage: true });
  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.locator('tr[data-email="priya@e2e.example"]')).toContainText('Invited');
  await page.screenshot({ path: screenshotPath('admins'), fullPage: true });

  // Disabling asks first and names the person.
  await page.locator('tr[data-email="priya@e2e.example"]').getByRole('button', { name: 'Disable' }).click();
  await expect(page.getByRole('alertdialog')).toContainText('Disable Priya Raman?');
  await page.screenshot({ path: screenshotPath('admins-confirm'), fullPage: true });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('alertdialog')).toHaveCount(0);

  // The Audit log shows the invitation, newest first.
  await page.getByRole('link', { name: 'Audit log' }).click();
  const table = page.getByTestId('audit-table');
  await expect(table).toBeVisible();
  const firstRow = table.locator('tbody tr').first();
  await expect(firstRow).toContainText('console.admin.invited');
  await expect(firstRow).toContainText('priya@e2e.example');
  await expect(table).toContainText('console.owner.setup_completed');
  await page.screenshot({ path: screenshotPath('audit'), fullPage: true });
  // Dark mode follows the system.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: screenshotPath('audit-dark'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  // Filter by action through the form.
  await page.getByLabel('Action', { exact: true }).fill('console.owner');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/action=console.owner/);
  await expect(table.locator('tbody tr')).toHaveCount(2);

  // Sign out ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(server.baseURL + '/audit');
  await expect(page).toHaveURL(/\/login\?next=%2Faudit$/);

  expect(consoleErrors, 'no errors in the browser console').toEqual([]);
});

test('wrong password shows a clear message', async ({ page, server }) => {
  await page.goto(server.baseURL + '/login');
  await page.getByLabel('Email', { exact: true }).fill('nobody@e2e.example');
  await page.getByLabel('Password', { exact: true }).fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('form-error')).toContainText('The email or password is wrong');
  await page.screenshot({ path: screenshotPath('login-error'), fullPage: true });
});
