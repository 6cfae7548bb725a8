#!/usr/bin/env node
// Test OpenID Connect provider for the Portcullis browser tests (loopback, http, in-memory).
// Built on npm `oidc-provider` v9 (certified OP). Node 20 works; oidc-provider prints an
// "Unsupported runtime" warning on stderr, which is harmless here.
//
// Run:
//   node end2end/idp/oidc-idp.mjs --redirect-uri <url> [--redirect-uri <url2>] [--port 0]
//        [--client-id portcullis] [--client-secret portcullis-e2e-secret]
//        [--token-auth-method client_secret_basic|client_secret_post]
//        [--auto-login <accountId>]          (or env OIDC_IDP_AUTO_LOGIN=<accountId>)
//        [--groups-without-scope]            (deliver `groups` with scope openid alone)
// Prints exactly one stdout line once ready:  oidc idp listening on http://127.0.0.1:PORT
// (that URL is the issuer, no trailing slash). Stops on SIGTERM / SIGINT.
//
// Client: one static confidential client, code flow only, PKCE (S256) REQUIRED.
// Scopes -> claims: openid: sub | email: email, email_verified | profile: name | groups: groups
//
// How `groups` (and email/name) end up in the ID TOKEN: oidc-provider's default
// `conformIdTokenClaims: true` puts scope-requested claims only in /userinfo when an access
// token is also issued. We set `conformIdTokenClaims: false`, so every claim granted through
// the requested scopes (openid email profile groups) is also put in the ID token — no
// `claims` request parameter needed. The client must request the `groups` scope unless the
// IdP is started with --groups-without-scope (then `groups` is part of the `openid` scope).
//
// PKCE: oidc-provider 9's default `pkce.required` only forces PKCE for public clients
// (and FAPI 2.0); we set `pkce: { required: () => true }` so the confidential client must
// send code_challenge (S256 is the only method v9 supports).
//
// Login: /interaction/:uid shows "Acme IdP — sign in" with one button per user (no password);
// consent is granted automatically. The login prompt is requested on EVERY authorization
// request (even if an IdP session exists), so each test picks its user explicitly.
//
// Enterprise-managed authorization (ID-JAG, Okta's Cross App Access): a second static client,
// the MCP app `mcp-app` (secret `mcp-app-secret`, client_secret_basic), may trade an ID token
// of its user for an Identity Assertion JWT Authorization Grant at /token (RFC 8693 token
// exchange, `requested_token_type=urn:ietf:params:oauth:token-type:id-jag`,
// `subject_token_type=urn:ietf:params:oauth:token-type:id_token`, `audience` = the resource
// authorization server's issuer, optional `resource` and `scope`). The ID-JAG is signed with
// the provider's own key (the one its JWKS publishes), `typ: oauth-id-jag+jwt`, and carries
// the app's client id at the resource authorization server, which an administrator maps:
//   POST /test/id-jag-client   body client_id=<id at the resource AS>   (the mapping; 204)
//   GET  /test/id-token?sub=<account id>   an ID token for mcp-app, as if that user had just
//                                          signed in to the app through this IdP (the test
//                                          stand-in for the app's own code flow)
//
// Users (account id = sub):
//   alice    alice@acme.test    verified    "Alice Admin"                        portcullis-admins, engineering
//   olga     olga@acme.test     verified    "Olga Owner"                         portcullis-owners
//   aud      audrey@acme.test   verified    "Audrey Auditor"                     portcullis-auditors
//   bob      bob@acme.test      verified    "Bob Nobody"                         engineering (no console role)
//   eve      eve@acme.test      UNVERIFIED  "Eve Unverified"                     portcullis-admins
//   mallory  mallory@acme.test  verified    "<script>alert(1)</script>Mallory"  portcullis-admins

