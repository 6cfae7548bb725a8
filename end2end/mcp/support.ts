// Helpers for end2end/tests/mcp-oauth.spec.ts: child processes that print a URL when
// ready (the test IdP, the sample MCP servers), the MCP clients that print the
// authorization URL and then their result, and the https server on 127.0.0.1 that
// serves client ID metadata documents with a certificate of a test CA.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as selfsigned from 'selfsigned';

export const mcpDir = __dirname;
export const end2endDir = path.resolve(__dirname, '..');

export interface Child {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `cmd args` and resolves with the first match of `ready` (group 1) in its output. */
export function startChild(cmd: string, args: string[], ready: RegExp, what: string): Promise<Child> {
  const child: ChildProcess = spawn(cmd, args, { cwd: end2endDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      void stop();
      reject(new Error(`${what} did not start:\n${log}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const m = log.match(ready);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ url: m[1], output: () => log, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}):\n${log}`));
    });
  });
}

/**
 * Calls `onLine` with each complete line `stream` prints; returns a function giving
 * everything it printed so far (for error messages).
 */
function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): () => string {
  let all = '';
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    all += text;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  return () => all;
}

/** What an MCP client script printed on its `RESULT` line. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ClientResult = Record<string, any>;

/**
 * Runs an MCP client script: on its `AUTHORIZE <url>` line calls `authorize(url)` (the
 * test drives the browser), and resolves with the JSON of its `RESULT` line once it
 * exits with 0.
 */
