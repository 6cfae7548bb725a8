#!/usr/bin/env bash
# Shows that portcullis-gateway is transparent to MCP: the MCP conformance
# suite's server scenarios (npm @modelcontextprotocol/conformance, pinned in
# end2end/conformance/ with its own Node 22 from npm `node`) are run against a
# conformant upstream MCP server twice, directly and through the gateway, and
# the script fails unless the same checks pass both ways.
#
# The upstream is end2end/mcp/everything-server.mjs, a port of the suite
# repository's reference "everything" server (the npm package ships none) on
# the npm SDK. The scenarios: the suite's default "active" suite, plus the two
# pending scenarios the reference server passes (json-schema-2020-12: a tool
# list with a raw JSON Schema 2020-12, which the gateway hashes and filters;
# server-sse-polling: SSE `retry`, a stream the server closes, resumption with
# Last-Event-ID). The draft 2026-07-28 and extension scenarios (tasks, skills)
# are not run: the reference server's stateless draft path is not ported.
#
# Through the gateway, everything is set up as a deployment would: a fresh
# console (throwaway SQLite) with an owner, a SCIM directory with Bob and an
# OIDC connection (scripts/lib/acme-console.sh), a catalog server for the
# upstream whose tools the console discovers from it, a grant of the whole
# server (destructive tools included: the reference's tools carry no
# annotations) to Bob, and a registered gateway whose credential the gateway
# starts with (`--upstream RESOURCE=URL`); Bob gets an access token for the
# server from the console's authorization server (a pre-registered public
# client, PKCE S256 with `resource`; end2end/conformance/sign-in.mjs signs
# him in through the IdP and allows; a loopback listener takes the code).
#
# The suite's server mode cannot do OAuth nor send a token, so
# end2end/conformance/bearer-proxy.mjs stands in for that half of a client:
# it adds `Authorization: Bearer <Bob's token>` to each request and relays
# everything else unchanged, streaming both ways. The suite talks to the
# proxy, so the proxy's URL is the server's public URL, its resource URL in
# the catalog (the token's audience, the origin the gateway's DNS-rebinding
# check accepts), as for a gateway behind a load balancer; the gateway listens
# on its own port and serves the resource's path.
#
# Comparison: per scenario and per check (checks.json of both runs). Every
# scenario that passes directly must pass through the gateway, and the set of
# passing checks must be the same. A scenario that fails even directly (a
# suite or upstream limitation) is reported and left out of the comparison
# only if it fails in exactly the same way through the gateway; otherwise it
# fails the run. At least one scenario must pass directly. The gateway's
# /metrics must then show the suite's tool calls decided (allowed) there.
# The whole run takes about 15 s (33 scenarios, 84 checks each way).
#
# Usage: scripts/mcp-conformance-gateway.sh [path/to/portcullis] [path/to/portcullis-gateway]
# (MCP_CONFORMANCE_KEEP=1 keeps the scratch folder: results, logs, database.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/debug/portcullis}"
gw_bin="${2:-target/debug/portcullis-gateway}"
here=end2end/conformance
node22="$here/node_modules/node/bin/node"
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
# Scenarios run besides the active suite (see above).
extra_scenarios=(json-schema-2020-12 server-sse-polling)
die() { printf '✗ %s\n' "$*" >&2; exit 1; }
[ -x "$bin" ] || die "no server binary at $bin"
[ -x "$gw_bin" ] || die "no gateway binary at $gw_bin"
[ -x "$node22" ] && [ -f "$suite" ] || die "$here is not installed: run scripts/setup.sh"
[ -f end2end/node_modules/@modelcontextprotocol/sdk/package.json ] &&
  [ -f end2end/node_modules/oidc-provider/package.json ] || die "end2end/ is not installed: run scripts/setup.sh"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${MCP_CONFORMANCE_KEEP:-}" ]; then echo "kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# shellcheck source=scripts/lib/acme-console.sh
source scripts/lib/acme-console.sh

