// Single sign-on end to end in Chromium, against real identity providers
// started on loopback by this file: npm `oidc-provider` (OpenID Connect) and
// npm `samlify` (SAML 2.0), see end2end/idp/. The owner sets up each
// connection through Settings → Single sign-on, runs "Test connection",
// then admins sign in through the IdP from the sign-in page's email step
// and land on Overview with the role their group maps to; a person without
// a mapped role is refused with a clear page; the password form stays as
// the break-glass way in. Saves screenshots of every SSO page, light and
// dark.
import { test, expect, screenshotPath, repoRoot } from './fixtures';
import type { Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

// The IdPs listen on 127.0.0.1, which the console's SSRF guard refuses
// unless allowed; a deployment would name its IdP hosts the same way.
test.use({ serverEnv: { PORTCULLIS_FETCH_ALLOWED_HOSTS: '127.0.0.1' } });

const OWNER_PASSWORD = 'a very long e2e password';
const CLIENT_SECRET = 'portcullis-e2e-secret';

interface Idp {
  url: string;
  stop(): Promise<void>;
}

/** Starts `end2end/idp/<script>` and resolves with the URL it prints. */
function startIdp(script: string, args: string[]): Promise<Idp> {
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'end2end', 'idp', script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const started = Date.now();
  let ready = false;
  return new Promise((resolve, reject) => {
    // Normally ready in under half a second; a CI run once saw neither line
    // within 20 s on a loaded 2-core machine, so the wait is generous and a
    // failure says how long it waited and what the child printed.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} printed no "listening on" line within ${Date.now() - started} ms; its output:\n${log}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const m = log.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m && !ready) {
        ready = true;
        clearTimeout(timer);
        console.log(`${script} ready in ${Date.now() - started} ms`);
        resolve({
          url: m[1],
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}):\n${log}`));
    });
  });
}

async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: screenshotPath(`${name}-dark`), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'light' });
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
}

/** The email step, then the IdP's own page: picks `who`. */
async function signInThroughIdp(page: Page, email: string, who: string) {
  await page.goto('/login');
  await expect(page.getByTestId('email-step')).toBeVisible();
  await page.getByLabel('Work email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: `Sign in as ${who}` }).click();
}

test('owner connects OIDC and SAML; admins sign in through them with mapped roles', async ({ page, server }) => {
  test.setTimeout(180_000);
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    // The ID-JAG box checked without a directory below is refused with 422 on purpose.
    if (msg.type() === 'error' && !msg.text().includes('status of 422')) consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  // Both IdPs start side by side; if one fails the other is stopped.
  const idps = await Promise.allSettled([
    startIdp('oidc-idp.mjs', ['--redirect-uri', `${server.baseURL}/sso/oidc/acme-oidc/callback`]),
    startIdp('saml-idp.mjs', ['--sp-metadata-url', `${server.baseURL}/sso/saml/acme-saml/metadata`]),
  ]);
  const failed = idps.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    await Promise.all(idps.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed[0].reason;
  }
  const [oidc, saml] = idps.map((r) => (r as PromiseFulfilledResult<Idp>).value);
  try {
    // The owner sets up the console with a password (break-glass account).
    await page.goto(server.setupURL);
    await page.getByLabel('Your name').fill('Olivia Owner');
    await page.getByLabel('Password', { exact: true }).fill(OWNER_PASSWORD);
    await page.getByRole('button', { name: 'Set password and continue' }).click();
    await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();

    // Settings → Single sign-on: empty, then a new OIDC connection.
    await page.getByRole('link', { name: 'Single sign-on' }).click();
    await expect(page.getByRole('heading', { name: 'Single sign-on' })).toBeVisible();
    await expect(page.getByText('No SSO connection yet')).toBeVisible();
    await shot(page, 'sso-empty');
    await page.getByTestId('new-sso-connection').first().click();
    await expect(page.getByTestId('kind-choice')).toBeVisible();
    await shot(page, 'sso-new-choose');
    await page.getByRole('link', { name: /OpenID Connect/ }).click();
    await page.getByLabel('Name', { exact: true }).fill('Acme (OIDC)');
    await page.getByLabel('URL name').fill('acme-oidc');
    await page.getByLabel('Email domains').fill('acme.test');
    await page.getByLabel('Issuer URL').fill(oidc.url);
    await page.getByLabel('Client ID').fill('portcullis');
    await page.getByLabel('Client secret').fill(CLIENT_SECRET);
    await page.getByLabel('IdP group').first().fill('portcullis-admins');
    await page.getByLabel('Console role').first().selectOption('admin');
    await page.getByTestId('add-mapping').click();
    await page.getByLabel('IdP group').nth(1).fill('portcullis-auditors');
    await page.getByLabel('Console role').nth(1).selectOption('auditor');
    await shot(page, 'sso-new-oidc');
    // Accepting ID-JAGs needs a linked directory: the form says so under the box.
    await page.getByLabel(/Accept ID-JAGs from this IdP/).check();
    await page.getByRole('button', { name: 'Create connection' }).click();
    await expect(page.getByText('link a directory first: an ID-JAG names a person of the connection\'s directory')).toBeVisible();
    await shot(page, 'sso-new-oidc-id-jag-error');
    await page.getByLabel(/Accept ID-JAGs from this IdP/).uncheck();
    await page.getByRole('button', { name: 'Create connection' }).click();
    await expect(page.getByTestId('sso-name')).toHaveText('Acme (OIDC)');
    await expect(page.getByTestId('saved')).toBeVisible();
    await expect(page.getByText(`${server.baseURL}/sso/oidc/acme-oidc/callback`)).toBeVisible();
    await shot(page, 'sso-oidc');

    // Test connection: Bob has no mapped role; the page says so and shows the claims.
    await page.getByTestId('test-connection').click();
    await page.getByRole('button', { name: 'Sign in as Bob Nobody' }).click();
    await expect(page.getByTestId('test-result')).toBeVisible();
    await expect(page.getByTestId('test-summary')).toContainText('Would be refused');
    await expect(page.getByTestId('test-result')).toContainText('bob@acme.test');
    await expect(page.getByTestId('me-name')).toHaveText('Olivia Owner');
    await shot(page, 'sso-oidc-test');

    // Alice signs in through the IdP and lands on Overview as an admin.
    await signOut(page);
    await expect(page.getByTestId('email-step')).toBeVisible();
    await shot(page, 'sso-login-email');
    await signInThroughIdp(page, 'alice@acme.test', 'Alice Admin');
    await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
    await expect(page.getByTestId('me-name')).toHaveText('Alice Admin');
    await expect(page.getByRole('banner').getByText('Admin', { exact: true })).toBeVisible();

    // Bob is refused with a clear page and no session.
    await signOut(page);
    await signInThroughIdp(page, 'bob@acme.test', 'Bob Nobody');
    await expect(page).toHaveURL(/\/login\?sso_error=no_role/);
    await expect(page.getByTestId('sso-error')).toContainText('no role in this console');
    await shot(page, 'sso-login-refused');
    await page.goto('/');
    await expect(page).toHaveURL(/\/login$/);

    // The password form stays as break-glass.
    await page.getByRole('link', { name: 'Sign in with a password instead' }).click();
    await page.getByLabel('Email', { exact: true }).fill('owner@e2e.example');
    await page.getByLabel('Password', { exact: true }).fill(OWNER_PASSWORD);
    await shot(page, 'sso-login-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();

    // The OIDC connection goes (after a confirmation); SAML serves acme.test next.
    await page.goto('/settings/sso');
    await expect(page.getByTestId('sso-row')).toHaveCount(1);
    await shot(page, 'sso-list');
    await page.getByRole('link', { name: 'Acme (OIDC)' }).click();
    await page.getByTestId('delete-connection').click();
    await expect(page.getByRole('alertdialog')).toContainText('Delete this connection?');
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete connection' }).click();
    await expect(page).toHaveURL(/\/settings\/sso$/);
    await expect(page.getByText('No SSO connection yet')).toBeVisible();

    await page.goto('/settings/sso/new?kind=saml');
    await page.getByLabel('Name', { exact: true }).fill('Acme (SAML)');
    await page.getByLabel('URL name').fill('acme-saml');
    await page.getByLabel('Email domains').fill('acme.test');
    await page.getByLabel('IdP metadata URL').fill(`${saml.url}/metadata`);
    await page.getByLabel('IdP group').first().fill('portcullis-admins');
    await page.getByLabel('Console role').first().selectOption('admin');
    await shot(page, 'sso-new-saml');
    await page.getByRole('button', { name: 'Create connection' }).click();
    await expect(page.getByTestId('sso-name')).toHaveText('Acme (SAML)');
    await expect(page.getByText(`${server.baseURL}/sso/saml/acme-saml/acs`)).toBeVisible();
    await expect(page.getByText(/SHA-256 [0-9A-F:]{95}/)).toBeVisible();
    await shot(page, 'sso-saml');

    // Alice through SAML: Overview as an admin; Bob refused.
    await signOut(page);
    await signInThroughIdp(page, 'alice@acme.test', 'Alice Admin');
    await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
    await expect(page.getByTestId('me-name')).toHaveText('Alice Admin');
    await expect(page.getByRole('banner').getByText('Admin', { exact: true })).toBeVisible();
    await signOut(page);
    await signInThroughIdp(page, 'bob@acme.test', 'Bob Nobody');
    await expect(page).toHaveURL(/\/login\?sso_error=no_role/);

    // Every sign-in and refusal is in the audit log.
    await page.getByRole('link', { name: 'Sign in with a password instead' }).click();
    await page.getByLabel('Email', { exact: true }).fill('owner@e2e.example');
    await page.getByLabel('Password', { exact: true }).fill(OWNER_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Audit log' }).click();
    const table = page.getByTestId('audit-table');
    await expect(table).toContainText('console.signin.refused');
    await expect(table).toContainText('sso.connection.deleted');
    expect(consoleErrors).toEqual([]);
  } finally {
    await oidc.stop();
    await saml.stop();
  }
});
