#!/usr/bin/env node
// Self-test for end2end/idp/oidc-idp.mjs: starts the IdP as child processes on port 0 and
// runs the authorization code + PKCE (S256) flow against it with plain fetch + a tiny cookie jar.
//   1. discovery document (issuer, endpoints, S256)
//   2. --auto-login alice: authorize -> redirect_uri?code&state -> token (client_secret_basic
//      + code_verifier) -> ID token checked (RS256 signature via JWKS, iss, aud, nonce, claims)
//   3. PKCE is required: an authorization request without code_challenge is refused
//   4. login page (no auto-login): title, one button per user, hostile name escaped;
//      POST user=bob -> ID token sub=bob, groups [engineering]; login page shown again later
//   5. --token-auth-method client_secret_post with --auto-login eve (email_verified=false)
// Run: node end2end/idp/oidc-selftest.mjs      (exit 0 = all checks passed)

import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const IDP = fileURLToPath(new URL('./oidc-idp.mjs', import.meta.url));
const REDIRECT_URI = 'http://127.0.0.1:1/auth/oidc/callback';
const CLIENT_ID = 'portcullis';
const CLIENT_SECRET = 'portcullis-e2e-secret';

const children = [];
let failures = 0;

function check(label, ok, detail = '') {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? ` — ${detail}` : ''}\n`);
  if (!ok) failures += 1;
  return ok;
}

function startIdp(extraArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [IDP, '--redirect-uri', REDIRECT_URI, '--port', '0', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`IdP did not start in 15s; stderr: ${err}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^oidc idp listening on (http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, issuer: m[1], stderr: () => err }); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`IdP exited early (${code}); stderr: ${err}`)); });
  });
}

function stopAll() {
  return Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', resolve);
    child.kill('SIGTERM');
  })));
}

// Minimal cookie jar honouring Path and deletion; enough for one host.
class Jar {
  cookies = new Map(); // key name|path -> {name, value, path}