start=$SECONDS
last=$SECONDS
# done_step <what>: prints what was done and how long it took.
done_step() {
  printf '✓ %s (%ds; %ds in all)\n' "$1" "$((SECONDS - last))" "$((SECONDS - start))"
  last=$SECONDS
}
free_port() {
  "$node22" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
# jget <expression> < document: a value of a JSON document, e.g. jget .server.id
jget() {
  "$node22" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=new Function("d","return d"+process.argv[1])(JSON.parse(s));if(v===undefined||v===null)process.exit(1);console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"
}
# on_failure <message>: the logs that explain a failure, then dies.
on_failure() {
  local f
  for f in upstream gateway proxy server; do
    [ -s "$tmp/$f.log" ] || continue
    echo "--- $f log (last 25 lines) ---"
    tail -n 25 "$tmp/$f.log"
  done
  die "$1"
}
# run_suite <url> <results dir> <log>: the active suite, then each extra
# scenario. The exit codes are not looked at: the results are compared.
run_suite() {
  local url="$1" out="$2" log="$3" s
  timeout 300 "$node22" "$suite" server --url "$url" --output-dir "$out" >"$log" 2>&1 || true
  for s in "${extra_scenarios[@]}"; do
    timeout 120 "$node22" "$suite" server --url "$url" --scenario "$s" --output-dir "$out" >>"$log" 2>&1 || true
  done
  [ -n "$(find "$out" -name checks.json 2>/dev/null)" ] || { cat "$log"; on_failure "the suite wrote no results for $url"; }
}

# ---- 1. the upstream ---------------------------------------------------------------
"$node22" end2end/mcp/everything-server.mjs >"$tmp/upstream.log" 2>&1 &
pids+=($!)
upstream="$(wait_for "$tmp/upstream.log" 'listening on http://[0-9.:]+/mcp' "${pids[-1]}" "the everything server" | cut -d' ' -f3)"
done_step "upstream: end2end/mcp/everything-server.mjs at $upstream"

# ---- 2. the suite, directly --------------------------------------------------------
run_suite "$upstream" "$tmp/direct" "$tmp/direct.log"
done_step "suite run directly against $upstream"

# ---- 3. the console, the catalog, the grant, the gateway ---------------------------
proxy_port="$(free_port)"
gw_port="$(free_port)"
cb_port="$(free_port)"
resource="http://127.0.0.1:$proxy_port/everything"
redirect="http://127.0.0.1:$cb_port/callback"

unset "${!PORTCULLIS_@}"
export DATABASE_URL="sqlite:$tmp/portcullis.db" PORTCULLIS_CONFIG="" PORTCULLIS_ADDR="127.0.0.1:0" \
  PORTCULLIS_BOOTSTRAP_OWNER_EMAIL="owner@conformance.test" \
  PORTCULLIS_FETCH_ALLOWED_HOSTS="127.0.0.1" PORTCULLIS_ACCESS_TOKEN_MINUTES=30 NO_COLOR=1
# (Loopback fetches allowed: the IdP and the upstream's discovery. Tokens
# for 30 minutes: the default 10 would do, with room for a slow machine.)

start_console "$bin" "MCP conformance suite (via gateway)" "$redirect"

acme_console "$url" "$setup_link" "$node22" "Everything (conformance)" everything "$resource"
server_id="$(console catalog/servers/get id=everything | jget .server.id)"
report="$(console catalog/servers/discover "id=$server_id" "url=$upstream" credential=)"
found="$(jget .found <<<"$report")"
added="$(jget .added <<<"$report")"
quarantined="$(jget '.quarantined.join(" ")' <<<"$report" || true)"
[ "$found" -gt 0 ] && [ "$found" = "$added" ] && [ -z "$quarantined" ] ||
  on_failure "discovery of $upstream: $report"
console access/grants/create effect=allow subject_kind=person person=bob@acme.test "server_id=$server_id" \
  target=server include_destructive=on "reason=MCP conformance through the gateway: every tool" >/dev/null
credential="$(console gateways/create name=conformance-gateway \
  "description=portcullis-gateway in front of the everything server" "server_ids[0]=$server_id" | jget .token)"
done_step "console at $url: catalog server $resource with $found tools discovered from the upstream, all granted to bob@acme.test, gateway registered"

mkdir -p "$tmp/gateway-state"
PORTCULLIS_GATEWAY_CREDENTIAL="$credential" "$gw_bin" --listen "127.0.0.1:$gw_port" --console-url "$url" \
  --issuer "$url" --state-dir "$tmp/gateway-state" --upstream "$resource=$upstream" --log-format text \
  >"$tmp/gateway.log" 2>&1 &
pids+=($!)
gateway="http://127.0.0.1:$gw_port"
ready=""
for _ in $(seq 1 300); do
  ready="$(curl -sS -o /dev/null -w '%{http_code}' "$gateway/readyz" 2>/dev/null || true)"
  [ "$ready" = 200 ] && break
  kill -0 "${pids[-1]}" 2>/dev/null || on_failure "portcullis-gateway exited"
  sleep 0.1
done
[ "$ready" = 200 ] || on_failure "portcullis-gateway not ready within 30 s (last /readyz: $ready)"
# Without a token the gateway refuses (so what passes below passed with Bob's token).
anon="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$gateway/everything" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}')"
[ "$anon" = 401 ] || on_failure "the gateway answered $anon (not 401) to a request without a token"
done_step "gateway at $gateway ready (/readyz 200; 401 without a token), upstream $resource=$upstream"