import { createSign, createVerify, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { USERS, PAGE_STYLE, escapeHtml, readForm } from './users.mjs';

function fail(message) {
  process.stderr.write(`oidc-idp: ${message}\n`);
  process.stderr.write('usage: node end2end/idp/oidc-idp.mjs --redirect-uri <url> [--redirect-uri <url>] [--port 0] '
    + '[--client-id id] [--client-secret s] [--token-auth-method client_secret_basic|client_secret_post] '
    + '[--auto-login <accountId>] [--groups-without-scope]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'redirect-uri': { type: 'string', multiple: true },
      port: { type: 'string', default: '0' },
      'client-id': { type: 'string', default: 'portcullis' },
      'client-secret': { type: 'string', default: 'portcullis-e2e-secret' },
      'token-auth-method': { type: 'string', default: 'client_secret_basic' },
      'auto-login': { type: 'string' },
      'groups-without-scope': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

const redirectUris = args['redirect-uri'] ?? [];
if (redirectUris.length === 0) fail('at least one --redirect-uri is required');
for (const uri of redirectUris) {
  let parsed;
  try { parsed = new URL(uri); } catch { fail(`--redirect-uri is not an absolute URL: ${uri}`); }
  if (!['http:', 'https:'].includes(parsed.protocol)) fail(`--redirect-uri must be http(s): ${uri}`);
  if (parsed.hash) fail(`--redirect-uri must not have a fragment: ${uri}`);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${args.port}`);
if (!args['client-id']) fail('--client-id must not be empty');
if (!args['client-secret']) fail('--client-secret must not be empty');
if (!['client_secret_basic', 'client_secret_post'].includes(args['token-auth-method'])) {
  fail(`--token-auth-method must be client_secret_basic or client_secret_post, got ${args['token-auth-method']}`);
}
const autoLogin = args['auto-login'] ?? process.env.OIDC_IDP_AUTO_LOGIN ?? undefined;
if (autoLogin !== undefined && !Object.hasOwn(USERS, autoLogin)) {
  fail(`--auto-login: unknown account "${autoLogin}" (known: ${Object.keys(USERS).join(', ')})`);
}

// Imported only after the arguments are checked, so usage errors are not buried under
// oidc-provider's load-time "Unsupported runtime" warning.
const { default: Provider, interactionPolicy, errors } = await import('oidc-provider');

// RS256 signing key, fresh per run.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

// Always request the login prompt, unless this very request is the resumed login submission.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'always_login',
  'test IdP asks for the user on every authorization request',
  (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
));

const groupsWithoutScope = args['groups-without-scope'];

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const MCP_APP = { client_id: 'mcp-app', client_secret: 'mcp-app-secret' };
/** The MCP app's client id at the resource authorization server (POST /test/id-jag-client). */
let appClientIdAtResource = '';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An RS256 JWT signed with the provider's key. */
function signJwt(header, claims) {
  const input = `${b64url({ alg: 'RS256', kid: signingJwk.kid, ...header })}.${b64url(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
}

/** The claims of a JWT this IdP signed, or undefined (bad signature, another key). */
function verifiedClaims(jwt) {
  const [h, p, s] = String(jwt ?? '').split('.');
  if (!h || !p || !s) return undefined;
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  if (header.alg !== 'RS256' || header.kid !== signingJwk.kid) return undefined;
  const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(privateKey, Buffer.from(s, 'base64url'));
  return ok ? JSON.parse(Buffer.from(p, 'base64url').toString()) : undefined;
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: args['token-auth-method'],
      id_token_signed_response_alg: 'RS256',
    }, {
      ...MCP_APP,
      redirect_uris: [],
      response_types: [],
      grant_types: [TOKEN_EXCHANGE],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: groupsWithoutScope
      ? { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] }
      : { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', ...(groupsWithoutScope ? [] : ['groups'])],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    features: {
      devInteractions: { enabled: false },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(_ctx, sub) {
      const user = USERS[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: user.email, email_verified: user.email_verified, name: user.name, groups: [...user.groups] };
        },
      };
    },
  });
  provider.proxy = false;

  // RFC 8693 token exchange for an ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §4.3);
  // oidc-provider authenticates the client before this runs.
  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const p = ctx.oidc.params;
    if (p.requested_token_type !== ID_JAG) throw new errors.InvalidRequest(`requested_token_type must be ${ID_JAG}`);
    if (p.subject_token_type !== ID_TOKEN) throw new errors.InvalidRequest(`subject_token_type must be ${ID_TOKEN}`);
    if (!p.audience) throw new errors.InvalidRequest('audience is required');
    if (!appClientIdAtResource) throw new errors.InvalidRequest('no client mapping for this audience (POST /test/id-jag-client)');
    const now = Math.floor(Date.now() / 1000);
    const subject = verifiedClaims(p.subject_token);
    if (!subject || subject.iss !== issuer || subject.aud !== ctx.oidc.client.clientId || subject.exp < now) {
      throw new errors.InvalidGrant('subject_token is not a valid ID token of this IdP for this client');
    }
    const user = USERS[subject.sub];
    if (!user) throw new errors.InvalidGrant('unknown user');
    const claims = {
      iss: issuer, sub: subject.sub, aud: p.audience, client_id: appClientIdAtResource, jti: randomUUID(),
      iat: now, exp: now + 300, email: user.email, email_verified: user.email_verified,
      ...(p.resource ? { resource: p.resource } : {}), ...(p.scope ? { scope: p.scope } : {}),
    };
    ctx.body = {
      issued_token_type: ID_JAG,
      access_token: signJwt({ typ: 'oauth-id-jag+jwt' }, claims),
      token_type: 'N_A',
      expires_in: 300,
      ...(p.scope ? { scope: p.scope } : {}),
    };
  }, ['requested_token_type', 'subject_token', 'subject_token_type', 'audience', 'resource', 'scope']);

  for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => {
      process.stderr.write(`oidc-idp: ${event}: ${err?.name ?? ''} ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}\n`);
    });
  }

  const providerCallback = provider.callback();

  function loginPage(uid, clientId) {
    const buttons = Object.entries(USERS).map(([id, u]) => (
      `      <button type="submit" name="user" value="${escapeHtml(id)}">Sign in as ${escapeHtml(u.name)}</button>`
    )).join('\n');
    return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Acme IdP — sign in</title>
  <style>${PAGE_STYLE}</style>
</head>
<body>
  <main>
    <h1>Acme IdP — sign in</h1>
    <p>Test identity provider. Choose a user to continue to <strong>${escapeHtml(clientId)}</strong>.</p>
    <form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
${buttons}
    </form>
  </main>
</body>
</html>
`;
  }

  async function grantConsent(req, res, details) {
    const { prompt: { details: missing }, params, session } = details;
    let grant;
    if (details.grantId) grant = await provider.Grant.find(details.grantId);
    if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  function sendHtml(res, status, html) {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      // No form-action directive: Chromium applies it to the redirect chain that ends at the client.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
    });
    res.end(html);
  }

  async function handleInteraction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      sendHtml(res, 400, '<!doctype html><title>Error</title><p>interaction mismatch</p>');
      return;
    }
    const promptName = details.prompt.name;

    if (action === '' && req.method === 'GET') {
      if (promptName === 'consent') {
        await grantConsent(req, res, details);
        return;
      }
      if (promptName === 'login' && autoLogin) {
        await provider.interactionFinished(req, res, { login: { accountId: autoLogin } }, { mergeWithLastSubmission: false });
        return;
      }
      if (promptName === 'login') {
        sendHtml(res, 200, loginPage(uid, details.params.client_id));
        return;
      }
      sendHtml(res, 400, `<!doctype html><title>Error</title><p>unsupported prompt ${escapeHtml(promptName)}</p>`);
      return;
    }

    if (action === '/login' && req.method === 'POST') {
      const form = await readForm(req);
      const accountId = form.get('user');
      if (promptName !== 'login') {
        sendHtml(res, 400, '<!doctype html><title>Error</title><p>no login pending for this interaction</p>');
        return;
      }
      if (!accountId || !Object.hasOwn(USERS, accountId)) {
        sendHtml(res, 400, `<!doctype html><title>Error</title><p>unknown user ${escapeHtml(accountId ?? '')}</p>`);
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
      return;
    }

    res.writeHead(405, { 'Content-Type': 'text/plain' });
    res.end('method not allowed\n');
  }

  async function handleTest(req, res, url) {
    if (url.pathname === '/test/id-jag-client' && req.method === 'POST') {
      appClientIdAtResource = (await readForm(req)).get('client_id') ?? '';
      res.writeHead(204).end();
      return;
    }
    const sub = url.searchParams.get('sub') ?? '';
    if (url.pathname === '/test/id-token' && req.method === 'GET' && Object.hasOwn(USERS, sub)) {
      const now = Math.floor(Date.now() / 1000);
      const idToken = signJwt({ typ: 'JWT' }, { iss: issuer, sub, aud: MCP_APP.client_id, iat: now, exp: now + 300, email: USERS[sub].email });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify({ id_token: idToken }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    const path = url.pathname;
    if (path.startsWith('/test/')) {
      handleTest(req, res, url).catch((err) => {
        process.stderr.write(`oidc-idp: test endpoint error: ${err?.message ?? err}\n`);
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(path);
    if (!m) {
      providerCallback(req, res);
      return;
    }
    handleInteraction(req, res, m[1], m[2] ?? '').catch((err) => {
      process.stderr.write(`oidc-idp: interaction error: ${err?.name ?? ''} ${err?.message ?? err}\n`);
      if (!res.headersSent) {
        sendHtml(res, err?.statusCode ?? 500, `<!doctype html><title>Error</title><p>${escapeHtml(err?.error_description ?? err?.message ?? 'error')}</p>`);
      } else {
        res.end();
      }
    });
  });

  process.stdout.write(`oidc idp listening on ${issuer}\n`);
});

server.on('error', (err) => {
  process.stderr.write(`oidc-idp: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
