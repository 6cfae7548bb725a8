#!/usr/bin/env node
// Test SAML 2.0 identity provider for the Portcullis browser tests (loopback, http, stateless).
// Built on npm `samlify` v2 (IdP entity + XML-DSig signing) and `selfsigned` (fresh cert per run).
//
// Run:
//   node end2end/idp/saml-idp.mjs --sp-metadata-url <url> [--port 0] [--auto-login <user>]
//   node end2end/idp/saml-idp.mjs --sp-entity-id <id> --acs-url <url> [--port 0] [--auto-login <user>]
// Prints exactly one stdout line once ready:  saml idp listening on http://127.0.0.1:PORT
// Stops on SIGTERM / SIGINT. With --sp-metadata-url the SP metadata is fetched on every SSO
// request (so the SP may start after the IdP); its entityID and HTTP-POST ACS URLs are used.
//
// Endpoints:
//   GET  /metadata        IdP metadata; entityID = http://127.0.0.1:PORT/metadata, signing cert,
//                         SingleSignOnService HTTP-Redirect -> /sso, NameIDFormat emailAddress
//   GET  /sso?SAMLRequest=…&RelayState=…   (HTTP-Redirect, deflated AuthnRequest; unsigned OK)
//                         -> page "Acme SAML IdP — sign in", one button per user
//                         (--auto-login <user>: skip the page, answer straight away)
//   POST /sso/login       user=<id>&SAMLRequest=…&RelayState=… -> auto-submitting HTTP-POST form
//   GET  /idp-initiated?user=alice[&relay=/path]  -> unsolicited response (no InResponseTo)
//
// Responses: Response AND Assertion signed, RSA-SHA256 signatures with SHA-256 digests,
// exclusive c14n. InResponseTo = AuthnRequest ID, Destination/Recipient = ACS URL,
// Audience = SP entity id, NameID = email (emailAddress format), AuthnStatement,
// attributes (NameFormat basic, xs:string): email, name, groups (one AttributeValue per group).
// The AuthnRequest's Issuer must equal the SP entity id, and its AssertionConsumerServiceURL
// (if any) must be one of the SP's HTTP-POST ACS URLs; otherwise a 400 page explains why.
//
// Users:
//   alice    alice@acme.test    "Alice Admin"                        portcullis-admins, engineering
//   olga     olga@acme.test     "Olga Owner"                         portcullis-owners
//   aud      audrey@acme.test   "Audrey Auditor"                     portcullis-auditors
//   bob      bob@acme.test      "Bob Nobody"                         engineering (no console role)
//   mallory  mallory@acme.test  "<script>alert(1)</script>Mallory"  portcullis-admins
//   (eve, the unverified-email OIDC user, is not offered: SAML has no email_verified.)

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import samlify from 'samlify';
import selfsigned from 'selfsigned';

import { USERS as ALL_USERS, PAGE_STYLE, escapeHtml, readForm } from './users.mjs';

const USERS = Object.fromEntries(Object.entries(ALL_USERS).filter(([id]) => id !== 'eve'));

const { Constants, SamlLib } = samlify;
const BINDING_POST = Constants.namespace.binding.post;
const BINDING_REDIRECT = Constants.namespace.binding.redirect;
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const RSA_SHA256 = Constants.algorithms.signature.RSA_SHA256;

// Schema validation is for the receiving side. This IdP only parses AuthnRequests that the SP
// under test built itself and never trusts them for anything security relevant; the SP (Portcullis)
// does its own strict validation of what we send. So a validator that accepts everything is fine
// here — and avoids a Java/xmllint dependency.
samlify.setSchemaValidator({ validate: async () => 'skipped: test IdP' });

