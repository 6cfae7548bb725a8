#!/usr/bin/env node
// Initial refresh tokens for scripts/bench-oauth-refresh.sh, through the real
// authorization-code flow (PKCE S256, `resource`), once per token, as a
// browser and an MCP client would get them. Works against Portcullis (sign-in
// through its SSO connection and the test IdP started with --auto-login,
// then the consent page) and against end2end/bench/oidc-provider-bench.mjs
// (automatic login and consent).
//
// The "browser" is the one of end2end/conformance/sign-in.mjs: a cookie jar
// per host, 3xx redirects and `Refresh` headers followed, the page's one POST
// form submitted (the email typed into an `email` field, the "Continue" or
// "Allow" button pressed). It stops at the first redirect to --redirect-uri
// (nothing needs to listen there), checks `state` (and `iss` when sent),
// and the "client" exchanges the code at the token endpoint. Cookies are
// kept across the flows, so the person signs in and consents once; later
// flows go straight back with a code.
//
// Usage: node obtain-refresh-tokens.mjs --issuer <url> --client-id <id>
//          --redirect-uri <uri> --resource <url> --scope "offline_access …"
//          [--email bob@acme.test] [--prompt consent] --count N --out <file>
// Writes {"token_endpoint": …, "client_id": …, "refresh_tokens": [...]} to
// --out and prints, on stderr, the first walk and the shape of the first
// token response (the access token's JOSE header and claim names).
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'redirect-uri': { type: 'string' },
    resource: { type: 'string' },
    scope: { type: 'string', default: 'offline_access' },
    email: { type: 'string', default: 'bob@acme.test' },
    prompt: { type: 'string' },
    count: { type: 'string', default: '32' },
    out: { type: 'string' },
  },
  strict: true,
});
for (const k of ['issuer', 'client-id', 'redirect-uri', 'resource', 'out']) {
  if (!args[k]) {
    process.stderr.write(`obtain-refresh-tokens: --${k} is required\n`);
    process.exit(2);
  }
}
const count = Number(args.count);
const die = (m) => { process.stderr.write(`✗ obtain-refresh-tokens: ${m}\n`); process.exit(1); };

// ---- metadata -------------------------------------------------------------------
async function metadata(issuer) {
  for (const wk of ['oauth-authorization-server', 'openid-configuration']) {
    const res = await fetch(`${issuer}/.well-known/${wk}`);
    if (res.ok) return res.json();
  }
  return die(`no RFC 8414 / OpenID metadata at ${issuer}`);
}
const meta = await metadata(args.issuer.replace(/\/$/, ''));

// ---- cookies: per host, with paths (as sign-in.mjs) ------------------------------
const jar = new Map();
function storeCookies(url, res) {
  const cookies = jar.get(url.hostname) ?? new Map();
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
    let expired = false;
    for (const a of attrs) {
      const [k, v = ''] = a.split('=').map((s) => s.trim());
      const key = k.toLowerCase();
      if (key === 'path' && v.startsWith('/')) path = v;
      if (key === 'max-age' && Number(v) <= 0) expired = true;
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    // Cookies of the same name and different paths are distinct.
    const id = `${name}\u0000${path}`;
    if (expired) cookies.delete(id);
    else cookies.set(id, { name, value, path });
  }
  jar.set(url.hostname, cookies);
}
function cookieHeader(url) {
  const cookies = jar.get(url.hostname);
  if (!cookies) return undefined;
  const sent = [];
  for (const c of cookies.values()) {
    const p = c.path.endsWith('/') ? c.path : `${c.path}/`;
    if (url.pathname === c.path || url.pathname.startsWith(p)) sent.push(`${c.name}=${c.value}`);
  }
  return sent.length ? sent.join('; ') : undefined;
}

// ---- pages ------------------------------------------------------------------------
const decode = (s) => s
  .replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&#x27;', "'")
  .replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
function attr(tag, name) {
  const m = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decode(m[1]) : undefined;
}
function formOf(html, pageUrl) {
  const m = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const action = new URL(attr(m[0], 'action') ?? pageUrl.href, pageUrl);
  const body = new URLSearchParams();
  for (const [tag] of m[1].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (!name) continue;
    const type = (attr(tag, 'type') ?? 'text').toLowerCase();
    if (type === 'hidden') body.append(name, attr(tag, 'value') ?? '');
    else if (type === 'email' || name === 'email') body.append(name, args.email);
  }
  for (const b of m[1].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
    const label = b[2].replace(/<[^>]*>/g, '').trim();
    if (label === 'Allow' || label === 'Continue') {
      const name = attr(b[0], 'name');
      if (name) body.append(name, attr(b[0], 'value') ?? '');
      return { action, body, what: `pressed "${label}"` };
    }
  }
  return undefined;
}
const text = (html) => decode(html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, '').replace(/<[^>]*>/g, ' ')
  .replace(/\s+/g, ' ').trim()).slice(0, 400);
