#!/usr/bin/env bash
# Runs the MCP conformance suite's authorization-server mode (npm
# @modelcontextprotocol/conformance, pinned in end2end/conformance/ with its
# own Node 22 from npm `node`) against a freshly started Portcullis on a
# throwaway SQLite database, and fails unless every check succeeds.
#
# The suite runs two scenarios against the issuer: the RFC 8414 metadata
# endpoint, then an authorization code grant (PKCE S256, `resource`) whose
# authorization step it leaves to a person in a browser: it prints the
# authorization URL and waits on http://127.0.0.1:<port>/callback.
# end2end/conformance/sign-in.mjs is that browser: it signs an employee in
# through the console's real flow (work email → the SSO connection's IdP →
# consent → Allow), with end2end/idp/oidc-idp.mjs (npm oidc-provider) as the
# company IdP, auto-signing in its user Bob. So this script sets the console
# up as a deployment would: an owner, a SCIM directory with Bob in it, an
# OIDC connection for acme.test bound to that directory, a catalog MCP
# server (the suite's --resource), and a pre-registered public client
# (`portcullis client create`) whose redirect URI is the suite's callback.
#
# Usage: scripts/mcp-conformance.sh [path/to/portcullis]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-${PORTCULLIS_BIN:-target/release/portcullis}}"
here=end2end/conformance
node22="$here/node_modules/node/bin/node"
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
die() { printf '✗ %s\n' "$*" >&2; exit 1; }
[ -x "$bin" ] || die "no server binary at $bin"
[ -x "$node22" ] && [ -f "$suite" ] || die "$here is not installed: run scripts/setup.sh"
[ -f end2end/node_modules/oidc-provider/package.json ] || die "end2end/ is not installed: run scripts/setup.sh"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Waits (a condition with a deadline) for a line matching the extended regex
# $2 in file $1 written by process $3; prints the first match.
wait_for() {
  local file="$1" re="$2" pid="$3" what="$4" line
  for _ in $(seq 1 300); do
    line="$(grep -m 1 -o -E "$re" "$file" || true)"
    if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "$what exited"; }
    sleep 0.1
  done
  cat "$file" >&2
  die "$what did not start within 30 s"
}
json() { "$node22" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(1);console.log(v)})' "$1"; }

# The suite's callback port: a free loopback port (the client registers it).
cb_port="$("$node22" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redirect="http://127.0.0.1:$cb_port/callback"
resource="https://mcp.acme.test/conformance"
owner_password="mcp conformance owner password"

# Nothing of the caller's configuration (a public URL, a secret key) leaks in.
unset "${!PORTCULLIS_@}"
export DATABASE_URL="sqlite:$tmp/portcullis.db" PORTCULLIS_CONFIG="" PORTCULLIS_ADDR="127.0.0.1:0" \
  PORTCULLIS_BOOTSTRAP_OWNER_EMAIL="owner@conformance.test" \
  PORTCULLIS_FETCH_ALLOWED_HOSTS="127.0.0.1" NO_COLOR=1
# The IdP listens on loopback, which the console's SSRF guard refuses unless
# allowed (as a deployment names its internal IdP hosts).

# A pre-registered public client (the suite authenticates with `none`
# whenever the metadata lists it, so a secret would go unused).
client_id="$("$bin" client create --name "MCP conformance suite" --redirect-uri "$redirect" \
  | sed -n 's/^Client ID: *//p')"
[ -n "$client_id" ] || die "portcullis client create printed no client id"

"$bin" serve > "$tmp/server.log" 2>&1 &
pids+=($!)
url="$(wait_for "$tmp/server.log" 'listening on http://[0-9.:]+' "${pids[-1]}" "portcullis serve" | cut -d' ' -f3)"
setup_link="$(wait_for "$tmp/server.log" 'http://[0-9.:]+/setup\?token=[^ ]+' "${pids[-1]}" "portcullis serve")"

# Console set-up through its server functions, as the owner's browser would.
jar="$tmp/owner.cookies"
console() {
  local endpoint="$1"; shift
  local args=() kv status
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  status="$(curl -sS -o "$tmp/out.json" -w '%{http_code}' -b "$jar" -c "$jar" \
    -H 'Sec-Fetch-Site: same-origin' "${args[@]}" "$url/api/console/$endpoint")"
  case "$status" in
    200 | 302 | 303) cat "$tmp/out.json" ;;
    *) cat "$tmp/out.json" >&2; echo >&2; die "POST /api/console/$endpoint: HTTP $status" ;;
  esac
}
console accept_link "token=${setup_link#*token=}" "display_name=Conformance Owner" \
  "password=$owner_password" > /dev/null
