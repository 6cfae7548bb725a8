// Real MCP SDK clients get tokens from Portcullis and call a tool. Everything runs on
// loopback, started by this file:
//   - two sample MCP servers, A and B (end2end/mcp/sample-server.mjs: npm
//     `@modelcontextprotocol/sdk` + `jose`), each checking Portcullis access tokens against
//     the JWKS (EdDSA, at+jwt, iss, its own URL as `aud`, exp) and answering 401 with
//     `resource_metadata` = Portcullis' RFC 9728 document of that server; both are in the
//     catalog with their /mcp URL as resource URL;
//   - the test OIDC IdP (npm `oidc-provider`, end2end/idp/oidc-idp.mjs) behind an SSO
//     connection for acme.test, linked to a SCIM directory where Bob (bob@acme.test, IdP
//     subject `bob`, no console role) is provisioned;
//   - an https server on 127.0.0.1 with a certificate of a test CA that serves the clients'
//     metadata documents (CIMD); the console trusts the CA (PORTCULLIS_FETCH_CA_FILE).
// The npm SDK client (end2end/mcp/node-client.mjs) and the PyPI `mcp` client
// (end2end/mcp/py_client.py, in end2end/.venv, see scripts/setup.sh) each: get the 401,
// discover Portcullis, use CIMD and — once the admin turns registration on in the Clients
// page — DCR; PKCE with `resource`; Bob signs in through the IdP in Chromium and allows;
// token; tool call; refresh (rotation; the old refresh token then fails); a token for A
// is refused by B. Bob never gets into the console; the admin sees the clients on the
// Clients page and blocks one, whose tokens then stop. Bob's "My access" page lists
// what he may call and the apps he allowed, and he withdraws one. Screenshots (light
// and dark): artifacts/screenshots/mcp-oauth-{signin,consent,clients,my-access}[-dark].png.
import { test as fixtureTest, expect, screenshotPath, repoRoot } from './fixtures';
import { consoleCall, setUpAcme } from './acme';
import type { APIRequestContext, BrowserContext, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  startChild,
  startDocServer,
  runClient,
  jwtClaims,
  jwtHeader,
  mcpDir,
  end2endDir,
  type Child,
  type ClientResult,
  type DocServer,
} from '../mcp/support';

// The doc server (and its test CA, which the console must trust from its start: a
// worker fixture, so it exists before the console's server does). The IdP, the MCP
// servers and the doc server listen on 127.0.0.1, which the console's SSRF guard refuses
// unless allowed.
const test = fixtureTest.extend<object, { docs: DocServer }>({
  docs: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-mcp-e2e-'));
      const docs = await startDocServer(path.join(dir, 'ca.pem'));
      await use(docs);
      await docs.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    { scope: 'worker' },
  ],
  serverEnv: [
    async ({ docs }, use) => {
      await use({ PORTCULLIS_FETCH_ALLOWED_HOSTS: '127.0.0.1', PORTCULLIS_FETCH_CA_FILE: docs.caFile });
    },
    { scope: 'worker' },
  ],
});
test.describe.configure({ mode: 'serial' });

const PYTHON = path.join(end2endDir, '.venv', 'bin', 'python');
const NODE_CLIENT = path.join(mcpDir, 'node-client.mjs');
const PY_CLIENT = path.join(mcpDir, 'py_client.py');

let base = '';
let docs: DocServer;
let idp: Child;
let mcpA: Child;
let mcpB: Child;
let adminContext: BrowserContext;
let bobContext: BrowserContext;
let admin: Page;
let bob: Page;
let bobId = '';
let serverAId = '';
/** Errors Chromium logged on Bob's pages (CSP refusals among them). */
const bobConsoleErrors: string[] = [];
/** Each client run so far, with the name the client gave itself. */
const runs = new Map<string, ClientResult & { name: string }>();

async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: screenshotPath(`${name}-dark`), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'light' });
}

/** A console server function with form fields, as the signed-in owner. */
function call(request: APIRequestContext, name: string, form: Record<string, string>) {
  return consoleCall(request, base, name, form);
}

async function tokenRequest(form: Record<string, string>) {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: await res.json() };
}

