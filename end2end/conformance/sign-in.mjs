#!/usr/bin/env node
// The "browser" of scripts/mcp-conformance.sh. The conformance suite's
// authorization-code-grant scenario prints an authorization URL and waits
// for a person to complete it in a browser until the console redirects to
// the suite's callback server (http://127.0.0.1:<port>/callback). This
// script is that person: it opens the URL and goes the way a browser does,
// through the console and the test IdP (end2end/idp/oidc-idp.mjs started
// with --auto-login), keeping cookies per host like a browser:
//
//   GET  /oauth/authorize?…            the console's sign-in page ("Work email")
//   POST /oauth/authorize/signin       types the email, presses Continue
//   (Refresh: 0; url=…)                on to the IdP, which signs the person in
//   GET  /sso/oidc/<slug>/callback?…   back in the console: a person session
//   GET  /oauth/consent?request=…      the consent page
//   POST /oauth/consent                presses Allow
//   GET  http://127.0.0.1:<port>/callback?code=…&state=…&iss=…   the suite's callback
//
// It follows 3xx redirects and `Refresh` headers, submits the one POST form
// of a page (typing the email into an `email` field and pressing the
// "Continue" or "Allow" button), and stops at the first page that has
// neither. Exit 0 when it ended at a URL starting with --expect, else 1
// with the page it ended on. Nothing here is special to Portcullis beyond
// the field and button names a person would see.
//
// Usage: node sign-in.mjs --url <authorization URL> --email <work email>
//                         --expect <redirect URI prefix>
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    email: { type: 'string' },
    expect: { type: 'string' },
  },
  strict: true,
});
if (!args.url || !args.email || !args.expect) {
  process.stderr.write('usage: node sign-in.mjs --url <authorization URL> --email <email> --expect <redirect URI>\n');
  process.exit(2);
}

const MAX_STEPS = 30;
const BUTTONS = ['Allow', 'Continue'];

// ---- cookies: per host (not port, as browsers do), with paths --------------
const jar = new Map(); // host -> Map(name -> { value, path })

function storeCookies(url, res) {
  const host = url.hostname;
  const cookies = jar.get(host) ?? new Map();
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
    if (expired) cookies.delete(name);
    else cookies.set(name, { value, path });
  }
  jar.set(host, cookies);
}

function cookieHeader(url) {
  const cookies = jar.get(url.hostname);
  if (!cookies) return undefined;
  const sent = [];
  for (const [name, c] of cookies) {
    const p = c.path.endsWith('/') ? c.path : `${c.path}/`;
    if (url.pathname === c.path || url.pathname.startsWith(p)) sent.push(`${name}=${c.value}`);
  }
  return sent.length ? sent.join('; ') : undefined;
}

// ---- pages ----------------------------------------------------------------------
const decode = (s) => s
  .replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&#x27;', "'")
  .replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

function attr(tag, name) {
  const m = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decode(m[1]) : undefined;
}

/** The page's POST form as a person would submit it, or undefined. */
function formOf(html, pageUrl) {
  const m = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const action = new URL(attr(m[0], 'action') ?? pageUrl.href, pageUrl);
  const body = new URLSearchParams();
  let typed = false;
  for (const [tag] of m[1].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (!name) continue;
    const type = (attr(tag, 'type') ?? 'text').toLowerCase();
    if (type === 'hidden') body.append(name, attr(tag, 'value') ?? '');
    else if (type === 'email' || name === 'email') { body.append(name, args.email); typed = true; }
  }
  let pressed;
  for (const b of m[1].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
    const label = b[2].replace(/<[^>]*>/g, '').trim();
    if (BUTTONS.includes(label)) {
      pressed = label;
      const name = attr(b[0], 'name');
      if (name) body.append(name, attr(b[0], 'value') ?? '');
      break;
    }
  }
  if (!pressed) return undefined;
  return { action, body, what: `${typed ? `typed ${args.email}, ` : ''}pressed "${pressed}"` };
}

/** A URL for the log: origin and path, and only the names of query parameters. */
function shown(url) {
  const names = [...new Set(url.searchParams.keys())];
  return `${url.origin}${url.pathname}${names.length ? `?${names.join('&')}` : ''}`;
}

function text(html) {
  return decode(html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, '').replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ').trim()).slice(0, 600);
}

// ---- the walk ---------------------------------------------------------------------
let url = new URL(args.url);
let method = 'GET';
let body;
let from; // the page a form was submitted from
for (let step = 1; step <= MAX_STEPS; step += 1) {
  const headers = { 'user-agent': 'portcullis-mcp-conformance-browser', accept: 'text/html' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  if (method === 'POST') {
    // What a browser sends with a form post.
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.origin = from.origin;
    headers['sec-fetch-site'] = from.origin === url.origin ? 'same-origin' : 'cross-site';
  }
  const res = await fetch(url, {
    method, headers, body: body?.toString(), redirect: 'manual', signal: AbortSignal.timeout(20_000),
  });
  storeCookies(url, res);
  const html = await res.text();
  process.stderr.write(`  browser: ${method} ${shown(url)} → ${res.status}\n`);

  const location = res.headers.get('location');
  const refresh = /^\s*\d+\s*;\s*url=(.+)$/i.exec(res.headers.get('refresh') ?? '');
  if (res.status >= 300 && res.status < 400 && location) {
    url = new URL(location, url); method = 'GET'; body = undefined;
    continue;
  }
  if (res.status === 200 && refresh) {
    url = new URL(refresh[1].trim(), url); method = 'GET'; body = undefined;
    continue;
  }
  // A page that shows an error is where a person would stop and read.
  const alert = /<[^>]*role="alert"[^>]*>([\s\S]*?)<\/[a-z]+>/i.exec(html);
  const form = res.status === 200 && !alert ? formOf(html, url) : undefined;
  if (form) {
    process.stderr.write(`  browser: ${form.what}\n`);
    from = url; url = form.action; method = 'POST'; body = form.body;
    continue;
  }
  if (url.href.startsWith(args.expect)) {
    process.stderr.write(`  browser: reached ${shown(url)} (${res.status}: ${text(html).slice(0, 80)})\n`);
    process.exit(0);
  }
  process.stderr.write(`✗ browser: stopped at ${url.href} (${res.status}), not at ${args.expect}:\n  ${text(html)}\n`);
  process.exit(1);
}
process.stderr.write(`✗ browser: more than ${MAX_STEPS} steps; last at ${url.href}\n`);
process.exit(1);
