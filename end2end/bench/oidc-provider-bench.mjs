#!/usr/bin/env node
// The peer of scripts/bench-oauth-refresh.sh: npm `oidc-provider` (v9, the
// certified OpenID provider end2end/idp/oidc-idp.mjs is built on) set up to
// do what Portcullis's token endpoint does for a refresh-token grant, so
// both can be loaded by the same driver (end2end/bench/refresh-load.mjs).
//
// Loopback, http, in memory: MapAdapter below, a Map per process holding
// each payload as a JSON string with a list of token keys per grant (for
// revocation), i.e. what oidc-provider's Redis example adapter keeps in Redis
// (SET with EX, RPUSH to the grant's list), without the network hop. Not
// oidc-provider's bundled MemoryAdapter: that one rewrites a grant's whole
// token index on every save (`setGrantMembers` walks every token ever issued
// in the grant, and `Math.max(...members.values())`), and with rotation a
// grant gains a token per refresh, so each refresh gets slower as the run
// goes on (in a 2 × 3-round run it fell from 1,469 to 251 grants/s). It is
// also an LRU of 1,000 entries, so grants and rotated tokens would be
// forgotten under load (no reuse detection). MapAdapter keeps everything
// until it expires, as a real store (and Portcullis's database) does.
//
// One public client (`token_endpoint_auth_method: none`, PKCE S256 required,
// as oidc-provider requires for public clients), code + refresh_token grants,
// a native loopback redirect URI. `rotateRefreshToken: true`: every refresh
// consumes the presented token and issues a new one of the same family, and
// a consumed token presented again revokes the grant (oidc-provider's
// refresh_token grant does that by itself) — Portcullis's rotation.
// Refresh tokens are issued when `offline_access` is granted (the default
// `issueRefreshToken`; `prompt=consent` is needed for that scope).
//
// Access tokens: resource indicators (RFC 8707) are on and every resource is
// one resource server whose access tokens are JWTs signed with EdDSA
// (Ed25519), `typ: at+jwt` (RFC 9068), 10 minutes — what Portcullis issues
// (`alg: EdDSA`, `typ: at+jwt`, `PORTCULLIS_ACCESS_TOKEN_MINUTES` 10). JWT
// access tokens are not stored. No `openid` scope, so no ID token.
//
// So per refresh-token request oidc-provider: parses the form, looks the
// public client up (static, in memory), finds the refresh token, its grant
// and the account (MapAdapter reads), checks them, marks the old token
// consumed (a write), saves a new opaque refresh token (a write), signs one
// EdDSA JWT, and answers JSON with Cache-Control: no-store.
//
// Login and consent are automatic (the bench gets its initial refresh tokens
// through the real authorization-code flow): /interaction/:uid signs in the
// account `bench` and grants what was asked (scopes, `offline_access`, the
// resource's scopes).
//
// Run: node end2end/bench/oidc-provider-bench.mjs [--port 0] [--client-id bench]
//        [--redirect-uri http://127.0.0.1/callback]
// Prints exactly one stdout line once ready:  oidc-provider bench listening on http://127.0.0.1:PORT
// (that URL is the issuer). Stops on SIGTERM / SIGINT.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string', default: 'bench' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1/callback' },
  },
  strict: true,
});

const { default: Provider } = await import('oidc-provider');

// Ed25519 signing key, fresh per run (Portcullis signs with Ed25519 too).
const { privateKey } = generateKeyPairSync('ed25519');
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'EdDSA', use: 'sig' };

// The adapter: one shared Map, keys `<Model>:<id>`, values JSON strings
// (few live objects for the garbage collector, as in Redis), expiry checked
// when read. Grants' token lists and session uids are secondary indexes.
const store = new Map(); // key -> JSON string
const expiry = new Map(); // key -> epoch ms
const grantTokens = new Map(); // grantId -> [key]
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
function read(key) {
  const exp = expiry.get(key);
  if (exp !== undefined && exp <= Date.now()) {
    store.delete(key);
    expiry.delete(key);
    return undefined;
  }
  const json = store.get(key);
  return json === undefined ? undefined : JSON.parse(json);
}
class MapAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, JSON.stringify(payload));
    if (expiresIn) expiry.set(key, Date.now() + expiresIn * 1000);
    if (this.model === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, JSON.stringify(id));
    if (grantable.has(this.model) && payload.grantId) {
      const list = grantTokens.get(payload.grantId);
      if (list) list.push(key);
      else grantTokens.set(payload.grantId, [key]);
    }
  }

  async find(id) { return read(this.key(id)); }

  async findByUid(uid) {
    const id = read(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() { return undefined; }

  async consume(id) {
    const key = this.key(id);
    const payload = read(key);
    if (payload) {
      payload.consumed = Math.floor(Date.now() / 1000);
      store.set(key, JSON.stringify(payload));
    }
  }

  async destroy(id) {
    const key = this.key(id);
    store.delete(key);
    expiry.delete(key);
  }

  async revokeByGrantId(grantId) {
    for (const key of grantTokens.get(grantId) ?? []) {
      store.delete(key);
      expiry.delete(key);
    }
    grantTokens.delete(grantId);
  }
}

const ACCESS_TOKEN_TTL = 10 * 60;
const REFRESH_TOKEN_TTL = 30 * 24 * 60 * 60;

const server = createServer();
server.keepAliveTimeout = 75_000;
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    adapter: MapAdapter,
    clients: [{
      client_id: args['client-id'],
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: [args['redirect-uri']],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // The only key is Ed25519 (no ID token is issued: no `openid` scope).
      id_token_signed_response_alg: 'EdDSA',
    }],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access'],
    responseTypes: ['code'],
    clientAuthMethods: ['none'],
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      RefreshToken: REFRESH_TOKEN_TTL,
      Grant: REFRESH_TOKEN_TTL,
      Session: 8 * 60 * 60,
      Interaction: 60 * 60,
      IdToken: 60 * 60,
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => ({
          audience: resourceIndicator,
          scope: 'tools',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'EdDSA' } },
        }),
      },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(_ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
  });
  provider.proxy = false;

  for (const event of ['server_error', 'authorization.error', 'grant.error']) {
    provider.on(event, (_ctx, err) => {
      process.stderr.write(`oidc-provider-bench: ${event}: ${err?.name ?? ''} ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}\n`);
    });
  }

  async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: 'bench' } }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      const missing = prompt.details;
      let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
      if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`unsupported prompt ${prompt.name}\n`);
  }

  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(req, res).catch((err) => {
        process.stderr.write(`oidc-provider-bench: interaction: ${err?.message ?? err}\n`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    callback(req, res);
  });

  process.stdout.write(`oidc-provider bench listening on ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