const shown = (url) => `${url.origin}${url.pathname}`;

/** Walks from the authorization URL to the redirect back; returns that URL. */
async function walk(start, log) {
  let url = new URL(start);
  let method = 'GET';
  let body;
  let from;
  for (let step = 1; step <= 30; step += 1) {
    const headers = { 'user-agent': 'portcullis-bench-browser', accept: 'text/html' };
    const cookie = cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    if (method === 'POST') {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = from.origin;
      headers['sec-fetch-site'] = from.origin === url.origin ? 'same-origin' : 'cross-site';
    }
    const res = await fetch(url, { method, headers, body: body?.toString(), redirect: 'manual', signal: AbortSignal.timeout(20_000) });
    storeCookies(url, res);
    const html = await res.text();
    if (log) process.stderr.write(`  browser: ${method} ${shown(url)} → ${res.status}\n`);
    const location = res.headers.get('location');
    const refresh = /^\s*\d+\s*;\s*url=(.+)$/i.exec(res.headers.get('refresh') ?? '');
    let next;
    if (res.status >= 300 && res.status < 400 && location) next = new URL(location, url);
    else if (res.status === 200 && refresh) next = new URL(refresh[1].trim(), url);
    if (next) {
      if (next.href.startsWith(args['redirect-uri'])) return next;
      url = next; method = 'GET'; body = undefined;
      continue;
    }
    const form = res.status === 200 && !/role="alert"/i.test(html) ? formOf(html, url) : undefined;
    if (form) {
      if (log) process.stderr.write(`  browser: ${form.what}\n`);
      from = url; url = form.action; method = 'POST'; body = form.body;
      continue;
    }
    return die(`stopped at ${url.href} (${res.status}): ${text(html)}`);
  }
  return die('more than 30 steps');
}

function jwtShape(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) return 'not a JWS';
  const dec = (p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  return `JWS header ${JSON.stringify(dec(parts[0]))}, claims ${Object.keys(dec(parts[1])).join(' ')}`;
}

const b64 = (buf) => buf.toString('base64url');
const tokens = [];
for (let i = 0; i < count; i += 1) {
  const verifier = b64(randomBytes(32));
  const state = b64(randomBytes(16));
  const auth = new URL(meta.authorization_endpoint);
  auth.search = new URLSearchParams({
    response_type: 'code',
    client_id: args['client-id'],
    redirect_uri: args['redirect-uri'],
    scope: args.scope,
    resource: args.resource,
    state,
    code_challenge: b64(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...(args.prompt ? { prompt: args.prompt } : {}),
  }).toString();
  const back = await walk(auth.href, i === 0);
  const q = back.searchParams;
  if (q.get('error')) die(`authorization refused: ${q.get('error')} ${q.get('error_description') ?? ''}`);
  if (q.get('state') !== state) die('state differs');
  if (q.get('iss') && q.get('iss') !== meta.issuer) die(`iss ${q.get('iss')} is not ${meta.issuer}`);
  const code = q.get('code');
  if (!code) die(`no code in ${back.href}`);
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: args['redirect-uri'],
      code_verifier: verifier,
      client_id: args['client-id'],
      resource: args.resource,
    }).toString(),
  });
  const json = await res.json().catch(() => ({}));
  if (res.status !== 200 || !json.refresh_token || !json.access_token) {
    die(`code exchange: HTTP ${res.status} ${JSON.stringify(json)}`);
  }
  if (i === 0) {
    process.stderr.write(`  token response: ${Object.keys(json).join(' ')}; scope "${json.scope ?? ''}", expires_in ${json.expires_in}\n`);
    process.stderr.write(`  access token: ${jwtShape(json.access_token)}\n`);
  }
  tokens.push(json.refresh_token);
}
writeFileSync(args.out, JSON.stringify({ token_endpoint: meta.token_endpoint, client_id: args['client-id'], refresh_tokens: tokens }));
process.stderr.write(`  ${tokens.length} refresh tokens from ${meta.token_endpoint}\n`);