dir="$(console directory/directories/create "name=Acme")"
dir_id="$(json directory_id <<<"$dir")"
scim_base="$(json base_url <<<"$dir")"
scim_token="$(json token <<<"$dir")"
status="$(curl -sS -o "$tmp/out.json" -w '%{http_code}' -X POST "$scim_base/Users" \
  -H "Authorization: Bearer $scim_token" -H 'Content-Type: application/scim+json' \
  -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@acme.test",
       "externalId":"bob","active":true,"displayName":"Bob Nobody",
       "emails":[{"value":"bob@acme.test","type":"work","primary":true}]}')"
[ "$status" = 201 ] || { cat "$tmp/out.json" >&2; die "SCIM POST /Users: HTTP $status"; }

"$node22" end2end/idp/oidc-idp.mjs --redirect-uri "$url/sso/oidc/acme/callback" \
  --auto-login bob > "$tmp/idp.log" 2>&1 &
pids+=($!)
idp="$(wait_for "$tmp/idp.log" 'listening on http://[0-9.:]+' "${pids[-1]}" "the test IdP" | cut -d' ' -f3)"
console sso/create "name=Acme IdP" "slug=acme" "kind=oidc" "enabled=on" "domains=acme.test" \
  "issuer=$idp" "client_id=portcullis" "client_secret=portcullis-e2e-secret" \
  "directory_id=$dir_id" > /dev/null
console catalog/servers/create "name=Conformance MCP server" "slug=conformance" \
  "resource_url=$resource" > /dev/null

# The suite, and the browser once it asks for one.
echo "suite: conformance authorization --url $url --client-id $client_id --resource $resource --port $cb_port"
# (At most 2 minutes: the suite itself would wait 5 for a callback.)
timeout 120 "$node22" "$suite" authorization --url "$url" --client-id "$client_id" --resource "$resource" \
  --port "$cb_port" --output-dir "$tmp/results" > "$tmp/suite.log" 2>&1 &
suite_pid=$!
pids+=("$suite_pid")
auth_url="$(wait_for "$tmp/suite.log" "^$url/oauth/authorize\?[^ ]+" "$suite_pid" "the conformance suite")"
browser_rc=0
"$node22" "$here/sign-in.mjs" --url "$auth_url" --email bob@acme.test --expect "$redirect" \
  > "$tmp/browser.log" 2>&1 || browser_rc=$?
if [ "$browser_rc" -ne 0 ]; then
  # The suite would wait 5 minutes for a callback that is not coming.
  kill "$suite_pid" 2>/dev/null || true
fi
set +e
wait "$suite_pid"
rc=$?
set -e
sed $'s/\x1b\[[0-9;]*m//g' "$tmp/suite.log"
echo
echo "The browser's way through the authorization (sign-in.mjs):"
cat "$tmp/browser.log"
if [ "$browser_rc" -ne 0 ]; then
  echo "--- server log (last 20 lines) ---"; tail -n 20 "$tmp/server.log"
  echo "--- IdP log (last 10 lines) ---"; tail -n 10 "$tmp/idp.log"
  die "the browser could not complete the authorization (see above)"
fi
[ -d "$tmp/results" ] || die "the conformance suite wrote no results (exit $rc)"

# Every check must have run and succeeded: a skipped grant (no client) or a
# warning (e.g. no CIMD support advertised) fails here too.
summary="$(find "$tmp/results" -name checks.json -exec "$node22" -e '
  const checks = process.argv.slice(1).flatMap((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  const ids = checks.map((c) => c.id);
  for (const c of checks.filter((c) => c.status !== "SUCCESS"))
    console.log(`${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
  for (const want of ["authorization-server-metadata", "authorization-code-grant"])
    if (!ids.includes(want)) console.log(`MISSING ${want}`);
  const ok = checks.filter((c) => c.status === "SUCCESS").length;
  console.log(`${ok}/${checks.length} checks succeeded (${ids.join(", ")})`);
' {} +)"
[ -n "$summary" ] || die "the conformance suite wrote no results (exit $rc)"
bad="$(sed '$d' <<<"$summary")"
[ -z "$bad" ] || printf '%s\n' "$bad"
if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
  die "MCP conformance (authorization server): $(tail -n 1 <<<"$summary"); suite exit $rc"
fi
echo "✓ MCP conformance (authorization server): $(tail -n 1 <<<"$summary") against $url"