export function runClient(
  cmd: string,
  args: string[],
  authorize: (url: string) => Promise<void>,
  timeoutMs = 60_000,
): Promise<ClientResult> {
  const child = spawn(cmd, args, { cwd: end2endDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = () => '';
  let stderr = '';
  let result: ClientResult | undefined;
  let authorizing: Promise<void> | undefined;
  let authorizeError: unknown;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(args[0] ?? cmd)} gave no result within ${timeoutMs / 1000}s\n--- stdout ---\n${stdout()}\n--- stderr ---\n${stderr}`));
    }, timeoutMs);
    stdout = eachLine(child.stdout, (line) => {
      if (line.startsWith('AUTHORIZE ')) {
        if (authorizing) {
          authorizeError = new Error('the client asked for a second authorization');
          return;
        }
        authorizing = authorize(line.slice('AUTHORIZE '.length).trim()).catch((err) => {
          authorizeError = err;
          child.kill('SIGTERM');
        });
      } else if (line.startsWith('RESULT ')) {
        result = JSON.parse(line.slice('RESULT '.length));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('close', async (code) => {
      clearTimeout(timer);
      await authorizing;
      if (authorizeError) {
        reject(authorizeError instanceof Error
          ? Object.assign(authorizeError, { message: `${authorizeError.message}\n--- client stderr ---\n${stderr}` })
          : new Error(String(authorizeError)));
      } else if (code !== 0 || !result) {
        reject(new Error(`${path.basename(args[0] ?? cmd)} exited with ${code}\n--- stdout ---\n${stdout()}\n--- stderr ---\n${stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** An https server on 127.0.0.1 serving client ID metadata documents. */
export interface DocServer {
  /** the PEM file of the test CA */
  caFile: string;
  /** https://127.0.0.1:PORT/clients/<name>.json */
  url(name: string): string;
  serve(name: string, doc: unknown): void;
  /** GET requests per document name. */
  hits(name: string): number;
  stop(): Promise<void>;
}

/**
 * Makes a test CA (written to `caFile`, PEM, for PORTCULLIS_FETCH_CA_FILE) and a leaf
 * certificate for 127.0.0.1 it signed, and serves `/clients/<name>.json` over TLS with
 * `Cache-Control: max-age=600`.
 */
export async function startDocServer(caFile: string): Promise<DocServer> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 2 * 24 * 3600_000);
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'Portcullis e2e test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  fs.mkdirSync(path.dirname(caFile), { recursive: true });
  fs.writeFileSync(caFile, ca.cert);

  const docs = new Map<string, string>();
  const hits = new Map<string, number>();
  const server = https.createServer({ key: leaf.private, cert: `${leaf.cert}\n${ca.cert}` }, (req, res) => {
    const m = /^\/clients\/([a-z0-9-]+)\.json$/.exec(new URL(req.url ?? '/', 'https://127.0.0.1').pathname);
    const name = m?.[1];
    if (name) hits.set(name, (hits.get(name) ?? 0) + 1);
    const body = name ? docs.get(name) : undefined;
    if (req.method !== 'GET' || body === undefined) {
      res.writeHead(404, { 'Content-Length': '0' }).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=600' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    caFile,
    url: (name) => `https://127.0.0.1:${port}/clients/${name}.json`,
    serve: (name, doc) => docs.set(name, JSON.stringify(doc)),
    hits: (name) => hits.get(name) ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The claims of a JWT, unverified (the sample servers verify; this is for asserting). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** The header of a JWT, unverified. */
export function jwtHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
}

/** An MCP client process that the test drives one command at a time (gateway-client.mjs, gateway_client.py). */
export interface McpSession {
  /** Sends one command (`{op: 'list'}`, `{op: 'call', name, arguments}`, `{op: 'token'}`) and resolves with its `OUT` line. */
  send(command: Record<string, unknown>): Promise<ClientResult>;
  /** `{op: 'quit'}`, then waits for the process to exit. */
  close(): Promise<void>;
}

/**
 * Starts an interactive MCP client: on its `AUTHORIZE <url>` line calls `authorize(url)`
 * (the test drives the browser), and resolves once it prints `READY` (connected with a
 * token). Each `send` then writes one JSON line to its stdin and resolves with the JSON
 * of the next `OUT` line.
 */
export function startSession(
  cmd: string,
  args: string[],
  authorize: (url: string) => Promise<void>,
  timeoutMs = 60_000,
): Promise<McpSession> {
  const child = spawn(cmd, args, { cwd: end2endDir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = () => '';
  let stderr = '';
  const waiting: Array<{ resolve: (r: ClientResult) => void; reject: (e: Error) => void }> = [];
  let exited = false;
  const what = () => `${path.basename(args[0] ?? cmd)}\n--- stdout ---\n${stdout()}\n--- stderr ---\n${stderr}`;
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no READY within ${timeoutMs / 1000}s from ${what()}`));
    }, timeoutMs);
    const session: McpSession = {
      send(command) {
        if (exited) return Promise.reject(new Error(`the client has exited: ${what()}`));
        return new Promise((res, rej) => {
          waiting.push({ resolve: res, reject: rej });
          child.stdin.write(`${JSON.stringify(command)}\n`);
        });
      },
      async close() {
        if (exited) return;
        const done = new Promise<void>((res) => child.once('close', () => res()));
        child.stdin.write('{"op":"quit"}\n');
        const kill = setTimeout(() => child.kill('SIGTERM'), 5_000);
        await done;
        clearTimeout(kill);
      },
    };
    stdout = eachLine(child.stdout, (line) => {
      if (line.startsWith('AUTHORIZE ')) {
        authorize(line.slice('AUTHORIZE '.length).trim()).catch((err) => {
          clearTimeout(timer);
          child.kill('SIGTERM');
          reject(err);
        });
      } else if (line === 'READY') {
        ready = true;
        clearTimeout(timer);
        resolve(session);
      } else if (line.startsWith('OUT ')) {
        waiting.shift()?.resolve(JSON.parse(line.slice('OUT '.length)));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('close', (code) => {
      exited = true;
      clearTimeout(timer);
      const err = new Error(`${path.basename(args[0] ?? cmd)} exited with ${code}: ${what()}`);
      for (const w of waiting.splice(0)) w.reject(err);
      if (!ready) reject(err);
    });
  });
}