function fail(message) {
  process.stderr.write(`saml-idp: ${message}\n`);
  process.stderr.write('usage: node end2end/idp/saml-idp.mjs (--sp-metadata-url <url> | --sp-entity-id <id> --acs-url <url>) '
    + '[--port 0] [--auto-login <user>]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'sp-metadata-url': { type: 'string' },
      'sp-entity-id': { type: 'string' },
      'acs-url': { type: 'string' },
      port: { type: 'string', default: '0' },
      'auto-login': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

function requireUrl(name, value) {
  let u;
  try { u = new URL(value); } catch { fail(`${name} is not an absolute URL: ${value}`); }
  if (!['http:', 'https:'].includes(u.protocol)) fail(`${name} must be http(s): ${value}`);
}

const metadataUrl = args['sp-metadata-url'];
if (metadataUrl !== undefined) {
  if (args['sp-entity-id'] !== undefined || args['acs-url'] !== undefined) {
    fail('use either --sp-metadata-url or --sp-entity-id + --acs-url, not both');
  }
  requireUrl('--sp-metadata-url', metadataUrl);
} else {
  if (!args['sp-entity-id'] || !args['acs-url']) fail('need --sp-metadata-url, or both --sp-entity-id and --acs-url');
  requireUrl('--acs-url', args['acs-url']);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${args.port}`);
const autoLogin = args['auto-login'];
if (autoLogin !== undefined && !Object.hasOwn(USERS, autoLogin)) {
  fail(`--auto-login: unknown user "${autoLogin}" (known: ${Object.keys(USERS).join(', ')})`);
}

// Self-signed RSA 2048 / SHA-256 signing certificate, fresh per run.
const pems = await selfsigned.generate([{ name: 'commonName', value: 'Acme SAML IdP (test)' }], {
  keyType: 'rsa',
  keySize: 2048,
  algorithm: 'sha256',
});

class SamlError extends Error {}

// Returns { entityId, acsUrls: [default first] } for the SP under test.
async function loadSp() {
  if (metadataUrl === undefined) return { entityId: args['sp-entity-id'], acsUrls: [args['acs-url']] };
  let xml;
  try {
    const res = await fetch(metadataUrl, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    xml = await res.text();
  } catch (err) {
    throw new SamlError(`cannot fetch SP metadata from ${metadataUrl}: ${err.message}`);
  }
  let meta;
  try {
    meta = samlify.ServiceProvider({ metadata: xml }).entityMeta;
  } catch (err) {
    throw new SamlError(`cannot parse SP metadata from ${metadataUrl}: ${err.message}`);
  }
  const entityId = meta.getEntityID();
  let acs = meta.getAssertionConsumerService() ?? [];
  if (!Array.isArray(acs)) acs = [acs];
  const post = acs.filter((a) => a.binding === BINDING_POST);
  post.sort((a, b) => Number(b.isDefault === 'true') - Number(a.isDefault === 'true')
    || Number(a.index ?? 0) - Number(b.index ?? 0));
  if (!entityId) throw new SamlError('SP metadata has no entityID');
  if (post.length === 0) throw new SamlError('SP metadata has no HTTP-POST AssertionConsumerService');
  return { entityId, acsUrls: post.map((a) => a.location) };
}

// A samlify SP entity for one response. Built programmatically (not from the SP's metadata)
// because samlify decides what to sign from the SP entity: the Assertion is signed when the SP
// "wants assertions signed", the Response when it "wants messages signed". We always want both.
function spEntity(entityId, acsUrl) {
  return samlify.ServiceProvider({
    entityID: entityId,
    assertionConsumerService: [{ Binding: BINDING_POST, Location: acsUrl }],
    wantAssertionsSigned: true,
    wantMessageSigned: true,
  });
}

function attributeXml(name, values) {
  const vals = values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeHtml(v)}</saml:AttributeValue>`).join('');
  return `<saml:Attribute Name="${escapeHtml(name)}" NameFormat="${ATTRNAME_BASIC}">${vals}</saml:Attribute>`;
}

// Builds the signed, base64 SAMLResponse for `userId`; inResponseTo undefined => unsolicited.
async function buildResponse(idp, sp, userId, inResponseTo) {
  const user = USERS[userId];
  const sessionIndex = `_${randomUUID()}`;
  const customTagReplacement = (template) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const id = `_${randomUUID()}`;
    let xml = SamlLib.replaceTagsByValue(template, {
      ID: id,
      AssertionID: `_${randomUUID()}`,
      Destination: sp.acsUrl,
      Audience: sp.entityId,
      SubjectRecipient: sp.acsUrl,
      Issuer: idp.entityMeta.getEntityID(),
      IssueInstant: now.toISOString(),
      StatusCode: Constants.StatusCode.Success,
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: NAMEID_EMAIL,
      NameID: user.email,
      InResponseTo: inResponseTo, // undefined drops both InResponseTo attributes
      AuthnStatement: '@@AUTHN_STATEMENT@@',
      AttributeStatement: '@@ATTRIBUTE_STATEMENT@@',
    });
    // samlify's attribute templates emit one AttributeValue per attribute, so the statement
    // (with multi-valued `groups`) is written here; every user value is XML-escaped.
    const authn = `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${sessionIndex}">`
      + '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>'
      + '</saml:AuthnStatement>';
    const attrs = '<saml:AttributeStatement>'
      + attributeXml('email', [user.email])
      + attributeXml('name', [user.name])
      + attributeXml('groups', user.groups)
      + '</saml:AttributeStatement>';
    xml = xml.replace('@@AUTHN_STATEMENT@@', authn).replace('@@ATTRIBUTE_STATEMENT@@', attrs);
    return { id, context: xml };
  };
  const samlSp = spEntity(sp.entityId, sp.acsUrl);
  const { context } = await idp.createLoginResponse(samlSp, {}, 'post', { email: user.email }, { customTagReplacement });
  return context;
}

