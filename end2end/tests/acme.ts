// The console set up as Acme's would be, for the MCP specs (mcp-oauth.spec.ts,
// gateway.spec.ts): the first owner, a SCIM directory with Bob in it, and an OIDC
// connection for acme.test (the test IdP, end2end/idp/oidc-idp.mjs) bound to that
// directory. All through the console's own server functions and SCIM, as the owner's
// browser and Okta would.
import { expect } from './fixtures';
import type { APIRequestContext } from '@playwright/test';

export const OWNER_PASSWORD = 'a very long e2e password';

/** A console server function with form fields, as the signed-in owner; its JSON answer. */
export async function consoleCall(request: APIRequestContext, base: string, name: string, form: Record<string, string>) {
  const res = await request.post(`${base}/api/console/${name}`, { form, maxRedirects: 0 });
  const text = await res.text();
  expect([200, 302, 303], `${name}: ${res.status()} ${text}`).toContain(res.status());
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface Acme {
  /** The SCIM directory: its base URL, bearer token and id. */
  dir: { base_url: string; token: string; directory_id: string };
  /** Bob's person id (bob@acme.test, IdP subject `bob`, no console role). */
  bobId: string;
  /** The SSO connection `acme`. */
  ssoId: string;
}

/** The fields of the SSO connection `acme` as setUpAcme saves it. */
function acmeConnection(idpUrl: string, directoryId: string): Record<string, string> {
  return {
    name: 'Acme IdP',
    slug: 'acme',
    kind: 'oidc',
    enabled: 'on',
    domains: 'acme.test',
    issuer: idpUrl,
    client_id: 'portcullis',
    client_secret: 'portcullis-e2e-secret',
    directory_id: directoryId,
  };
}

/** Turns on "Accept ID-JAGs from this IdP" on the connection `acme` (enterprise-managed authorization). */
export async function acceptIdJags(request: APIRequestContext, base: string, acme: Acme, idpUrl: string) {
  await consoleCall(request, base, 'sso/update', {
    ...acmeConnection(idpUrl, acme.dir.directory_id),
    id: acme.ssoId,
    client_secret: '',
    accept_id_jag: 'on',
  });
}

/** Owner, directory, Bob over SCIM (with the IdP's subject as externalId), SSO connection. */
export async function setUpAcme(request: APIRequestContext, base: string, setupURL: string, idpUrl: string): Promise<Acme> {
  const call = (name: string, form: Record<string, string>) => consoleCall(request, base, name, form);
  const token = new URL(setupURL).searchParams.get('token') ?? '';
  await call('accept_link', { token, display_name: 'Olivia Owner', password: OWNER_PASSWORD });
  const dir = await call('directory/directories/create', { name: 'Acme Okta' });
  const scim = await fetch(`${dir.base_url}/Users`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${dir.token}`, 'Content-Type': 'application/scim+json' },
    body: JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'bob@acme.test',
      externalId: 'bob',
      displayName: 'Bob Nobody',
      active: true,
      emails: [{ value: 'bob@acme.test', type: 'work', primary: true }],
    }),
  });
  const scimBody = await scim.json();
  expect(scim.status, JSON.stringify(scimBody)).toBe(201);
  const ssoId: string = await call('sso/create', acmeConnection(idpUrl, dir.directory_id));
  return { dir, bobId: scimBody.id, ssoId };
}