# ---- 4. Bob's access token ---------------------------------------------------------
# The client's loopback redirect listener: takes one callback, writes its URL.
"$node22" -e '
  const [port, file] = process.argv.slice(1);
  const s = require("http").createServer((req, res) => {
    require("fs").writeFileSync(file, `http://127.0.0.1:${port}${req.url}`);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("You can close this window.\n");
    s.close();
  }).listen(Number(port), "127.0.0.1", () => console.log("callback listening"));
' "$cb_port" "$tmp/callback.url" >"$tmp/callback.log" 2>&1 &
pids+=($!)
wait_for "$tmp/callback.log" 'callback listening' "${pids[-1]}" "the callback listener" >/dev/null
pkce="$("$node22" -e '
  const c = require("crypto");
  const v = c.randomBytes(32).toString("base64url");
  console.log(v, c.createHash("sha256").update(v).digest("base64url"), c.randomBytes(16).toString("hex"));
')"
read -r verifier challenge state <<<"$pkce"
auth_url="$("$node22" -e '
  const [base, client_id, redirect_uri, code_challenge, state, resource] = process.argv.slice(1);
  const q = new URLSearchParams({ response_type: "code", client_id, redirect_uri, code_challenge,
    code_challenge_method: "S256", state, resource });
  console.log(`${base}/oauth/authorize?${q}`);
' "$url" "$client_id" "$redirect" "$challenge" "$state" "$resource")"
"$node22" "$here/sign-in.mjs" --url "$auth_url" --email bob@acme.test --expect "$redirect" \
  >"$tmp/browser.log" 2>&1 || { cat "$tmp/browser.log"; on_failure "the browser could not complete the authorization"; }
[ -s "$tmp/callback.url" ] || on_failure "the callback listener got no redirect"
code="$("$node22" -e '
  const u = new URL(process.argv[1]);
  if (u.searchParams.get("state") !== process.argv[2]) { console.error(`state mismatch: ${u}`); process.exit(1); }
  const code = u.searchParams.get("code");
  if (!code) { console.error(`no code: ${u}`); process.exit(1); }
  console.log(code);
' "$(cat "$tmp/callback.url")" "$state")"
status="$(curl -sS -o "$tmp/token.json" -w '%{http_code}' -X POST "$url/oauth/token" \
  --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
  --data-urlencode "redirect_uri=$redirect" --data-urlencode "code_verifier=$verifier" \
  --data-urlencode "client_id=$client_id" --data-urlencode "resource=$resource")"
[ "$status" = 200 ] || { cat "$tmp/token.json" >&2; echo >&2; on_failure "POST /oauth/token: HTTP $status"; }
(umask 077 && jget .access_token <"$tmp/token.json" >"$tmp/token")
claims="$("$node22" -e '
  const t = require("fs").readFileSync(process.argv[1], "utf8").trim();
  const c = JSON.parse(Buffer.from(t.split(".")[1], "base64url").toString());
  console.log(`aud ${c.aud}, sub ${c.sub}, expires in ${c.exp - Math.floor(Date.now() / 1000)} s`);
' "$tmp/token")"
done_step "Bob's access token from $url/oauth/token ($claims)"

# ---- 5. the bearer proxy -----------------------------------------------------------
"$node22" "$here/bearer-proxy.mjs" --port "$proxy_port" --target "$gateway" --token-file "$tmp/token" \
  >"$tmp/proxy.out" 2>"$tmp/proxy.log" &
pids+=($!)
wait_for "$tmp/proxy.out" 'listening on http://[0-9.:]+' "${pids[-1]}" "the bearer proxy" >/dev/null
done_step "bearer proxy at http://127.0.0.1:$proxy_port → $gateway"

# ---- 6. the suite, through the gateway, and the comparison -------------------------
run_suite "$resource" "$tmp/gateway" "$tmp/gateway-suite.log"
done_step "suite run through the gateway at $resource"

