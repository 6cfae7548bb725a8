#!/usr/bin/env node
// An MCP client built on npm `@modelcontextprotocol/sdk` (Client, the streamable HTTP
// transport and its OAuthClientProvider), run by end2end/tests/mcp-oauth.spec.ts against
// a sample MCP server (end2end/mcp/sample-server.mjs) whose tokens Portcullis issues.
//
// What it does, all through the SDK:
//   1. connects without a token: the server answers 401 with `resource_metadata`; the SDK
//      reads Portcullis' RFC 9728 document, then its RFC 8414 metadata;
//   2. identifies itself with a client ID metadata document (CIMD, --client-metadata-url,
//      used because the metadata says client_id_metadata_document_supported) or, without
//      that flag, registers itself (RFC 7591 DCR, only while Portcullis allows it);
//   3. starts the code flow with PKCE S256 and `resource`; prints the authorization URL on
//      one stdout line `AUTHORIZE <url>` for the test to open in the browser, and waits for
//      the browser on its loopback redirect URI (http://127.0.0.1:PORT/callback), checking
//      `state` and `iss` (RFC 9207);
//   4. exchanges the code (transport.finishAuth), connects, lists tools, calls `echo`;
//   5. refresh: the provider reports its access token as no longer valid (as when it has
//      expired: the server answers 401 invalid_token), so the transport refreshes with the
//      stored refresh token (rotation) and retries; calls `echo` again;
//   6. sends the access token of this server to --other-server-url, which must refuse it.
// Last stdout line: `RESULT <json>` (what happened, with every HTTP exchange the SDK made),
// exit 0; on a failure `ERROR <message>` on stderr, exit 1.
//
// Run:
//   node end2end/mcp/node-client.mjs --server-url http://127.0.0.1:P/mcp --other-server-url URL
//        [--client-metadata-url https://…/client.json] [--client-name N] [--timeout-seconds 60]

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { startRedirectReceiver } from './redirect-receiver.mjs';

