// Settings → Audit settings on the demo data: the retention periods, the
// signed checkpoint card; an owner places a legal hold with a reason, sees
// it in place, lifts it through the confirmation, and both changes are in
// the audit log. Streaming: a short signing key is refused next to its
// field; a destination that cannot be reached shows as failing with its
// error and lag; it is removed after a confirmation. Screenshots (light,
// dark, 390 px): artifacts/screenshots/audit-settings-*.png.
import { test, expect, screenshotPath, shots, signInAsDemoOwner } from './fixtures';

test.use({ demoData: true });

test('owner places and lifts a legal hold, streams to a SIEM; retention and the checkpoint are shown', async ({ page, server }) => {
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The short signing key below is refused with 422 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 422')) {
      consoleErrors.push(`${page.url()}: ${msg.text()}`);
    }
  });
  await signInAsDemoOwner(page, server);
  const sidebar = page.locator('aside[aria-label="Main navigation"]');
  await sidebar.getByRole('link', { name: 'Audit settings', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit settings' })).toBeVisible();
  const retention = page.getByTestId('retention');
  await expect(retention.getByTestId('retention-days')).toHaveText('400 days');
  await expect(retention).toContainText('Gateway decisions kept');
  await expect(retention).toContainText('None yet');
  await expect(page.getByTestId('checkpoint')).toContainText('Signed checkpoint');
  const hold = page.getByTestId('legal-hold');
  await expect(hold).toContainText('None');
  await shots(page, 'audit-settings');

  // Place a hold: the reason is shown with who placed it.
  await hold.getByTestId('open-hold').click();
  await hold.getByLabel('Reason').fill('Matter 2026-114 <litigation hold>');
  await hold.getByRole('button', { name: 'Place hold' }).click();
  await expect(hold).toContainText('In place');
  await expect(hold.getByTestId('hold-reason')).toHaveText('Matter 2026-114 <litigation hold>');
  await expect(hold).toContainText(server.demoOwner?.email ?? 'no demo owner');
  await shots(page, 'audit-settings-held');

  // Lift it through the confirmation.
  await hold.getByTestId('lift-hold').click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('Lift the legal hold?');
  await expect(dialog).toContainText('older than 400 days');
  await page.screenshot({ path: screenshotPath('audit-settings-lift') });
  await dialog.getByRole('button', { name: 'Lift hold' }).click();
  await expect(dialog).toBeHidden();
  await expect(hold).toContainText('None');
  await expect(hold.getByTestId('open-hold')).toBeVisible();

  // Streaming: the key is checked next to its field.
  const streaming = page.getByTestId('streaming');
  await expect(streaming).toContainText('No destinations yet');
  await streaming.getByTestId('open-add-sink').click();
  await streaming.getByLabel('Name').fill('Security lake');
  await streaming.getByLabel('Kind').selectOption('webhook');
  await streaming.getByLabel('URL').fill('https://siem.portcullis.invalid/hook');
  await streaming.getByLabel('Signing key').fill('short');
  await streaming.getByRole('button', { name: 'Add destination' }).last().click();
  await expect(streaming.getByRole('alert')).toContainText('at least 16 characters');
  await streaming.getByLabel('Signing key').fill('a-signing-key-of-32-characters!!');
  await streaming.getByRole('button', { name: 'Add destination' }).last().click();
  const row = streaming.getByTestId('sink-row').filter({ hasText: 'Security lake' });
  await expect(row).toContainText('Webhook');
  await expect(row).toContainText('https://siem.portcullis.invalid/hook');
  // The delivery job (every 2 s) cannot resolve it: failing, with the error and the lag.
  await expect(async () => {
    await streaming.getByRole('button', { name: 'Refresh' }).click();
    await expect(row).toContainText('Failing', { timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  await expect(row.getByTestId('sink-error')).toContainText('siem.portcullis.invalid');
  await expect(row.getByTestId('sink-lag')).toContainText('1 event');
  await shots(page, 'audit-settings-streaming');
  await row.getByRole('button', { name: 'Remove' }).click();
  const remove = page.getByRole('alertdialog');
  await expect(remove).toContainText('Remove Security lake?');
  await remove.getByRole('button', { name: 'Remove destination' }).click();
  await expect(streaming).toContainText('No destinations yet');

  // Both hold changes are in the audit log.
  await page.goto(`${server.baseURL}/audit?action=audit.legal_hold`);
  const rows = page.getByTestId('audit-table').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText('audit.legal_hold.lifted');
  await expect(rows.nth(1)).toContainText('audit.legal_hold.placed');
  expect(consoleErrors).toEqual([]);
});