async function serverLog(server: Child): Promise<Array<Record<string, string | number>>> {
  return (await fetch(new URL('/log', server.url))).json();
}

/**
 * Bob in his browser: opens the client's authorization URL, signs in through the IdP
 * when asked (work email, then the IdP's page), sees the consent screen and allows.
 * `signIn: true`: the sign-in step must come (his first time); otherwise his person
 * session from before may skip it (it does when the tests run in order).
 */
async function allowAsBob(url: string, opts: { signIn?: boolean; clientName: string; screenshot?: string }) {
  await bob.goto(url);
  const signInHeading = bob.getByRole('heading', { name: 'Sign in to continue' });
  const consentHeading = bob.getByRole('heading', { name: `Allow ${opts.clientName}` });
  if (opts.signIn) await expect(signInHeading).toBeVisible();
  else await expect(signInHeading.or(consentHeading)).toBeVisible();
  if (await signInHeading.isVisible()) {
    await expect(bob.getByText(`${opts.clientName} wants to use Sample MCP A as you`)).toBeVisible();
    if (opts.screenshot) await shot(bob, `${opts.screenshot}-signin`);
    await bob.getByLabel('Work email').fill('bob@acme.test');
    await bob.getByRole('button', { name: 'Continue' }).click();
    await bob.getByRole('button', { name: 'Sign in as Bob Nobody' }).click();
  }
  await expect(bob.getByRole('heading', { name: `Allow ${opts.clientName}` })).toBeVisible();
  await expect(bob.getByText('to use Sample MCP A as bob@acme.test')).toBeVisible();
  await expect(bob.getByTestId('unverified')).toBeVisible();
  await expect(bob.getByTestId('redirect-host')).toHaveText('127.0.0.1');
  await expect(bob.getByTestId('consent-warnings')).toContainText('localhost');
  if (opts.screenshot) await shot(bob, `${opts.screenshot}-consent`);
  bobConsoleErrors.length = 0;
  await bob.getByRole('button', { name: 'Allow' }).click();
  const callback = bob.getByTestId('client-callback');
  await callback.waitFor({ timeout: 5_000 }).catch(() => undefined);
  // Chromium applies the consent page's CSP `form-action` to the form's redirect back to
  // the client (another origin); a refusal shows only in the console.
  expect(bobConsoleErrors, 'the browser let the consent form send Bob back to the client').toEqual([]);
  await expect(callback).toContainText('You can close this window');
}

