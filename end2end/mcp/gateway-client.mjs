#!/usr/bin/env node
// An MCP client built on npm `@modelcontextprotocol/sdk` (Client, the streamable HTTP
// transport and its OAuthClientProvider) that end2end/tests/gateway.spec.ts drives step
// by step against an MCP server behind portcullis-gateway.
//
// It connects without a token; the gateway answers 401 with `resource_metadata`; the SDK
// reads the gateway's RFC 9728 document, then Portcullis' RFC 8414 metadata, registers
// itself (RFC 7591, registration must be on), and starts the code flow with PKCE S256
// and `resource`, printing `AUTHORIZE <url>` for the test to complete in the browser; it
// waits on its loopback redirect URI, exchanges the code, connects and prints `READY`.
//
// Then it reads one JSON command per stdin line and answers each with one stdout line
// `OUT <json>`:
//   {"op": "list"}                                  → {"tools": ["name", …]}
//   {"op": "call", "name": N, "arguments": {…}}     → {"result": <the tool's text, parsed>}
//                                                     or {"error": {"code", "message", "data"}}
//   {"op": "token"}                                 → {"access_token", "client_id"}
//   {"op": "quit"}                                  → closes the session, exits 0
// On a failure: `ERROR <message>` on stderr, exit 1.
//
// Run:
//   node end2end/mcp/gateway-client.mjs --server-url <gateway>/<path> [--client-name N]

import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
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
      'client-name': { type: 'string', default: 'Node MCP client (gateway e2e)' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}
if (!args['server-url']) fail('--server-url is required');
const serverUrl = new URL(args['server-url']);

// ---- the loopback redirect URI ------------------------------------------------------
const receiver = await startRedirectReceiver();
const { redirectUrl, callback } = receiver;

// ---- the OAuthClientProvider (in memory) --------------------------------------------
const state = randomBytes(16).toString('base64url');
const saved = { client: undefined, tokens: undefined, verifier: undefined };
let asked = false;
const provider = {
  get redirectUrl() {
    return redirectUrl;
  },
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
  tokens: () => saved.tokens,
  saveTokens: (tokens) => {
    saved.tokens = tokens;
  },
  redirectToAuthorization: (url) => {
    asked = true;
    process.stdout.write(`AUTHORIZE ${url.href}\n`);
  },
  saveCodeVerifier: (v) => {
    saved.verifier = v;
  },
  codeVerifier: () => saved.verifier,
};

function parseText(result) {
  const text = result?.content?.find((c) => c.type === 'text')?.text;
  try {
    return text ? JSON.parse(text) : result;
  } catch {
    return text;
  }
}

try {
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  const first = new Client({ name: 'portcullis-e2e-gateway-client', version: '1.0.0' });
  try {
    await first.connect(transport);
    throw new Error('the gateway let the client in without a token');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  if (!asked) throw new Error('the first connection was not refused with a redirect to authorize');
  const q = await callback;
  if (q.error) throw new Error(`authorization failed: ${q.error} ${q.error_description ?? ''}`);
  if (q.state !== state) throw new Error(`state ${q.state} is not ${state}`);
  await transport.finishAuth(q.code);
  receiver.close();

  const client = new Client({ name: 'portcullis-e2e-gateway-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  process.stdout.write('READY\n');

  const out = (value) => process.stdout.write(`OUT ${JSON.stringify(value)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    if (cmd.op === 'list') {
      out({ tools: (await client.listTools()).tools.map((t) => t.name) });
    } else if (cmd.op === 'call') {
      try {
        out({ result: parseText(await client.callTool({ name: cmd.name, arguments: cmd.arguments ?? {} })) });
      } catch (err) {
        if (typeof err?.code !== 'number') throw err;
        out({ error: { code: err.code, message: err.message, data: err.data ?? null } });
      }
    } else if (cmd.op === 'token') {
      out({ access_token: saved.tokens?.access_token, client_id: saved.client?.client_id });
    } else if (cmd.op === 'quit') {
      await client.close();
      process.exit(0);
    } else {
      throw new Error(`unknown command ${line}`);
    }
  }
  process.exit(0);
} catch (err) {
  fail(err?.stack ?? String(err));
}
