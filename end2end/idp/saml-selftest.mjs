#!/usr/bin/env node
// Self-test for end2end/idp/saml-idp.mjs: starts the IdP as a child process on port 0 with
// --sp-entity-id http://127.0.0.1:1/sp --acs-url http://127.0.0.1:1/acs and checks
//   1. /metadata: entityID, signing cert, HTTP-Redirect SSO at /sso, emailAddress NameIDFormat
//   2. SP-initiated: hand-built AuthnRequest (deflate-raw + base64 + urlencode) -> GET /sso
//      (login page) -> POST /sso/login user=alice -> auto-post page -> decoded SAMLResponse:
//      both signatures (rsa-sha256 / sha256 only), InResponseTo, Audience, Recipient,
//      Destination, NameID, attributes; then samlify as an SP verifies the signatures, and a
//      tampered copy must fail verification
//   3. IdP-initiated response: no InResponseTo, RelayState carried
//   4. an AuthnRequest from a foreign Issuer is refused (400)
// Run: node end2end/idp/saml-selftest.mjs      (exit 0 = all checks passed)

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

import samlify from 'samlify';

const IDP = fileURLToPath(new URL('./saml-idp.mjs', import.meta.url));
const SP_ENTITY_ID = 'http://127.0.0.1:1/sp';
const ACS_URL = 'http://127.0.0.1:1/acs';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';

let child;
let failures = 0;

function check(label, ok, detail = '') {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? ` — ${detail}` : ''}\n`);
  if (!ok) failures += 1;
  return ok;
}

function startIdp() {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [IDP, '--sp-entity-id', SP_ENTITY_ID, '--acs-url', ACS_URL, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`IdP did not start in 20s; stderr: ${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^saml idp listening on (http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`IdP exited early (${code}); stderr: ${err}`)); });
  });
}

function stopIdp() {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

function authnRequest(base, { id, issuer = SP_ENTITY_ID }) {
  const xml = '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
    + ` ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${base}/sso"`
    + ` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="${ACS_URL}">`
    + `<saml:Issuer>${issuer}</saml:Issuer>`
    + '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
    + '</samlp:AuthnRequest>';
  return deflateRawSync(Buffer.from(xml)).toString('base64');
}

const unescapeHtml = (s) => s.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

function parseAutoPost(html) {
  const action = /<form method="post" action="([^"]*)"/.exec(html)?.[1];
  const samlResponse = /name="SAMLResponse" value="([^"]*)"/.exec(html)?.[1];
  const relayState = /name="RelayState" value="([^"]*)"/.exec(html)?.[1];
  return {
    action: action && unescapeHtml(action),
    samlResponse: samlResponse && unescapeHtml(samlResponse),
    relayState: relayState && unescapeHtml(relayState),
  };
}

// Structural checks on the decoded Response (regex on samlify's compact, known output).
function inspect(xml) {
  const responseTag = /^<samlp:Response\b[^>]*>/.exec(xml)?.[0] ?? '';
  const assertionTag = /<saml:Assertion\b[^>]*>/.exec(xml)?.[0] ?? '';
  const attr = (tag, name) => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
  const responseId = attr(responseTag, 'ID');
  const assertionId = attr(assertionTag, 'ID');
  const sigs = [...xml.matchAll(/<ds:Signature\b[\s\S]*?<\/ds:Signature>/g)].map((m) => ({
    at: m.index,
    refs: [...m[0].matchAll(/<ds:Reference URI="#([^"]*)"/g)].map((r) => r[1]),
    sigAlgs: [...m[0].matchAll(/<ds:SignatureMethod Algorithm="([^"]*)"/g)].map((r) => r[1]),
    digestAlgs: [...m[0].matchAll(/<ds:DigestMethod Algorithm="([^"]*)"/g)].map((r) => r[1]),
  }));
  const assertionStart = xml.indexOf('<saml:Assertion');
  const attributes = {};
  for (const m of xml.matchAll(/<saml:Attribute Name="([^"]*)"[^>]*>([\s\S]*?)<\/saml:Attribute>/g)) {
    attributes[m[1]] = [...m[2].matchAll(/<saml:AttributeValue[^>]*>([\s\S]*?)<\/saml:AttributeValue>/g)].map((v) => unescapeHtml(v[1]));
  }
  const scd = /<saml:SubjectConfirmationData\b[^>]*>/.exec(xml)?.[0] ?? '';
  return {
    responseId,
    assertionId,
    responseSigned: sigs.some((s) => s.at < assertionStart && s.refs.includes(responseId)),
    assertionSigned: sigs.some((s) => s.at > assertionStart && s.refs.includes(assertionId)),
    sigAlgs: sigs.flatMap((s) => s.sigAlgs),
    digestAlgs: sigs.flatMap((s) => s.digestAlgs),
    mentionsSha1: /sha1/i.test(xml),
    destination: attr(responseTag, 'Destination'),
    inResponseTo: attr(responseTag, 'InResponseTo'),
    scdInResponseTo: attr(scd, 'InResponseTo'),
    recipient: attr(scd, 'Recipient'),
    audience: /<saml:Audience>([^<]*)<\/saml:Audience>/.exec(xml)?.[1],
    nameId: /<saml:NameID\b[^>]*>([^<]*)<\/saml:NameID>/.exec(xml)?.[1],
    nameIdFormat: /<saml:NameID\b[^>]*Format="([^"]*)"/.exec(xml)?.[1],
    issuer: /<saml:Issuer>([^<]*)<\/saml:Issuer>/.exec(xml)?.[1],
    hasAuthnStatement: xml.includes('<saml:AuthnStatement '),
    attributes,
  };
}

