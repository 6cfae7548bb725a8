#!/usr/bin/env node
// A sample MCP server for the browser tests (loopback, http): the resource server
// whose tokens Portcullis issues. npm `@modelcontextprotocol/sdk` (McpServer, the
// streamable HTTP transport, stateless) with one tool, `echo`; every request to /mcp
// needs `Authorization: Bearer <access token>`, verified with npm `jose` against
// Portcullis' JWKS exactly as docs/oauth.md tells a gateway to:
//
//   - the JWKS URL is the `jwks_uri` of Portcullis' RFC 8414 metadata (fetched once,
//     its `issuer` must equal --issuer);
//   - only EdDSA, only `typ: at+jwt` (a signed policy bundle is never a token);
//   - `iss` = --issuer exactly, `aud` = this server's own resource URL exactly
//     (http://127.0.0.1:PORT/mcp), `exp` in the future; `sub` and `client_id` present.
//
// A missing or refused token gets 401 with
//   WWW-Authenticate: Bearer [error="invalid_token", error_description="…", ]resource_metadata="<url>"
// where <url> is --resource-metadata-url: Portcullis' RFC 9728 document of this server
// (`<console>/oauth/resources/<slug>`, which docs/oauth.md lets a gateway "serve or point
// to"; here the server points to it). Its `resource` must equal this server's URL, which
// both SDK clients check.
//
// Run:
//   node end2end/mcp/sample-server.mjs --name A --issuer <portcullis base URL>
//        --resource-metadata-url <console>/oauth/resources/<slug> [--port 0]
// Prints exactly one stdout line once ready:  mcp server A listening on http://127.0.0.1:PORT/mcp
// GET /log (test only, no auth) answers the JSON list of what the server decided, oldest
// first: { status, reason?, sub?, client_id?, aud?, tool?, message? }.
// Stops on SIGTERM / SIGINT.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

function fail(message) {
  process.stderr.write(`sample-server: ${message}\n`);
  process.stderr.write('usage: node end2end/mcp/sample-server.mjs --name N --issuer URL --resource-metadata-url URL [--port 0]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      name: { type: 'string' },
      issuer: { type: 'string' },
      'resource-metadata-url': { type: 'string' },
      port: { type: 'string', default: '0' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}
if (!args.name) fail('--name is required');
if (!args.issuer) fail('--issuer is required');
if (!args['resource-metadata-url']) fail('--resource-metadata-url is required');
const issuer = args.issuer;
const prmUrl = args['resource-metadata-url'];
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${args.port}`);

/** What the server decided, for the test to read at GET /log. */
const log = [];

let jwks;
/** The JWKS of Portcullis, found through its authorization server metadata. */
async function keySet() {
  if (jwks) return jwks;
  const res = await fetch(new URL('/.well-known/oauth-authorization-server', issuer));
  if (!res.ok) throw new Error(`AS metadata: HTTP ${res.status}`);
  const meta = await res.json();
  if (meta.issuer !== issuer) throw new Error(`AS metadata issuer ${meta.issuer} is not ${issuer}`);
  jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
  return jwks;
}

/** Verifies a bearer token for `resource`; returns its claims or throws. */
async function verify(token, resource) {
  const { payload } = await jwtVerify(token, await keySet(), {
    issuer,
    audience: resource,
    algorithms: ['EdDSA'],
    typ: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
  });
  // jose accepts an array `aud` that contains ours; a Portcullis token has exactly one.
  if (payload.aud !== resource) throw new Error(`aud ${JSON.stringify(payload.aud)} is not exactly ${resource}`);
  return payload;
}

function challenge(res, error) {
  const parts = [];
  if (error) {
    parts.push('error="invalid_token"');
    parts.push(`error_description="${String(error).replaceAll('"', "'").replaceAll('\\', '/')}"`);
  }
  parts.push(`resource_metadata="${prmUrl}"`);
  res.writeHead(401, {
    'Content-Type': 'application/json',
    'WWW-Authenticate': `Bearer ${parts.join(', ')}`,
  });
  res.end(JSON.stringify({ error: 'invalid_token', error_description: error ?? 'a bearer token is required' }));
}

function buildServer(auth) {
  const server = new McpServer({ name: `portcullis-e2e-${args.name}`, version: '1.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Echoes the message back with who called (from the verified token).',
      inputSchema: { message: z.string() },
    },
    async ({ message }) => {
      log.push({ status: 200, tool: 'echo', message, sub: auth.sub, client_id: auth.client_id, aud: auth.aud });
      const body = { server: args.name, echo: message, sub: auth.sub, client_id: auth.client_id, aud: auth.aud };
      return { content: [{ type: 'text', text: JSON.stringify(body) }] };
    },
  );
  return server;
}

const http = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/log' && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(log));
    return;
  }
  if (url.pathname !== '/mcp') {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  const resource = `http://127.0.0.1:${http.address().port}/mcp`;
  const header = req.headers.authorization ?? '';
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header);
  if (!m) {
    log.push({ status: 401, reason: header ? 'malformed Authorization header' : 'no token' });
    challenge(res, header ? 'malformed Authorization header' : undefined);
    return;
  }
  let claims;
  try {
    claims = await verify(m[1], resource);
  } catch (err) {
    const reason = `${err?.code ?? err?.name ?? 'error'}: ${err?.message ?? err}`;
    log.push({ status: 401, reason });
    challenge(res, reason);
    return;
  }
  if (req.method !== 'POST') {
    // Stateless: no standalone SSE stream, no sessions to delete.
    res.writeHead(405, { Allow: 'POST' });
    res.end();
    return;
  }
  const auth = { sub: claims.sub, client_id: claims.client_id, aud: claims.aud };
  log.push({ status: 200, method: 'POST', sub: claims.sub, client_id: claims.client_id, aud: claims.aud });
  const server = buildServer(auth);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res);
  } catch (err) {
    process.stderr.write(`sample-server ${args.name}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }));
    }
  }
});

http.listen(port, '127.0.0.1', () => {
  process.stdout.write(`mcp server ${args.name} listening on http://127.0.0.1:${http.address().port}/mcp\n`);
});
http.on('error', (err) => {
  process.stderr.write(`sample-server: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  http.close(() => process.exit(0));
  http.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