/** What every client run must show, CIMD or DCR, Node or Python. */
function checkRun(r: ClientResult, mode: 'cimd' | 'dcr', clientName: string) {
  const prmA = `${base}/oauth/resources/mcp-a`;
  const prmB = `${base}/oauth/resources/mcp-b`;
  expect(r.mode).toBe(mode);
  const ex = r.exchanges as Array<Record<string, any>>;
  // 401 with resource_metadata, then discovery of Portcullis through it.
  expect(ex[0]).toMatchObject({ method: 'POST', url: mcpA.url, status: 401, authorization: null });
  expect(ex[0].www_authenticate).toContain(`resource_metadata="${prmA}"`);
  const prm = ex.find((e) => e.url === prmA);
  expect(prm?.status, 'the SDK read the RFC 9728 document the 401 named').toBe(200);
  const asMeta = ex.find((e) => e.url === `${base}/.well-known/oauth-authorization-server`);
  expect(asMeta?.status, 'the SDK read the RFC 8414 metadata').toBe(200);
  // CIMD: the URL is the client_id and nothing registers; DCR: a 201 from /oauth/register.
  const register = ex.filter((e) => e.url === `${base}/oauth/register`);
  if (mode === 'cimd') {
    expect(register).toEqual([]);
    expect(r.client_id).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/clients\/[a-z-]+\.json$/);
  } else {
    expect(register.map((e) => e.status)).toEqual([201]);
    expect(register[0].form).toMatchObject({ client_name: clientName, redirect_uris: [r.redirect_uri], token_endpoint_auth_method: 'none' });
    expect(r.client_id).not.toMatch(/^https:/);
    expect(r.client_information.client_secret).toBeUndefined();
  }
  // PKCE S256 with resource, back with state and iss (RFC 9207).
  const az = r.authorization_url;
  expect(az).toMatchObject({
    response_type: 'code',
    client_id: r.client_id,
    redirect_uri: r.redirect_uri,
    code_challenge_method: 'S256',
    resource: mcpA.url,
  });
  expect(az.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(r.callback.iss).toBe(base);
  expect(r.callback.has_code).toBe(true);
  const exchange = ex.find((e) => e.url === `${base}/oauth/token` && e.form?.grant_type === 'authorization_code');
  expect(exchange?.status).toBe(200);
  expect(exchange?.form).toMatchObject({ client_id: r.client_id, redirect_uri: r.redirect_uri, resource: mcpA.url });
  expect(exchange?.form.code_verifier?.length).toBeGreaterThanOrEqual(43);
  // The access token: an RFC 9068 JWT for server A, bound to this client and Bob.
  const at1 = r.tokens_before_refresh.access_token as string;
  expect(jwtHeader(at1)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
  const claims = jwtClaims(at1) as Record<string, number | string>;
  expect(claims).toMatchObject({ iss: base, aud: mcpA.url, client_id: r.client_id, sub: bobId });
  expect(Number(claims.exp) - Number(claims.iat), 'PORTCULLIS_ACCESS_TOKEN_MINUTES defaults to 10').toBe(600);
  expect(Number(claims.exp) * 1000).toBeGreaterThan(Date.now());
  expect(r.tokens[0]).toMatchObject({ token_type: 'Bearer', expires_in: 600 });
  expect(r.tokens_before_refresh.refresh_token).toBeTruthy();
  // The tool, called with it; the server saw who from the verified token.
  expect(r.tools).toEqual(['echo']);
  const echo = (message: string) => ({ server: 'A', echo: message, sub: bobId, client_id: r.client_id, aud: mcpA.url });
  expect(r.first_call).toEqual(echo(r.first_call.echo));
  // Refresh: rotated tokens, sent with resource; the tool works with the new access token.
  const refresh = (r.refresh_exchanges as Array<Record<string, any>>).filter((e) => e.form?.grant_type === 'refresh_token');
  expect(refresh).toHaveLength(1);
  expect(refresh[0]).toMatchObject({ url: `${base}/oauth/token`, status: 200 });
  expect(refresh[0].form).toMatchObject({ client_id: r.client_id, resource: mcpA.url, refresh_token: r.tokens_before_refresh.refresh_token });
  expect(r.tokens_after_refresh.refresh_token).toBeTruthy();
  expect(r.tokens_after_refresh.refresh_token).not.toBe(r.tokens_before_refresh.refresh_token);
  expect(r.tokens_after_refresh.access_token).not.toBe(at1);
  expect(jwtClaims(r.tokens_after_refresh.access_token)).toMatchObject({ aud: mcpA.url, client_id: r.client_id, sub: bobId });
  expect(r.after_refresh).toEqual(echo('after refresh'));
  const lastCall = (r.refresh_exchanges as Array<Record<string, any>>).at(-1);
  expect(lastCall).toMatchObject({ method: 'POST', url: mcpA.url, status: 200, authorization: 'Bearer' });
  // Server A's token at server B: refused, naming B's own metadata.
  expect(r.cross_server.status).toBe(401);
  expect(r.cross_server.www_authenticate).toContain('error="invalid_token"');
  expect(r.cross_server.www_authenticate).toContain(`resource_metadata="${prmB}"`);
}

/** The rotated refresh token presented again: invalid_grant, and the grant is over. */
async function checkRefreshReuse(r: ClientResult) {
  const old = await tokenRequest({ grant_type: 'refresh_token', refresh_token: r.tokens_before_refresh.refresh_token, client_id: r.client_id });
  expect(old.status).toBe(400);
  expect(old.body.error).toBe('invalid_grant');
  const current = await tokenRequest({ grant_type: 'refresh_token', refresh_token: r.tokens_after_refresh.refresh_token, client_id: r.client_id });
  expect(current.status, 'reuse of a rotated refresh token ends the whole grant').toBe(400);
  expect(current.body.error).toBe('invalid_grant');
}

test.beforeAll(async ({ serverPool, browser, docs: docServer }, testInfo) => {
  test.setTimeout(90_000);
  docs = docServer;
  const server = await serverPool.get(testInfo.file);
  base = server.baseURL;
  const meta = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
  expect(meta.issuer).toBe(base);
  expect(meta.client_id_metadata_document_supported).toBe(true);
  expect(meta.registration_endpoint, 'dynamic registration is off by default').toBeUndefined();

  idp = await startChild(
    process.execPath,
    [path.join(repoRoot, 'end2end', 'idp', 'oidc-idp.mjs'), '--redirect-uri', `${base}/sso/oidc/acme/callback`],
    /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    'oidc-idp.mjs',
  );
  const sample = (name: string, slug: string) =>
    startChild(
      process.execPath,
      [path.join(mcpDir, 'sample-server.mjs'), '--name', name, '--issuer', base, '--resource-metadata-url', `${base}/oauth/resources/${slug}`],
      /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
      `sample MCP server ${name}`,
    );
  [mcpA, mcpB] = await Promise.all([sample('A', 'mcp-a'), sample('B', 'mcp-b')]);

  // The owner (break-glass password) sets up the console through its server functions.
  adminContext = await browser.newContext({ baseURL: base });
  admin = await adminContext.newPage();
  const request = adminContext.request;
  ({ bobId } = await setUpAcme(request, base, server.setupURL, idp.url));
  serverAId = await call(request, 'catalog/servers/create', { name: 'Sample MCP A', slug: 'mcp-a', resource_url: mcpA.url });
  await call(request, 'catalog/servers/create', { name: 'Sample MCP B', slug: 'mcp-b', resource_url: mcpB.url });
  bobContext = await browser.newContext({ baseURL: base });
  bob = await bobContext.newPage();
  bob.on('console', (msg) => {
    // The clients' loopback pages have no favicon; Chromium's 404 for it is not ours.
    if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) {
      bobConsoleErrors.push(`${bob.url()}: ${msg.text()}`);
    }
  });
});