function sendHtml(res, status, html, { scripts = false } = {}) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'${scripts ? "; script-src 'unsafe-inline'" : ''}`,
  });
  res.end(html);
}

function errorPage(res, status, message) {
  sendHtml(res, status, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme SAML IdP — error</title><style>${PAGE_STYLE}</style></head>
<body><main><h1>Acme SAML IdP — error</h1><p>${escapeHtml(message)}</p></main></body></html>
`);
}

function autoPostPage(res, acsUrl, samlResponse, relayState) {
  const relay = relayState ? `\n    <input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">` : '';
  sendHtml(res, 200, `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme SAML IdP — continuing</title>
  <style>${PAGE_STYLE}</style>
</head>
<body>
  <main>
    <h1>Acme SAML IdP</h1>
    <p>Signing you in…</p>
    <form method="post" action="${escapeHtml(acsUrl)}">
    <input type="hidden" name="SAMLResponse" value="${escapeHtml(samlResponse)}">${relay}
    <noscript><button type="submit">Continue</button></noscript>
    </form>
  </main>
  <script>document.forms[0].submit();</script>
</body>
</html>
`, { scripts: true });
}

function loginPage(res, samlRequest, relayState, spEntityId) {
  const buttons = Object.entries(USERS).map(([id, u]) => (
    `      <button type="submit" name="user" value="${escapeHtml(id)}">Sign in as ${escapeHtml(u.name)}</button>`
  )).join('\n');
  const relay = relayState !== null ? `\n      <input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">` : '';
  sendHtml(res, 200, `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Acme SAML IdP — sign in</title>
  <style>${PAGE_STYLE}</style>
</head>
<body>
  <main>
    <h1>Acme SAML IdP — sign in</h1>
    <p>Test identity provider. Choose a user to continue to <strong>${escapeHtml(spEntityId)}</strong>.</p>
    <form method="post" action="/sso/login" autocomplete="off">
      <input type="hidden" name="SAMLRequest" value="${escapeHtml(samlRequest)}">${relay}
${buttons}
    </form>
  </main>
</body>
</html>
`);
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;

  // samlify warns on stderr about the (intentionally) missing SingleLogoutService; silence it.
  const warn = console.warn;
  console.warn = (...a) => { if (!String(a[0]).includes('SingleLogoutService')) warn(...a); };
  const idp = samlify.IdentityProvider({
    entityID: `${base}/metadata`,
    signingCert: pems.cert,
    privateKey: pems.private,
    nameIDFormat: [NAMEID_EMAIL],
    singleSignOnService: [{ Binding: BINDING_REDIRECT, Location: `${base}/sso` }],
    wantAuthnRequestsSigned: false,
    // Despite its name this is the algorithm samlify signs *responses* with; the digest
    // algorithm is derived from it (rsa-sha256 -> sha256).
    requestSignatureAlgorithm: RSA_SHA256,
  });
  console.warn = warn;
  const metadataXml = idp.getMetadata();

  // Parses + checks an HTTP-Redirect AuthnRequest; returns { sp, requestId }.
  async function parseAuthnRequest(samlRequest) {
    const spInfo = await loadSp();
    let parsed;
    try {
      parsed = await idp.parseLoginRequest(spEntity(spInfo.entityId, spInfo.acsUrls[0]), 'redirect', { query: { SAMLRequest: samlRequest } });
    } catch (err) {
      throw new SamlError(`invalid SAMLRequest: ${err.message}`);
    }
    const { request, issuer } = parsed.extract;
    if (!request?.id) throw new SamlError('AuthnRequest has no ID');
    if (issuer !== spInfo.entityId) throw new SamlError(`AuthnRequest Issuer "${issuer}" is not the SP entity id "${spInfo.entityId}"`);
    if (request.destination && request.destination !== `${base}/sso`) {
      throw new SamlError(`AuthnRequest Destination "${request.destination}" is not ${base}/sso`);
    }
    let acsUrl = spInfo.acsUrls[0];
    if (request.assertionConsumerServiceUrl) {
      if (!spInfo.acsUrls.includes(request.assertionConsumerServiceUrl)) {
        throw new SamlError(`AssertionConsumerServiceURL "${request.assertionConsumerServiceUrl}" is not an HTTP-POST ACS of the SP (${spInfo.acsUrls.join(', ')})`);
      }
      acsUrl = request.assertionConsumerServiceUrl;
    }
    return { sp: { entityId: spInfo.entityId, acsUrl }, requestId: request.id };
  }

  async function handle(req, res) {
    const url = new URL(req.url, base);
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /metadata') {
      res.writeHead(200, { 'Content-Type': 'application/samlmetadata+xml; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(metadataXml);
      return;
    }

    if (route === 'GET /sso') {
      const samlRequest = url.searchParams.get('SAMLRequest');
      const relayState = url.searchParams.get('RelayState');
      if (!samlRequest) { errorPage(res, 400, 'missing SAMLRequest (HTTP-Redirect binding expected)'); return; }
      const { sp, requestId } = await parseAuthnRequest(samlRequest);
      if (autoLogin) {
        autoPostPage(res, sp.acsUrl, await buildResponse(idp, sp, autoLogin, requestId), relayState);
        return;
      }
      loginPage(res, samlRequest, relayState, sp.entityId);
      return;
    }

    if (route === 'POST /sso/login') {
      const form = await readForm(req);
      const userId = form.get('user');
      const samlRequest = form.get('SAMLRequest');
      if (!samlRequest) { errorPage(res, 400, 'missing SAMLRequest'); return; }
      if (!userId || !Object.hasOwn(USERS, userId)) { errorPage(res, 400, `unknown user "${userId ?? ''}"`); return; }
      const { sp, requestId } = await parseAuthnRequest(samlRequest);
      autoPostPage(res, sp.acsUrl, await buildResponse(idp, sp, userId, requestId), form.get('RelayState'));
      return;
    }

    if (route === 'GET /idp-initiated') {
      const userId = url.searchParams.get('user');
      if (!userId || !Object.hasOwn(USERS, userId)) { errorPage(res, 400, `unknown user "${userId ?? ''}"`); return; }
      const spInfo = await loadSp();
      const sp = { entityId: spInfo.entityId, acsUrl: spInfo.acsUrls[0] };
      autoPostPage(res, sp.acsUrl, await buildResponse(idp, sp, userId, undefined), url.searchParams.get('relay'));
      return;
    }

    errorPage(res, 404, `no route for ${route}`);
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((err) => {
      const known = err instanceof SamlError;
      process.stderr.write(`saml-idp: ${req.method} ${req.url.split('?')[0]}: ${known ? err.message : err.stack}\n`);
      if (!res.headersSent) errorPage(res, known ? 400 : 500, known ? err.message : 'internal error');
      else res.end();
    });
  });

  process.stdout.write(`saml idp listening on ${base}\n`);
});

server.on('error', (err) => {
  process.stderr.write(`saml-idp: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
