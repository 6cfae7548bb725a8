#!/usr/bin/env node
// Load driver of scripts/bench-oauth-refresh.sh: refresh-token grants against
// one token endpoint, the same for Portcullis and for oidc-provider.
//
// A refresh token is single-use (both servers rotate it and treat a second
// use as theft), so there is no fixed request to replay: each of the N
// workers owns one token family and chains its own rotation, one request at
// a time on its own keep-alive connection (node:http, an Agent with N
// sockets):
//   POST <token endpoint>  grant_type=refresh_token&refresh_token=R&client_id=C
//   → 200 with a new refresh token R' (≠ R) and an access token (a JWS) → use R'.
// N = the number of tokens in --tokens (from obtain-refresh-tokens.mjs).
//
// Every answer is checked: HTTP 200, JSON, token_type Bearer, an access token
// of three dot-separated parts, a refresh token different from the one sent.
// Anything else is an error: printed (the first few bodies), counted, and
// that worker's chain stops (its token is spent or unknown). Exit 1 if any.
//
// Timing: --warmup seconds of the same load first (not counted), then
// --duration seconds; a grant counts when it completed inside the measured
// window, and workers start no request after it. Latency is per request,
// from just before the request is written to the end of the body.
// The tokens each chain ends with are written back to --tokens, so the
// next round goes on from there.
//
// Usage: node refresh-load.mjs --tokens <file> --duration 10 [--warmup 2] [--label name]
// Prints one line on stdout:
//   RESULT <label> grants=<n> seconds=<s> rate=<grants/s> p50=<ms> p99=<ms> max=<ms> errors=<n> connections=<n>
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    label: { type: 'string', default: 'server' },
  },
  strict: true,
});
const state = JSON.parse(readFileSync(args.tokens, 'utf8'));
const endpoint = new URL(state.token_endpoint);
const clientId = state.client_id;
const chains = [...state.refresh_tokens];
const n = chains.length;
const durationMs = Number(args.duration) * 1000;
const warmupMs = Number(args.warmup) * 1000;

const agent = new http.Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n, scheduling: 'fifo' });

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent,
      host: endpoint.hostname,
      port: endpoint.port,
      path: endpoint.pathname,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        accept: 'application/json',
      },
    }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.end(body);
  });
}

let errors = 0;
const shownErrors = [];
function error(worker, what) {
  errors += 1;
  if (shownErrors.length < 5) shownErrors.push(`worker ${worker}: ${what}`);
}

const t0 = performance.now();
const measureFrom = t0 + warmupMs;
const measureTo = measureFrom + durationMs;
let latencies = new Float64Array(1 << 16);
let counted = 0;
let warmupGrants = 0;

async function worker(i) {
  while (performance.now() < measureTo) {
    const old = chains[i];
    const body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(old)}&client_id=${encodeURIComponent(clientId)}`;
    const start = performance.now();
    let res;
    try {
      res = await post(body);
    } catch (e) {
      error(i, `request failed: ${e.message}`);
      chains[i] = null;
      return;
    }
    const end = performance.now();
    let json;
    try { json = JSON.parse(res.body); } catch { json = undefined; }
    if (res.status !== 200 || !json) {
      error(i, `HTTP ${res.status}: ${res.body.slice(0, 300)}`);
      chains[i] = null;
      return;
    }
    const rt = json.refresh_token;
    if (typeof rt !== 'string' || rt === '' || rt === old) {
      error(i, `no new refresh token: ${res.body.slice(0, 300)}`);
      chains[i] = null;
      return;
    }
    chains[i] = rt;
    if (typeof json.access_token !== 'string' || json.access_token.split('.').length !== 3
      || String(json.token_type).toLowerCase() !== 'bearer') {
      error(i, `no Bearer JWS access token: ${res.body.slice(0, 300)}`);
      return;
    }
    if (start >= measureFrom && end <= measureTo) {
      if (counted === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[counted] = end - start;
      counted += 1;
    } else if (end < measureFrom) {
      warmupGrants += 1;
    }
  }
}

await Promise.all(chains.map((_, i) => worker(i)));
agent.destroy();

const live = chains.filter((t) => t !== null);
writeFileSync(args.tokens, JSON.stringify({ ...state, refresh_tokens: live }));

const sorted = latencies.subarray(0, counted).sort();
const pct = (p) => (counted ? sorted[Math.min(counted - 1, Math.ceil((p / 100) * counted) - 1)] : NaN);
const seconds = durationMs / 1000;
for (const e of shownErrors) process.stderr.write(`  ✗ ${args.label}: ${e}\n`);
if (errors > shownErrors.length) process.stderr.write(`  ✗ ${args.label}: … ${errors - shownErrors.length} more errors\n`);
process.stdout.write(`RESULT ${args.label} grants=${counted} seconds=${seconds} rate=${(counted / seconds).toFixed(0)} `
  + `p50=${pct(50).toFixed(2)} p99=${pct(99).toFixed(2)} max=${pct(100).toFixed(2)} errors=${errors} `
  + `connections=${n} warmup_grants=${warmupGrants} live_chains=${live.length}\n`);
process.exit(errors ? 1 : 0);