  store(res) {
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name}|${path}`;
      if (expired || value === '') this.cookies.delete(key); else this.cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

async function request(jar, url, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

// Follows redirects inside the IdP until we are sent to the client's redirect_uri.
async function followToRedirectUri(jar, startUrl, firstInit) {
  let url = startUrl;
  let init = firstInit;
  for (let hop = 0; hop < 12; hop += 1) {
    const res = await request(jar, url, init);
    init = undefined;
    const location = res.headers.get('location');
    if (![302, 303].includes(res.status) || !location) {
      throw new Error(`expected a redirect from ${url}, got ${res.status}: ${(await res.text()).slice(0, 300)}`);
    }
    const next = new URL(location, url).href;
    if (next.startsWith(REDIRECT_URI)) return new URL(next);
    url = next;
  }
  throw new Error('too many redirects');
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function newAuthRequest(issuerConfig, { pkce = true } = {}) {
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const url = new URL(issuerConfig.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile groups',
    state,
    nonce,
    ...(pkce ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
  }).toString();
  return { url: url.href, state, nonce, verifier };
}

async function exchange(config, code, verifier, { post = false } = {}) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (post) {
    body.set('client_id', CLIENT_ID);
    body.set('client_secret', CLIENT_SECRET);
  } else {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;
  }
  const res = await fetch(config.token_endpoint, { method: 'POST', headers, body });
  return { status: res.status, body: await res.json() };
}

async function verifyIdToken(config, idToken) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const jwks = await (await fetch(config.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  const sigOk = !!jwk && verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  return { header, payload, sigOk };
}

async function main() {
  // --- A: auto-login alice --------------------------------------------------------------
  const a = await startIdp(['--auto-login', 'alice']);
  check('IdP started', true, a.issuer);
  const config = await (await fetch(`${a.issuer}/.well-known/openid-configuration`)).json();
  check('discovery issuer = listening URL', config.issuer === a.issuer, config.issuer);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) check(`discovery has ${k}`, typeof config[k] === 'string', config[k]);
  check('code_challenge_methods_supported includes S256', config.code_challenge_methods_supported?.includes('S256'), JSON.stringify(config.code_challenge_methods_supported));
  check('scopes_supported includes groups', config.scopes_supported?.includes('groups'), JSON.stringify(config.scopes_supported));

  const jar = new Jar();
  const ar = newAuthRequest(config);
  const cb = await followToRedirectUri(jar, ar.url);
  const code = cb.searchParams.get('code');
  check('redirected to redirect_uri with code', !!code, `${cb.origin}${cb.pathname}`);
  check('state echoed', cb.searchParams.get('state') === ar.state);
  check('iss in authorization response (RFC 9207)', cb.searchParams.get('iss') === a.issuer);

  const noVerifier = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'bogus', redirect_uri: REDIRECT_URI }),
  });
  check('token endpoint rejects bogus code', noVerifier.status === 400);

  const tok = await exchange(config, code, ar.verifier);
  check('token exchange (client_secret_basic + code_verifier) -> 200', tok.status === 200, tok.status === 200 ? '' : JSON.stringify(tok.body));
  const { header, payload, sigOk } = await verifyIdToken(config, tok.body.id_token);
  check('ID token alg RS256', header.alg === 'RS256');
  check('ID token signature verifies with JWKS', sigOk);
  check('iss', payload.iss === a.issuer, payload.iss);
  check('aud = portcullis', payload.aud === CLIENT_ID || (Array.isArray(payload.aud) && payload.aud.length === 1 && payload.aud[0] === CLIENT_ID), JSON.stringify(payload.aud));
  check('nonce', payload.nonce === ar.nonce);
  check('sub = alice', payload.sub === 'alice');
  check('email', payload.email === 'alice@acme.test', payload.email);
  check('email_verified = true', payload.email_verified === true);
  check('name', payload.name === 'Alice Admin', payload.name);
  check('groups in ID token', JSON.stringify(payload.groups) === JSON.stringify(['portcullis-admins', 'engineering']), JSON.stringify(payload.groups));

  const replay = await exchange(config, code, ar.verifier);
  check('code cannot be redeemed twice', replay.status === 400, replay.body.error);

  const ar2 = newAuthRequest(config);
  const cb2 = await followToRedirectUri(new Jar(), ar2.url);
  const bad = await exchange(config, cb2.searchParams.get('code'), b64url(randomBytes(32)));
  check('wrong code_verifier rejected', bad.status === 400 && bad.body.error === 'invalid_grant', bad.body.error);

  const noPkce = newAuthRequest(config, { pkce: false });
  const cb3 = await followToRedirectUri(new Jar(), noPkce.url);
  check('authorization without code_challenge refused (PKCE required)', cb3.searchParams.get('error') === 'invalid_request' && !cb3.searchParams.get('code'),
    `${cb3.searchParams.get('error')}: ${cb3.searchParams.get('error_description')}`);

  // --- B: interactive login page -------------------------------------------------------
  const b = await startIdp([]);
  const configB = await (await fetch(`${b.issuer}/.well-known/openid-configuration`)).json();
  const jarB = new Jar();
  const arB = newAuthRequest(configB);
  const first = await request(jarB, arB.url);
  const interactionUrl = new URL(first.headers.get('location'), arB.url).href;
  const page = await request(jarB, interactionUrl);
  const html = await page.text();
  check('login page 200 text/html', page.status === 200 && page.headers.get('content-type').startsWith('text/html'));
  check('login page title', html.includes('<title>Acme IdP — sign in</title>'));
  check('button per user', ['alice', 'olga', 'aud', 'bob', 'eve', 'mallory'].every((u) => html.includes(`name="user" value="${u}"`)));
  check('button text "Sign in as Alice Admin"', html.includes('>Sign in as Alice Admin</button>'));
  check('hostile name HTML-escaped', html.includes('Sign in as &lt;script&gt;alert(1)&lt;/script&gt;Mallory') && !html.includes('<script>'));
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const cbB = await followToRedirectUri(jarB, new URL(action, interactionUrl).href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: 'bob' }),
  });
  const tokB = await exchange(configB, cbB.searchParams.get('code'), arB.verifier);
  const idB = (await verifyIdToken(configB, tokB.body.id_token)).payload;
  check('clicked "bob": ID token sub=bob, groups [engineering]', idB.sub === 'bob' && JSON.stringify(idB.groups) === '["engineering"]', `${idB.sub} ${JSON.stringify(idB.groups)}`);

  // Same browser (IdP session exists) -> login page is shown again, not a silent login.
  const again = await request(jarB, newAuthRequest(configB).url);
  const againPage = await request(jarB, new URL(again.headers.get('location'), configB.authorization_endpoint).href);
  check('existing IdP session still shows the login page', againPage.status === 200 && (await againPage.text()).includes('Sign in as Olga Owner'));

  // --- C: client_secret_post + the unverified user ----------------------------------
  const c = await startIdp(['--token-auth-method', 'client_secret_post', '--auto-login', 'eve']);
  const configC = await (await fetch(`${c.issuer}/.well-known/openid-configuration`)).json();
  const arC = newAuthRequest(configC);
  const cbC = await followToRedirectUri(new Jar(), arC.url);
  const tokC = await exchange(configC, cbC.searchParams.get('code'), arC.verifier, { post: true });
  const idC = tokC.status === 200 ? (await verifyIdToken(configC, tokC.body.id_token)).payload : {};
  check('client_secret_post works; eve has email_verified=false', tokC.status === 200 && idC.sub === 'eve' && idC.email_verified === false,
    tokC.status === 200 ? `email_verified=${idC.email_verified}` : JSON.stringify(tokC.body));
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  check('selftest ran to completion', false, err.stack ?? String(err));
}
await stopAll();
check('IdP child processes stopped', children.every((c) => c.exitCode !== null || c.signalCode !== null));
if (failures) { process.stdout.write(`\n${failures} check(s) FAILED\n`); exitCode = 1; } else process.stdout.write('\nall OIDC checks passed\n');
process.exit(exitCode);
