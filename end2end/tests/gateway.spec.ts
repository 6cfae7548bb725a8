// portcullis-gateway end to end, with real MCP SDK clients and servers. Everything runs on
// loopback, started by this file:
//   - the console (a fresh one), with the test OIDC IdP (npm `oidc-provider`) behind an SSO
//     connection for acme.test and a SCIM directory where Bob (bob@acme.test) is
//     provisioned; dynamic client registration on;
//   - two upstream MCP servers: A (end2end/mcp/upstream-server.mjs, npm
//     `@modelcontextprotocol/sdk`, stateless JSON, accepts only the gateway's own credential)
//     and B (crates/discovery/examples/rmcp_server.rs, the Rust SDK `rmcp`, sessions and SSE);
//   - portcullis-gateway in front of both, at <gateway>/a and <gateway>/b, which are the
//     servers' resource URLs in the console's catalog; the console lists the gateway and its
//     policy revision.
// Bob's MCP clients, the npm SDK (end2end/mcp/gateway-client.mjs) and the PyPI `mcp` SDK
// (end2end/mcp/gateway_client.py), find Portcullis through the gateway's 401 and its RFC
// 9728 document, register, and get tokens from the console (Bob signs in through the IdP in
// Chromium and allows). Then, driven step by step: the tools Bob may call are listed and
// work, the others are absent and refused with the reason; an upstream that changes a tool
// gets that tool refused at the next call and quarantined in the console; revoking a grant
// is enforced within a second; deactivating Bob over SCIM is enforced at the next
// revision; every decision reaches the audit log exactly once; with the console stopped the
// gateway keeps enforcing, and a restarted gateway starts from its saved bundle.
// Screenshots (light and dark): artifacts/screenshots/gateway-{gateways,quarantined,audit}[-dark].png.
import { test, expect, screenshotPath, repoRoot } from './fixtures';
import { acceptIdJags, consoleCall, setUpAcme, type Acme } from './acme';
import type { APIRequestContext, BrowserContext, Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { startChild, startSession, jwtClaims, mcpDir, end2endDir, type Child, type McpSession } from '../mcp/support';

test.use({ serverEnv: { PORTCULLIS_FETCH_ALLOWED_HOSTS: '127.0.0.1' } });
test.describe.configure({ mode: 'serial' });

const UPSTREAM_SECRET = 'only-the-gateway-knows-this';
const PYTHON = path.join(end2endDir, '.venv', 'bin', 'python');

function binary(env: string, ...candidates: string[]): string {
  const fromEnv = process.env[env];
  if (fromEnv) return path.resolve(end2endDir, fromEnv);
  const found = candidates.map((c) => path.join(repoRoot, c)).find((p) => fs.existsSync(p));
  if (!found) throw new Error(`none of ${candidates.join(', ')} exists: build them (cargo test --workspace) or set ${env}`);
  return found;
}
const GATEWAY_BIN = binary('PORTCULLIS_GATEWAY_BIN', 'target/debug/portcullis-gateway', 'target/release/portcullis-gateway');
const RMCP_BIN = binary('PORTCULLIS_RMCP_SERVER_BIN', 'target/debug/examples/rmcp_server');

let base = '';
let stopConsole: () => Promise<void>;
let idp: Child;
let upstreamA: Child;
let upstreamB: Child;
let gateway: Gateway;
let stateDir = '';
let serverB = '';
let configFile = '';
let gw = '';
let adminContext: BrowserContext;
let bobContext: BrowserContext;
let admin: Page;
let bob: Page;
let dir: Acme['dir'];
let acme: Acme;
let bobId = '';
let serverA = '';
let grantA = '';
let node: McpSession;
let python: McpSession;
/** tools/call requests that reached a decision at the gateway while the console was up. */
let decided = 0;

interface Gateway {
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts the gateway with `configFile`; resolves once /readyz says it has a bundle. */
async function startGateway(): Promise<Gateway> {
  const child = spawn(GATEWAY_BIN, ['--config', configFile, '--log-format', 'text'], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const g: Gateway = {
    process: child,
    log: () => log,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`portcullis-gateway exited (${child.exitCode}):\n${log}`);
    const ready = await fetch(`${gw}/readyz`).then((r) => r.status, () => 0);
    if (ready === 200) return g;
    if (Date.now() > deadline) {
      await g.stop();
      throw new Error(`portcullis-gateway not ready within 20 s (last /readyz: ${ready}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A console server function with form fields, as the signed-in owner. */
function call(request: APIRequestContext, name: string, form: Record<string, string>) {
  return consoleCall(request, base, name, form);
}

async function scimActive(active: boolean) {
  const res = await fetch(`${dir.base_url}/Users/${bobId}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${dir.token}`, 'Content-Type': 'application/scim+json' },
    body: JSON.stringify({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: active }],
    }),
  });
  expect(res.status, await res.text()).toBe(200);
}

async function upstreamLog(server: Child): Promise<Array<Record<string, string | number>>> {
  return (await fetch(new URL('/log', server.url))).json();
}

/** A tools/call through a client; counts it as a decision. */
async function callTool(session: McpSession, name: string, args: Record<string, unknown> = {}) {
  decided += 1;
  return session.send({ op: 'call', name, arguments: args });
}

async function listTools(session: McpSession): Promise<string[]> {
  return (await session.send({ op: 'list' })).tools;
}

async function shot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: screenshotPath(`${name}-dark`), fullPage: true, animations: 'disabled' });
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Bob in his browser: signs in through the IdP when asked, then allows the client. */
async function allowAsBob(url: string, clientName: string, serverName: string) {
  await bob.goto(url);
  const signIn = bob.getByRole('heading', { name: 'Sign in to continue' });
  const consent = bob.getByRole('heading', { name: `Allow ${clientName}` });
  await expect(signIn.or(consent)).toBeVisible();
  if (await signIn.isVisible()) {
    await expect(bob.getByText(`${clientName} wants to use ${serverName} as you`)).toBeVisible();
    await bob.getByLabel('Work email').fill('bob@acme.test');
    await bob.getByRole('button', { name: 'Continue' }).click();
    await bob.getByRole('button', { name: 'Sign in as Bob Nobody' }).click();
  }
  await expect(consent).toBeVisible();
  await expect(bob.getByText(`to use ${serverName} as bob@acme.test`)).toBeVisible();
  await bob.getByRole('button', { name: 'Allow' }).click();
  await expect(bob.getByTestId('client-callback')).toContainText('You can close this window');
}

/** The refusal the gateway sends for a tool: JSON-RPC -32003 naming only that tool. */
function expectRefused(out: Record<string, any>, tool: string, reason: string, others: string[]) {
  expect(out.result, JSON.stringify(out)).toBeUndefined();
  expect(out.error.code).toBe(-32003);
  expect(out.error.data).toEqual({ reason });
  expect(out.error.message).toContain(`Tool call refused: ${tool}:`);
  for (const other of others) expect(out.error.message).not.toContain(other);
}

async function gatewayDecisions(): Promise<Array<Record<string, any>>> {
  const page = await call(adminContext.request, 'audit/explore', { 'q[action]': 'gateway.decision', 'q[limit]': '200' });
  return page.items;
}

test.beforeAll(async ({ serverPool, browser }, testInfo) => {
  test.setTimeout(120_000);
  const server = await serverPool.get(testInfo.file);
  base = server.baseURL;
  stopConsole = server.stop;

  idp = await startChild(
    process.execPath,
    [path.join(repoRoot, 'end2end', 'idp', 'oidc-idp.mjs'), '--redirect-uri', `${base}/sso/oidc/acme/callback`],
    /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    'oidc-idp.mjs',
  );
  [upstreamA, upstreamB] = await Promise.all([
    startChild(
      process.execPath,
      [path.join(mcpDir, 'upstream-server.mjs'), '--name', 'A', '--secret', UPSTREAM_SECRET],
      /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
      'upstream MCP server A (npm SDK)',
    ),
    startChild(RMCP_BIN, [], /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/, 'upstream MCP server B (rmcp)'),
  ]);
  // The gateway's port is picked only now, after the children bound theirs (port 0): picked
  // first, the kernel could hand the same port to one of them before the gateway binds it.
  const port = await freePort();
  gw = `http://127.0.0.1:${port}`;

  // The owner sets the console up through its server functions.
  adminContext = await browser.newContext({ baseURL: base });
  admin = await adminContext.newPage();
  const request = adminContext.request;
  acme = await setUpAcme(request, base, server.setupURL, idp.url);
  ({ dir, bobId } = acme);
  await call(request, 'clients/policy', { registration_enabled: 'on', approval_required: '' });

  // The catalog: each server's resource URL is its path on the gateway; discovery
  // reaches the upstream itself (A with its credential).
  serverA = await call(request, 'catalog/servers/create', { name: 'Notes', slug: 'notes', resource_url: `${gw}/a` });
  serverB = await call(request, 'catalog/servers/create', { name: 'Issues', slug: 'issues', resource_url: `${gw}/b` });
  const foundA = await call(request, 'catalog/servers/discover', { id: serverA, url: upstreamA.url, credential: UPSTREAM_SECRET });
  const foundB = await call(request, 'catalog/servers/discover', { id: serverB, url: upstreamB.url, credential: '' });
  expect(foundA).toMatchObject({ found: 3, added: 3, quarantined: [] });
  expect(foundB).toMatchObject({ found: 3, added: 3, quarantined: [] });
  const grant = (server_id: string, tools: string[]) => ({
    effect: 'allow', subject_kind: 'person', group_id: '', person: 'bob@acme.test', server_id,
    target: 'tools', ...Object.fromEntries(tools.map((t, i) => [`tools[${i}]`, t])),
    annotation: '', expires_at: '', reason: 'e2e: Bob uses these tools',
  });
  grantA = (await call(request, 'access/grants/create', grant(serverA, ['echo', 'search']))).id;
  await call(request, 'access/grants/create', grant(serverB, ['search']));
  const credential = await call(request, 'gateways/create', {
    name: 'edge-e2e',
    description: 'portcullis-gateway in front of the npm and rmcp servers',
    'server_ids[0]': serverA,
    'server_ids[1]': serverB,
  });
  expect(credential.token).toMatch(/^pcg_/);

  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-gateway-e2e-'));
  configFile = path.join(stateDir, 'gateway.toml');
  fs.writeFileSync(
    configFile,
    [
      `listen = "127.0.0.1:${port}"`,
      `state_dir = "${path.join(stateDir, 'state')}"`,
      '# Every tools/call first checks the live definitions (a rug pull is caught at the next call).',
      'pin_max_age_secs = 0',
      '[console]',
      `url = "${base}"`,
      `issuer = "${base}"`,
      `credential = "${credential.token}"`,
      'poll_wait_secs = 20',
      '[[upstream]]',
      `resource = "${gw}/a"`,
      `url = "${upstreamA.url}"`,
      `headers = { Authorization = "Bearer ${UPSTREAM_SECRET}" }`,
      '[[upstream]]',
      `resource = "${gw}/b"`,
      `url = "${upstreamB.url}"`,
      '',
    ].join('\n'),
  );
  gateway = await startGateway();

  bobContext = await browser.newContext({ baseURL: base });
  bob = await bobContext.newPage();
});

test.afterAll(async () => {
  await Promise.all([node?.close(), python?.close()].map((p) => p?.catch(() => undefined)));
  await adminContext?.close();
  await bobContext?.close();
  await Promise.all([gateway?.stop(), idp?.stop(), upstreamA?.stop(), upstreamB?.stop()]);
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
});

test('without a token the gateway answers 401 naming its RFC 9728 document, which points to Portcullis', async () => {
  const seen = (await upstreamLog(upstreamA)).length; // the console's discovery
  const res = await fetch(`${gw}/a`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(res.status).toBe(401);
  const prmUrl = `${gw}/.well-known/oauth-protected-resource/a`;
  expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${prmUrl}"`);
  const prm = await (await fetch(prmUrl)).json();
  expect(prm).toMatchObject({ resource: `${gw}/a`, authorization_servers: [base] });
  expect((await upstreamLog(upstreamA)).length, 'nothing reached the upstream').toBe(seen);
});

test('npm SDK client → gateway → npm SDK server: granted tools listed and working, the rest absent and refused', async () => {
  const name = 'Node MCP client (gateway)';
  node = await startSession(process.execPath, [path.join(mcpDir, 'gateway-client.mjs'), '--server-url', `${gw}/a`, '--client-name', name], (url) =>
    allowAsBob(url, name, 'Notes'),
  );
  const { access_token } = await node.send({ op: 'token' });
  expect(jwtClaims(access_token)).toMatchObject({ iss: base, aud: `${gw}/a`, sub: bobId });

  expect(await listTools(node)).toEqual(['echo', 'search']);
  expect(await callTool(node, 'echo', { message: 'hello through the gateway' })).toEqual({
    result: { server: 'A', tool: 'echo', message: 'hello through the gateway' },
  });
  expectRefused(await callTool(node, 'wipe'), 'wipe', 'no_grant', ['echo', 'search']);
  // The upstream saw only the gateway's credential (never Bob's token), and no wipe.
  const log = await upstreamLog(upstreamA);
  expect(log.filter((e) => e.credential !== 'gateway')).toEqual([]);
  expect(log.filter((e) => e.method === 'tools/call').map((e) => e.tool)).toEqual(['echo']);
});

test('PyPI mcp client → gateway → rmcp server (sessions, SSE): the same rules', async () => {
  expect(fs.existsSync(PYTHON), `${PYTHON} (the PyPI mcp SDK): run scripts/setup.sh`).toBe(true);
  const name = 'Python MCP client (gateway)';
  python = await startSession(PYTHON, [path.join(mcpDir, 'gateway_client.py'), '--server-url', `${gw}/b`, '--client-name', name], (url) =>
    allowAsBob(url, name, 'Issues'),
  );
  expect(await listTools(python)).toEqual(['search']);
  const ok = await callTool(python, 'search', { q: 'open bugs' });
  expect(ok).toEqual({ result: 'called search with {"q":"open bugs"}' });
  expectRefused(await callTool(python, 'delete_repo'), 'delete_repo', 'no_grant', ['search', 'list_issues']);
  expectRefused(await callTool(python, 'list_issues'), 'list_issues', 'no_grant', ['search', 'delete_repo']);
  // A token for A is refused at B (audience).
  const { access_token } = await node.send({ op: 'token' });
  const res = await fetch(`${gw}/b`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${access_token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
});

test('an agent (PyPI mcp, client_credentials with private_key_jwt) → gateway → rmcp server: its own grant only', async () => {
  // The agent's Ed25519 key pair: the console gets the public JWK, the client the PEM.
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'agent-key-1', alg: 'EdDSA', use: 'sig' };
  const keyFile = path.join(stateDir, 'agent-key.pem');
  fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const request = adminContext.request;
  const made = await call(request, 'agents/create', {
    name: 'Issue triage bot', description: 'e2e: labels issues', owner_kind: 'user', owner_person: 'bob@acme.test',
    owner_group: '', credential: 'jwks', jwks: JSON.stringify({ keys: [jwk] }), jwks_uri: '', expires_days: '',
  });
  const agentId: string = made.agent.id;
  expect(agentId).toMatch(/^agt_/);
  expect(made.client_secret).toBeNull();
  // Bob may call search on B; the agent gets list_issues only.
  const granted = await call(request, 'access/grants/create', {
    effect: 'allow', subject_kind: 'agent', agent_id: agentId, group_id: '', person: '', server_id: serverB,
    target: 'tools', 'tools[0]': 'list_issues', annotation: '', expires_at: '', reason: 'e2e: the agent lists issues',
  });
  await expect.poll(async () => (await fetch(`${gw}/readyz`).then((r) => r.json())).revision, { timeout: 10_000 }).toBeGreaterThanOrEqual(granted.revision);
  const agent = await startSession(
    PYTHON,
    [path.join(mcpDir, 'agent_client.py'), '--server-url', `${gw}/b`, '--issuer', base, '--client-id', agentId, '--key-file', keyFile],
    async () => {
      throw new Error('an agent never goes through a browser');
    },
  );
  try {
    const { access_token } = await agent.send({ op: 'token' });
    expect(jwtClaims(access_token)).toMatchObject({ iss: base, aud: `${gw}/b`, sub: agentId, client_id: agentId });
    expect(await listTools(agent)).toEqual(['list_issues']);
    expect(await callTool(agent, 'list_issues', { q: 'triage' })).toEqual({ result: 'called list_issues with {"q":"triage"}' });
    expectRefused(await callTool(agent, 'search', { q: 'x' }), 'search', 'no_grant', ['list_issues', 'delete_repo']);
  } finally {
    await agent.close();
  }
});

test('an app with enterprise-managed authorization (PyPI mcp, ID-JAG from the IdP) → gateway: Bob\'s tools, no consent screen', async () => {
  // The app is pre-registered here (confidential: the SDK's provider needs a secret), the IdP
  // maps its own client `mcp-app` to that client id, and the connection accepts the IdP's ID-JAGs.
  const request = adminContext.request;
  const app = await call(request, 'clients/create', {
    name: 'Acme chat (enterprise-managed)', redirect_uris: 'http://127.0.0.1:5555/callback', confidential: 'on', jwks_uri: '',
  });
  expect(app.client_secret).toBeTruthy();
  expect((await fetch(`${idp.url}/test/id-jag-client`, { method: 'POST', body: new URLSearchParams({ client_id: app.client_id }) })).status).toBe(204);
  await acceptIdJags(request, base, acme, idp.url);
  const session = await startSession(
    PYTHON,
    [
      path.join(mcpDir, 'id_jag_client.py'), '--server-url', `${gw}/b`, '--issuer', base,
      '--client-id', app.client_id, '--client-secret', app.client_secret, '--idp', idp.url, '--user', 'bob',
    ],
    async () => {
      throw new Error('enterprise-managed authorization never shows a browser');
    },
  );
  try {
    const { access_token } = await session.send({ op: 'token' });
    expect(jwtClaims(access_token)).toMatchObject({ iss: base, aud: `${gw}/b`, sub: bobId, client_id: app.client_id });
    // Bob's grant on B (search), nothing more: the IdP let the app ask, Portcullis decides the tools.
    expect(await listTools(session)).toEqual(['search']);
    expect(await callTool(session, 'search', { q: 'via the IdP' })).toEqual({ result: 'called search with {"q":"via the IdP"}' });
    expectRefused(await callTool(session, 'delete_repo'), 'delete_repo', 'no_grant', ['search', 'list_issues']);
  } finally {
    await session.close();
  }
  // The issuance is in the audit log with the IdP's assertion named.
  const issued = await call(request, 'audit/explore', { 'q[action]': 'oauth.token.issued', 'q[limit]': '200' });
  const viaIdJag = issued.items.filter((e: any) => e.details?.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  expect(viaIdJag).toHaveLength(1);
  expect(viaIdJag[0].details).toMatchObject({ person: bobId, id_jag: { issuer: idp.url, subject: 'bob' } });
});

test('an upstream that changes a tool gets it refused at the next call and quarantined in the console', async () => {
  expect(await callTool(node, 'search', { query: 'before' })).toEqual({ result: { server: 'A', tool: 'search', query: 'before' } });
  expect((await fetch(new URL('/change?tool=search', upstreamA.url), { method: 'POST' })).status).toBe(204);
  // The very next call, before any client listed the tools again.
  expectRefused(await callTool(node, 'search', { query: 'after' }), 'search', 'definition_changed', ['echo', 'wipe']);
  expect(await listTools(node)).toEqual(['echo']);
  expect((await upstreamLog(upstreamA)).filter((e) => e.tool === 'search').length, 'the changed tool never ran').toBe(1);
  // The console quarantined it, with the new definition to review. The gateway reports the
  // change in the background (retrying while the console is busy), so the page is read again
  // until the report has landed.
  await expect(async () => {
    await admin.goto(`/catalog/servers/${serverA}`);
    await expect(admin.getByTestId('quarantine-banner')).toContainText('1 quarantined', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  const row = admin.locator('[data-testid="tool-row"][data-name="search"]');
  await expect(row).toContainText(/quarantined/i);
  await row.getByRole('link').first().click();
  await expect(admin.getByTestId('definition-diff')).toContainText('Ignore previous instructions');
  await admin.mouse.move(0, 0);
  await shot(admin, 'gateway-quarantined');
});

test('revoking the grant in the console is enforced within a second', async () => {
  await node.send({ op: 'list' });
  const revokedAt = Date.now();
  await call(adminContext.request, 'access/grants/revoke', { id: grantA });
  let out: Record<string, any>;
  for (;;) {
    out = await callTool(node, 'echo', { message: 'still there?' });
    if (out.error || Date.now() - revokedAt > 5_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const took = Date.now() - revokedAt;
  expectRefused(out, 'echo', 'no_grant', ['search', 'wipe']);
  expect(took, `refused ${took} ms after the revocation`).toBeLessThan(1_000);
  expect(await listTools(node)).toEqual([]);
});

test('deactivating Bob over SCIM is enforced at the next revision; reactivating him restores access', async () => {
  expect((await callTool(python, 'search', { q: 'x' })).result).toBeDefined();
  const before = Date.now();
  await scimActive(false);
  let out: Record<string, any>;
  do {
    out = await callTool(python, 'search', { q: 'x' });
  } while (!out.error && Date.now() - before < 5_000);
  expectRefused(out, 'search', 'inactive_principal', ['list_issues', 'delete_repo']);
  await scimActive(true);
  const again = Date.now();
  do {
    out = await callTool(python, 'search', { q: 'y' });
  } while (out.error && Date.now() - again < 5_000);
  expect(out).toEqual({ result: 'called search with {"q":"y"}' });
});

test('every decision is in the audit log exactly once; the Gateways page shows what the gateway enforces', async () => {
  let rows: Array<Record<string, any>> = [];
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    rows = await gatewayDecisions();
    if (rows.length >= decided) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  // A little longer: nothing arrives twice.
  await new Promise((r) => setTimeout(r, 1_500));
  rows = await gatewayDecisions();
  expect(rows).toHaveLength(decided);
  expect(new Set(rows.map((r) => r.details.id)).size).toBe(decided);
  expect(rows.every((r) => r.actor_display === 'gateway edge-e2e')).toBe(true);
  const denied = rows.filter((r) => r.outcome === 'denied').map((r) => `${r.details.tool}:${r.details.reason}`);
  expect(denied).toContain('wipe:no_grant');
  expect(denied).toContain('search:definition_changed');
  expect(denied).toContain('search:inactive_principal');

  await admin.goto('/gateways');
  const row = admin.locator('[data-testid="gateway-row"][data-name="edge-e2e"]');
  await expect(row).toContainText('Up to date');
  await expect(row).toContainText('portcullis-gateway');
  await expect(admin.getByTestId('rollout-headline')).toHaveText('1 of 1 gateway enforces the current policy');
  await admin.mouse.move(0, 0);
  await shot(admin, 'gateway-gateways');
  await admin.goto('/audit');
  await expect(admin.getByTestId('audit-table')).toContainText('gateway.decision');
  await shot(admin, 'gateway-audit');
});

test('with the console stopped the gateway keeps enforcing; restarted, it starts from its saved bundle', async () => {
  await stopConsole();
  expect(await callTool(python, 'search', { q: 'console down' })).toEqual({ result: 'called search with {"q":"console down"}' });
  expectRefused(await callTool(python, 'delete_repo'), 'delete_repo', 'no_grant', ['search']);
  await gateway.stop();
  expect(fs.existsSync(path.join(stateDir, 'state', 'policy', 'bundle.jws'))).toBe(true);
  gateway = await startGateway();
  expect(gateway.log()).toMatch(/saved|restor/i);
  expect(await listTools(python)).toEqual(['search']);
  expect(await callTool(python, 'search', { q: 'restarted' })).toEqual({ result: 'called search with {"q":"restarted"}' });
  expectRefused(await callTool(python, 'delete_repo'), 'delete_repo', 'no_grant', ['search']);
  expectRefused(await callTool(node, 'echo', { message: 'revoked before' }), 'echo', 'no_grant', ['search', 'wipe']);
  // The decisions made meanwhile wait in the spool for the console.
  const spool = path.join(stateDir, 'state', 'decisions.spool');
  await expect.poll(() => (fs.existsSync(spool) ? fs.readFileSync(spool, 'utf8').trim().split('\n').length : 0), { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
});