function fail(message) {
  process.stderr.write(`ERROR ${message}\n`);
  process.exit(1);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'server-url': { type: 'string' },
      'other-server-url': { type: 'string' },
      'client-metadata-url': { type: 'string' },
      'client-name': { type: 'string', default: 'Node MCP client (e2e)' },
      'timeout-seconds': { type: 'string', default: '60' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}
if (!args['server-url'] || !args['other-server-url']) fail('--server-url and --other-server-url are required');
const serverUrl = new URL(args['server-url']);
const otherServerUrl = new URL(args['other-server-url']);
const timeoutMs = Number(args['timeout-seconds']) * 1000;

/** Every HTTP exchange the SDK made (MCP requests, discovery, registration, tokens). */
const exchanges = [];
async function loggingFetch(input, init) {
  const res = await fetch(input, init);
  const body = init?.body;
  let form;
  if (body instanceof URLSearchParams) form = Object.fromEntries(body);
  else if (typeof body === 'string' && body.startsWith('{')) {
    try {
      const json = JSON.parse(body);
      form = json.method ? { jsonrpc_method: json.method } : json;
    } catch {
      form = undefined;
    }
  }
  const headers = new Headers(init?.headers);
  exchanges.push({
    method: init?.method ?? 'GET',
    url: String(input instanceof Request ? input.url : input),
    status: res.status,
    authorization: headers.get('authorization')?.split(' ')[0] ?? null,
    www_authenticate: res.headers.get('www-authenticate'),
    form,
  });
  return res;
}

// ---- the loopback redirect URI ------------------------------------------------------
const receiver = await startRedirectReceiver();
const { redirectUrl, callback } = receiver;

// ---- the OAuthClientProvider (in memory) --------------------------------------------
const state = randomBytes(16).toString('base64url');
const saved = { client: undefined, tokens: undefined, verifier: undefined, history: [] };
let authorizationUrl;
let accessTokenExpired = false;
const provider = {
  get redirectUrl() {
    return redirectUrl;
  },
  clientMetadataUrl: args['client-metadata-url'],
  get clientMetadata() {
    return {
      client_name: args['client-name'],
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  state: () => state,
  clientInformation: () => saved.client,
  saveClientInformation: (info) => {
    saved.client = info;
  },
  tokens: () => {
    if (!saved.tokens) return undefined;
    // An expired access token is still presented (the client cannot know); the server
    // refuses it with 401 invalid_token and the SDK refreshes. `expired-…` stands for it.
    return accessTokenExpired ? { ...saved.tokens, access_token: `expired-${randomBytes(8).toString('hex')}` } : saved.tokens;
  },
  saveTokens: (tokens) => {
    saved.tokens = tokens;
    saved.history.push(tokens);
    accessTokenExpired = false;
  },
  redirectToAuthorization: (url) => {
    authorizationUrl = url;
    process.stdout.write(`AUTHORIZE ${url.href}\n`);
  },
  saveCodeVerifier: (v) => {
    saved.verifier = v;
  },
  codeVerifier: () => saved.verifier,
};

function parseEcho(result) {
  const text = result?.content?.find((c) => c.type === 'text')?.text;
  return text ? JSON.parse(text) : result;
}

function newTransport() {
  return new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: loggingFetch });
}

const timer = setTimeout(() => fail(`no result within ${timeoutMs / 1000}s`), timeoutMs);
try {
  // 1–3: the first connection is refused; the SDK discovers, registers or uses CIMD, and
  // sends the browser to Portcullis.
  const transport = newTransport();
  const first = new Client({ name: 'portcullis-e2e-node-client', version: '1.0.0' });
  let refused = false;
  try {
    await first.connect(transport);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    refused = true;
  }
  if (!refused || !authorizationUrl) throw new Error('the first connection was not refused with a redirect to authorize');
  const q = await callback;
  if (q.error) throw new Error(`authorization failed: ${q.error} ${q.error_description ?? ''}`);
  if (q.state !== state) throw new Error(`state ${q.state} is not ${state}`);

  // 4: the code for tokens, then a connection that works.
  await transport.finishAuth(q.code);
  const tokens1 = saved.tokens;
  const client = new Client({ name: 'portcullis-e2e-node-client', version: '1.0.0' });
  await client.connect(newTransport());
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const firstCall = parseEcho(await client.callTool({ name: 'echo', arguments: { message: 'hello from node' } }));

  // 5: the access token stops working; the SDK refreshes and retries.
  accessTokenExpired = true;
  const exchangesBeforeRefresh = exchanges.length;
  const afterRefresh = parseEcho(await client.callTool({ name: 'echo', arguments: { message: 'after refresh' } }));
  const tokens2 = saved.tokens;
  const refreshExchanges = exchanges.slice(exchangesBeforeRefresh);
  await client.close();

  // 6: server A's token at server B.
  const atB = await fetch(otherServerUrl, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${tokens2.access_token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
  });
  const crossServer = { status: atB.status, www_authenticate: atB.headers.get('www-authenticate') };

  const result = {
    mode: args['client-metadata-url'] ? 'cimd' : 'dcr',
    client_id: saved.client?.client_id,
    client_information: saved.client,
    redirect_uri: redirectUrl,
    authorization_url: Object.fromEntries(authorizationUrl.searchParams),
    callback: { state_ok: q.state === state, iss: q.iss ?? null, has_code: Boolean(q.code) },
    tools,
    first_call: firstCall,
    after_refresh: afterRefresh,
    tokens: saved.history.map((t) => ({
      access_token: t.access_token,
      refresh_token: t.refresh_token,
      token_type: t.token_type,
      expires_in: t.expires_in,
    })),
    tokens_before_refresh: { access_token: tokens1.access_token, refresh_token: tokens1.refresh_token },
    tokens_after_refresh: { access_token: tokens2.access_token, refresh_token: tokens2.refresh_token },
    refresh_exchanges: refreshExchanges,
    cross_server: crossServer,
    exchanges,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  clearTimeout(timer);
  receiver.close();
  process.exit(0);
} catch (err) {
  fail(`${err?.stack ?? err}\nexchanges so far: ${JSON.stringify(exchanges)}`);
}