set +e
"$node22" - "$tmp/direct" "$tmp/gateway" <<'EOF'
const fs = require('fs');
const path = require('path');
/** scenario → [{ key, id, status, message }] from the suite's result folders. */
function results(dir) {
  const out = new Map();
  for (const name of fs.readdirSync(dir).sort()) {
    const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(name);
    const file = path.join(dir, name, 'checks.json');
    if (!m || !fs.existsSync(file)) continue;
    const seen = new Map();
    out.set(m[1], JSON.parse(fs.readFileSync(file, 'utf8')).map((c) => {
      const n = (seen.get(c.id) ?? 0) + 1;
      seen.set(c.id, n);
      return { key: n > 1 ? `${c.id}#${n}` : c.id, id: c.id, status: c.status, message: c.errorMessage ?? '', details: c.details };
    }));
  }
  return out;
}
const direct = results(process.argv[2]);
const gateway = results(process.argv[3]);
const passes = (checks) => checks.length > 0 && checks.every((c) => c.status !== 'FAILURE');
const shown = (checks) => {
  if (!checks) return '✗ not run';
  // INFO entries are the suite's trace (requests sent, events seen), not checks.
  const real = checks.filter((c) => c.status !== 'INFO');
  const ok = real.filter((c) => c.status === 'SUCCESS').length;
  const info = checks.length - real.length;
  return `${passes(checks) ? '✓' : '✗'} ${ok}/${real.length} checks${info ? ` +${info} info` : ''}`;
};
const statuses = (checks) => JSON.stringify((checks ?? []).map((c) => [c.key, c.status]));
const scenarios = [...new Set([...direct.keys(), ...gateway.keys()])];
const width = Math.max(...scenarios.map((s) => s.length), 8);
console.log(`\n${'scenario'.padEnd(width)}  ${'direct'.padEnd(24)}  through the gateway`);
const problems = [];
const notes = [];
let compared = 0;
let checks = 0;
for (const s of scenarios) {
  const d = direct.get(s);
  const g = gateway.get(s);
  let mark = '';
  if (!d || !g) {
    problems.push(`${s}: not run ${d ? 'through the gateway' : 'directly'}`);
    mark = '  ← differs';
  } else if (passes(d)) {
    compared += 1;
    checks += d.filter((c) => c.status === 'SUCCESS').length;
    const ok = (cs) => new Set(cs.filter((c) => c.status === 'SUCCESS').map((c) => c.key));
    const [dOk, gOk] = [ok(d), ok(g)];
    const lost = [...dOk].filter((k) => !gOk.has(k));
    const gained = [...gOk].filter((k) => !dOk.has(k));
    if (!passes(g) || lost.length || gained.length) {
      mark = '  ← differs';
      for (const c of g.filter((c) => lost.includes(c.key) || c.status === 'FAILURE'))
        problems.push(`${s}: ${c.key} ${c.status} through the gateway: ${c.message}`);
      for (const k of gained) problems.push(`${s}: ${k} passes only through the gateway`);
      if (!problems.some((p) => p.startsWith(`${s}:`))) problems.push(`${s}: does not pass through the gateway`);
    }
  } else if (statuses(d) === statuses(g)) {
    mark = '  (fails directly too, identically: not compared)';
    notes.push(`${s} fails even directly, identically through the gateway: ` +
      d.filter((c) => c.status === 'FAILURE').map((c) => `${c.key}: ${c.message}`).join('; '));
  } else {
    mark = '  ← differs';
    problems.push(`${s}: fails directly and differently through the gateway: ` +
      `direct ${statuses(d)}, gateway ${statuses(g)}`);
  }
  console.log(`${s.padEnd(width)}  ${shown(d).padEnd(24)}  ${shown(g)}${mark}`);
}
// Bob may call every tool: the gateway lists him all of them, as the upstream does.
const listed = (r) => JSON.stringify(r.get('tools-list')?.find((c) => c.id === 'tools-list')?.details?.tools ?? null);
if (listed(direct) !== listed(gateway))
  problems.push(`tools-list: the upstream lists ${listed(direct)}, the gateway ${listed(gateway)}`);
console.log();
for (const n of notes) console.log(`note: ${n}`);
if (compared === 0) problems.push('no scenario passed directly');
for (const p of problems) console.log(`✗ ${p}`);
console.log(`${scenarios.length} scenarios; ${compared} pass directly (${checks} checks), ` +
  `${problems.length ? `${problems.length} difference(s) through the gateway` : 'all of them through the gateway with the same checks'}`);
process.exit(problems.length ? 1 : 0);
EOF
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  echo "--- the suite through the gateway (failures) ---"
  sed $'s/\x1b\[[0-9;]*m//g' "$tmp/gateway-suite.log" | grep -E -B 2 -A 8 'FAIL|✗|Error' | head -n 80 || true
  on_failure "MCP conformance through the gateway differs from the direct run (see above)"
fi
# The gateway's own count: the suite's tool calls were decided by the policy
# (and allowed: Bob may call every tool) and relayed.
curl -sS "$gateway/metrics" >"$tmp/metrics.txt"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$tmp/metrics.txt"; }
allowed="$(metric 'gateway_decisions_total{outcome="allowed"}')"
denied="$(metric 'gateway_decisions_total{outcome="denied"}')"
relayed="$(metric gateway_upstream_latency_seconds_count)"
[ "${allowed:-0}" -gt 0 ] && [ "${denied:-0}" -eq 0 ] ||
  on_failure "gateway metrics: ${allowed:-?} tools/call allowed, ${denied:-?} denied (expected some allowed, none denied)"
echo "✓ the gateway decided $allowed tools/call (all allowed by Bob's grant) and relayed $relayed requests upstream"
echo "✓ MCP conformance: the gateway is transparent — the same scenarios and checks pass directly and through it ($((SECONDS - start))s)"