test.afterAll(async () => {
  await adminContext?.close();
  await bobContext?.close();
  await Promise.all([idp?.stop(), mcpA?.stop(), mcpB?.stop()]);
});

test('a server says where its authorization server is; Portcullis describes it', async () => {
  // No token: 401 naming Portcullis' RFC 9728 document of this server.
  const res = await fetch(mcpA.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${base}/oauth/resources/mcp-a"`);
  const prm = await (await fetch(`${base}/oauth/resources/mcp-a`)).json();
  expect(prm).toMatchObject({ resource: mcpA.url, authorization_servers: [base], bearer_methods_supported: ['header'] });
  // A token that is not Portcullis': refused too.
  const forged = await fetch(mcpA.url, { method: 'POST', headers: { Authorization: 'Bearer abc.def.ghi' } });
  expect(forged.status).toBe(401);
  expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
});

test('npm SDK client with a metadata document (CIMD): Bob signs in, consents, the tool answers; refresh; A ≠ B', async () => {
  const name = 'Node MCP client';
  docs.serve('node', {
    client_id: docs.url('node'),
    client_name: name,
    client_uri: 'https://example.com/node-client',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  const r = await runClient(
    process.execPath,
    [NODE_CLIENT, '--server-url', mcpA.url, '--other-server-url', mcpB.url, '--client-metadata-url', docs.url('node'), '--client-name', name],
    (url) => allowAsBob(url, { signIn: true, clientName: name, screenshot: 'mcp-oauth' }),
  );
  runs.set('node-cimd', { ...r, name });
  expect(r.client_id).toBe(docs.url('node'));
  expect(docs.hits('node'), 'Portcullis fetched the document over TLS (test CA)').toBeGreaterThanOrEqual(1);
  checkRun(r, 'cimd', name);
  // Server B refused A's token for its audience; A accepted Bob's calls.
  const logB = await serverLog(mcpB);
  expect(logB.at(-1)?.status).toBe(401);
  expect(String(logB.at(-1)?.reason)).toContain('unexpected "aud" claim value');
  expect((await serverLog(mcpA)).filter((e) => e.tool === 'echo' && e.client_id === r.client_id)).toHaveLength(2);
  await checkRefreshReuse(r);
});

test('Bob has no console role: with his sign-in for MCP clients he never reaches the console', async () => {
  const me = await bobContext.request.post(`${base}/api/console/me`, { form: {} });
  expect(me.status()).toBe(401);
  await bob.goto('/overview');
  await expect(bob).toHaveURL(/\/login(\?next=%2Foverview)?$/);
  await expect(bob.getByRole('heading', { name: 'Overview' })).toHaveCount(0);
});

test('the admin sees the client on the Clients page and turns dynamic registration on', async () => {
  await admin.goto('/clients');
  await expect(admin.getByRole('heading', { name: 'Clients', level: 1 })).toBeVisible();
  const row = admin.getByTestId('client-row').filter({ hasText: 'Node MCP client' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('Metadata document · 127.0.0.1');
  await expect(row).toContainText('Unverified');
  await expect(row).toContainText(docs.url('node'));
  await expect(admin.getByTestId('registration-state')).toHaveText('Off');
  await admin.getByTestId('toggle-registration').click();
  await expect(admin.getByTestId('registration-state')).toHaveText('On');
  const meta = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
  expect(meta.registration_endpoint).toBe(`${base}/oauth/register`);
});

test('npm SDK client registers itself (DCR) once registration is on', async () => {
  const name = 'Node MCP client (DCR)';
  // Bob is still signed in for MCP clients: straight to the consent screen of this new client.
  const r = await runClient(
    process.execPath,
    [NODE_CLIENT, '--server-url', mcpA.url, '--other-server-url', mcpB.url, '--client-name', name],
    (url) => allowAsBob(url, { clientName: name }),
  );
  runs.set('node-dcr', { ...r, name });
  checkRun(r, 'dcr', name);
  // This grant stays live: the admin blocks this client below.
});

test('PyPI mcp client with a metadata document (CIMD)', async () => {
  expect(fs.existsSync(PYTHON), `${PYTHON} (the PyPI mcp SDK): run scripts/setup.sh`).toBe(true);
  const name = 'Python MCP client';
  docs.serve('python', {
    client_id: docs.url('python'),
    client_name: name,
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  const r = await runClient(
    PYTHON,
    [PY_CLIENT, '--server-url', mcpA.url, '--other-server-url', mcpB.url, '--client-metadata-url', docs.url('python'), '--client-name', name],
    (url) => allowAsBob(url, { clientName: name }),
  );
  runs.set('py-cimd', { ...r, name });
  expect(r.client_id).toBe(docs.url('python'));
  checkRun(r, 'cimd', name);
  await checkRefreshReuse(r);
});

test('PyPI mcp client registers itself (DCR)', async () => {
  expect(fs.existsSync(PYTHON), `${PYTHON} (the PyPI mcp SDK): run scripts/setup.sh`).toBe(true);
  const name = 'Python MCP client (DCR)';
  const r = await runClient(
    PYTHON,
    [PY_CLIENT, '--server-url', mcpA.url, '--other-server-url', mcpB.url, '--client-name', name],
    (url) => allowAsBob(url, { clientName: name }),
  );
  runs.set('py-dcr', { ...r, name });
  checkRun(r, 'dcr', name);
  await checkRefreshReuse(r);
});

test('the admin blocks a client from the Clients page: its tokens stop', async () => {
  const r = runs.get('node-dcr');
  test.skip(!r, 'needs the DCR run above');
  await admin.goto('/clients');
  // Every client that ran is in the inventory, once, by the name it gave.
  await expect(admin.getByTestId('clients-total')).toHaveText(`${runs.size} in all`);
  for (const run of runs.values()) {
    const exactly = new RegExp(`^${run.name.replace(/[()]/g, '\\$&')}$`);
    await expect(admin.getByTestId('client-name').filter({ hasText: exactly })).toHaveCount(1);
  }
  const row = admin.getByTestId('client-row').filter({ hasText: r!.client_id });
  await expect(row).toContainText('Registered itself');
  await expect(row).toHaveAttribute('data-status', 'active');
  await row.getByTestId('block-client').click();
  const dialog = admin.getByRole('alertdialog');
  await expect(dialog).toContainText('Block Node MCP client (DCR)?');
  await expect(dialog).toContainText('its 1 live authorizations are revoked');
  await dialog.getByRole('button', { name: 'Block client' }).click();
  const notice = admin.getByTestId('notice');
  await expect(notice).toHaveText('Client blocked — 1 live authorizations revoked');
  await expect(row).toHaveAttribute('data-status', 'blocked');
  await expect(row).toContainText('blocked by an admin');
  await notice.getByRole('button', { name: 'Dismiss' }).click();
  await expect(notice).toHaveCount(0);
  await admin.mouse.move(0, 0);
  await shot(admin, 'mcp-oauth-clients');

  // Its refresh token is refused; a new authorization goes back with access_denied.
  const refused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: r!.tokens_after_refresh.refresh_token, client_id: r!.client_id });
  expect(refused.status).toBe(401);
  expect(refused.body.error).toBe('invalid_client');
  const again = new URL(`${base}/oauth/authorize`);
  for (const [k, v] of Object.entries(r!.authorization_url as Record<string, string>)) again.searchParams.set(k, v);
  const res = await bobContext.request.get(again.href, { maxRedirects: 0 });
  expect(res.status()).toBe(303);
  const back = new URL(res.headers()['location']);
  expect(back.origin + back.pathname).toBe(r!.redirect_uri);
  expect(back.searchParams.get('error')).toBe('access_denied');
  expect(back.searchParams.get('iss')).toBe(base);
  expect(back.searchParams.get('state')).toBe(r!.authorization_url.state);
  // The console's audit log has it.
  await admin.goto('/audit');
  await expect(admin.getByTestId('audit-table')).toContainText('oauth.client.blocked');
});

test("Bob's My access page: the tools he may call, the apps he allowed; he withdraws one", async () => {
  const r = runs.get('py-cimd');
  test.skip(!r, 'needs the Python CIMD run above');
  // The admin records server A's echo tool and grants server A to Bob.
  await call(adminContext.request, 'catalog/tools/add', { server_id: serverAId, name: 'echo', read_only: 'on' });
  await call(adminContext.request, 'catalog/tools/add', { server_id: serverAId, name: 'wipe', destructive: 'on' });
  await call(adminContext.request, 'access/grants/create', {
    effect: 'allow', subject_kind: 'person', group_id: '', person: 'bob@acme.test', server_id: serverAId,
    target: 'server', annotation: '', expires_at: '', reason: 'e2e: Bob uses the sample server',
  });
  await bob.goto('/oauth/access');
  await expect(bob.getByTestId('who')).toContainText('bob@acme.test');
  const server = bob.getByTestId('server');
  await expect(server).toHaveCount(1);
  await expect(server).toContainText('mcp-a');
  await expect(server.getByTestId('tool')).toHaveText([/echo.*read-only.*granted to you/]);
  await expect(server).toContainText('1 other tool of this server not granted to you');
  // Every app Bob allowed is listed; the blocked one too (its consent stays until he withdraws it).
  const apps = bob.getByTestId('app');
  await expect(apps).toHaveCount(runs.size);
  await expect(bob.getByRole('link')).toHaveCount(0);
  await shot(bob, 'mcp-oauth-my-access');
  // Withdraw the Python CIMD client (its grants were already ended by the refresh-token
  // reuse check above; the Rust tests show a withdrawal ending live ones): the app leaves
  // the list and the audit log has it, with Bob as the actor.
  const app = apps.filter({ hasText: r!.client_id });
  await app.getByTestId('withdraw').click();
  await expect(bob.getByTestId('notice')).toContainText('can no longer act for you');
  await expect(bob.getByTestId('app')).toHaveCount(runs.size - 1);
  await admin.goto('/audit');
  await expect(admin.getByTestId('audit-table')).toContainText('oauth.consent.withdrawn');
  await expect(admin.getByTestId('audit-table')).toContainText('bob@acme.test');
  // Still no way into the console from here.
  await bob.goto('/overview');
  await expect(bob).toHaveURL(/\/login/);
});
