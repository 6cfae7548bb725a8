#!/usr/bin/env node
// The OAuth half of an MCP client, for scripts/mcp-conformance-gateway.sh. The MCP
// conformance suite's server mode (npm @modelcontextprotocol/conformance) talks to an
// MCP server without authorization: it cannot get a token nor send one. A
// portcullis-gateway refuses every request without a Portcullis access token (401).
// This proxy stands between the two, on loopback, and does what the suite's client
// would do with a token it got through OAuth: it adds `Authorization: Bearer <token>`
// to every request. It adds nothing else.
//
// Everything else is relayed as it is, both ways, as it streams: the method (GET, POST,
// DELETE, anything), the path and query, every request and response header (Host,
// Origin, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Accept, Content-Type,
// WWW-Authenticate, …) and the status code; request and response bodies are piped
// chunk by chunk, so SSE streams (text/event-stream) reach the suite event by event and
// an open GET stream stays open. Only the hop-by-hop headers of RFC 9110 §7.6.1
// (Connection, Keep-Alive, Transfer-Encoding, Upgrade, TE, Trailer, Proxy-*, and any
// header Connection names) are not relayed, as with any HTTP intermediary: each
// connection has its own. A client that goes away closes the request to the target,
// and a target that fails mid-answer cuts the answer (502 if nothing was sent yet).
//
// Usage: node bearer-proxy.mjs --target http://127.0.0.1:PORT --token-file FILE [--port 0]
// (the token is read from a file so that it is not in the process list). Prints one
// stdout line once ready:  bearer proxy listening on http://127.0.0.1:PORT → TARGET
// Each request is logged to stderr: METHOD path → status. Stops on SIGTERM / SIGINT.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

function fail(message) {
  process.stderr.write(`bearer-proxy: ${message}\n`);
  process.stderr.write('usage: node bearer-proxy.mjs --target http://127.0.0.1:PORT --token-file FILE [--port 0]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      target: { type: 'string' },
      'token-file': { type: 'string' },
      port: { type: 'string', default: '0' },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}
if (!args.target || !args['token-file']) fail('--target and --token-file are required');
const target = new URL(args.target);
if (target.protocol !== 'http:') fail(`--target must be an http URL, got ${args.target}`);
const token = readFileSync(args['token-file'], 'utf8').trim();
if (!token) fail(`${args['token-file']} is empty`);
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${args.port}`);

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Raw headers ([name, value, name, value, …]) without the hop-by-hop ones. */
function endToEnd(raw) {
  const named = new Set(HOP_BY_HOP);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection') {
      for (const n of raw[i + 1].split(',')) named.add(n.trim().toLowerCase());
    }
  }
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!named.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  // The client's headers as sent (names, order, repeats), plus the token.
  const headers = endToEnd(req.rawHeaders).filter(
    (_, i, all) => all[i - (i % 2)].toLowerCase() !== 'authorization',
  );
  headers.push('Authorization', `Bearer ${token}`);
  const upstream = http.request({
    agent,
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers,
    setHost: false, // the client's Host header is relayed as it is
  });
  upstream.on('response', (answer) => {
    process.stderr.write(`${req.method} ${req.url} → ${answer.statusCode}\n`);
    res.writeHead(answer.statusCode, answer.statusMessage, endToEnd(answer.rawHeaders));
    // Headers at once: an SSE stream may send its first event much later.
    res.flushHeaders();
    answer.pipe(res);
    answer.on('error', () => res.destroy());
    answer.on('aborted', () => res.destroy());
  });
  upstream.on('error', (err) => {
    process.stderr.write(`${req.method} ${req.url} → ✗ ${err.message}\n`);
    if (!res.headersSent) {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`bearer-proxy: ${err.message}\n`);
    } else {
      res.destroy();
    }
  });
  // The client went away (e.g. closed an SSE stream): so does the request to the target.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`bearer proxy listening on http://127.0.0.1:${server.address().port} → ${target.origin}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`bearer-proxy: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    agent.destroy();
  });
}