async function main() {
  const base = await startIdp();
  check('IdP started', true, base);

  // 1. metadata
  const metaRes = await fetch(`${base}/metadata`);
  const meta = await metaRes.text();
  check('GET /metadata 200 XML', metaRes.status === 200 && metaRes.headers.get('content-type').includes('xml'));
  check('entityID = <base>/metadata', meta.includes(`entityID="${base}/metadata"`));
  check('KeyDescriptor use="signing" with X509Certificate', /<KeyDescriptor use="signing">[\s\S]*<ds:X509Certificate>[A-Za-z0-9+/=]{500,}<\/ds:X509Certificate>/.test(meta));
  check('SingleSignOnService HTTP-Redirect at /sso', meta.includes(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${base}/sso"`));
  check('NameIDFormat emailAddress', meta.includes('<NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>'));
  check('WantAuthnRequestsSigned="false"', meta.includes('WantAuthnRequestsSigned="false"'));

  // 2. SP-initiated
  const requestId = `_${randomUUID()}`;
  const relay = '/after/login?x=1&y="2"';
  const ssoUrl = `${base}/sso?SAMLRequest=${encodeURIComponent(authnRequest(base, { id: requestId }))}&RelayState=${encodeURIComponent(relay)}`;
  const ssoRes = await fetch(ssoUrl);
  const ssoHtml = await ssoRes.text();
  check('GET /sso -> 200 login page', ssoRes.status === 200, ssoRes.status === 200 ? '' : ssoHtml.slice(0, 300));
  check('page title "Acme SAML IdP — sign in"', ssoHtml.includes('<title>Acme SAML IdP — sign in</title>'));
  check('buttons for alice, olga, aud, bob, mallory', ['alice', 'olga', 'aud', 'bob', 'mallory'].every((u) => ssoHtml.includes(`name="user" value="${u}"`)));
  check('button "Sign in as Alice Admin"', ssoHtml.includes('>Sign in as Alice Admin</button>'));
  check('hostile name escaped on the page', ssoHtml.includes('&lt;script&gt;alert(1)&lt;/script&gt;Mallory') && !ssoHtml.includes('<script>'));
  const hiddenReq = unescapeHtml(/name="SAMLRequest" value="([^"]*)"/.exec(ssoHtml)?.[1] ?? '');
  const hiddenRelay = unescapeHtml(/name="RelayState" value="([^"]*)"/.exec(ssoHtml)?.[1] ?? '');
  check('pending request carried in hidden fields', hiddenReq.length > 0 && hiddenRelay === relay);

  const loginRes = await fetch(`${base}/sso/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user: 'alice', SAMLRequest: hiddenReq, RelayState: hiddenRelay }),
  });
  const postHtml = await loginRes.text();
  check('POST /sso/login -> 200 auto-post page', loginRes.status === 200, loginRes.status === 200 ? '' : postHtml.slice(0, 300));
  const ap = parseAutoPost(postHtml);
  check('form posts to ACS URL', ap.action === ACS_URL, ap.action);
  check('RelayState echoed', ap.relayState === relay, ap.relayState);
  check('auto-submit script + <noscript> button', postHtml.includes('document.forms[0].submit()') && /<noscript><button type="submit">/.test(postHtml));
  const xml = Buffer.from(ap.samlResponse ?? '', 'base64').toString('utf8');
  const r = inspect(xml);
  check('Response signed (Reference = Response ID)', r.responseSigned, r.responseId);
  check('Assertion signed (Reference = Assertion ID)', r.assertionSigned, r.assertionId);
  check('SignatureMethod rsa-sha256 (all)', r.sigAlgs.length === 2 && r.sigAlgs.every((a) => a === RSA_SHA256), r.sigAlgs.join(', '));
  check('DigestMethod sha256 (all)', r.digestAlgs.length === 2 && r.digestAlgs.every((a) => a === SHA256), r.digestAlgs.join(', '));
  check('no SHA-1 anywhere', !r.mentionsSha1);
  check('Issuer = IdP entityID', r.issuer === `${base}/metadata`, r.issuer);
  check('InResponseTo = AuthnRequest ID (Response + SubjectConfirmationData)', r.inResponseTo === requestId && r.scdInResponseTo === requestId, r.inResponseTo);
  check('Audience = SP entity id', r.audience === SP_ENTITY_ID, r.audience);
  check('Recipient = ACS URL', r.recipient === ACS_URL, r.recipient);
  check('Destination = ACS URL', r.destination === ACS_URL, r.destination);
  check('NameID alice@acme.test (emailAddress)', r.nameId === 'alice@acme.test' && r.nameIdFormat === 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', r.nameId);
  check('AuthnStatement present', r.hasAuthnStatement);
  check('attribute email', JSON.stringify(r.attributes.email) === '["alice@acme.test"]', JSON.stringify(r.attributes.email));
  check('attribute name', JSON.stringify(r.attributes.name) === '["Alice Admin"]', JSON.stringify(r.attributes.name));
  check('attribute groups has both values', JSON.stringify(r.attributes.groups) === '["portcullis-admins","engineering"]', JSON.stringify(r.attributes.groups));

  // Cryptographic verification with samlify acting as the SP (trusting the IdP metadata).
  samlify.setSchemaValidator({ validate: async () => 'skipped: selftest' });
  const idpEntity = samlify.IdentityProvider({ metadata: meta });
  const spEntity = samlify.ServiceProvider({
    entityID: SP_ENTITY_ID,
    assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: ACS_URL }],
    wantAssertionsSigned: true,
    wantMessageSigned: true,
  });
  try {
    const parsed = await spEntity.parseLoginResponse(idpEntity, 'post', { body: { SAMLResponse: ap.samlResponse } });
    check('signatures verify (samlify SP with IdP metadata)', parsed.extract.nameID === 'alice@acme.test', parsed.extract.nameID);
  } catch (err) {
    check('signatures verify (samlify SP with IdP metadata)', false, String(err?.message ?? err));
  }
  const tampered = Buffer.from(xml.replace('>engineering<', '>portcullis-owners<')).toString('base64');
  try {
    await spEntity.parseLoginResponse(idpEntity, 'post', { body: { SAMLResponse: tampered } });
    check('tampered response rejected', false, 'accepted');
  } catch (err) {
    check('tampered response rejected', true, String(err?.message ?? err));
  }

  // 3. IdP-initiated
  const unsolicited = await fetch(`${base}/idp-initiated?user=bob&relay=${encodeURIComponent('/dash')}`);
  const up = parseAutoPost(await unsolicited.text());
  const u = inspect(Buffer.from(up.samlResponse ?? '', 'base64').toString('utf8'));
  check('IdP-initiated: 200, posts to ACS, RelayState', unsolicited.status === 200 && up.action === ACS_URL && up.relayState === '/dash');
  check('IdP-initiated: no InResponseTo, both signed, NameID bob', u.inResponseTo === undefined && u.scdInResponseTo === undefined
    && u.responseSigned && u.assertionSigned && u.nameId === 'bob@acme.test', `${u.nameId} groups=${JSON.stringify(u.attributes.groups)}`);

  // 4. Foreign issuer refused
  const foreign = await fetch(`${base}/sso?SAMLRequest=${encodeURIComponent(authnRequest(base, { id: '_x1', issuer: 'http://evil.test/sp' }))}`);
  check('AuthnRequest from another Issuer -> 400', foreign.status === 400, (await foreign.text()).match(/<p>([^<]*)<\/p>/)?.[1]);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  check('selftest ran to completion', false, err.stack ?? String(err));
}
await stopIdp();
check('IdP child process stopped', !child || child.exitCode !== null || child.signalCode !== null);
if (failures) { process.stdout.write(`\n${failures} check(s) FAILED\n`); exitCode = 1; } else process.stdout.write('\nall SAML checks passed\n');
process.exit(exitCode);
