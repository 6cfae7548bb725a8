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

# shellcheck source=scripts/lib/acme-console.sh
source scripts/lib/acme-console.sh

# The suite's callback port: a free loopback port (the client registers it).
cb_port="$("$node22" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redirect="http://127.0.0.1:$cb_port/callback"
resource="https://mcp.acme.test/conformance"

# Nothing of the caller's configuration (a public URL, a secret key) leaks in.
unset "${!PORTCULLIS_@}"
export DATABASE_URL="sqlite:$tmp/portcullis.db" PORTCULLIS_CONFIG="" PORTCULLIS_ADDR="127.0.0.1:0" \
  PORTCULLIS_BOOTSTRAP_OWNER_EMAIL="owner@conformance.test" \
  PORTCULLIS_FETCH_ALLOWED_HOSTS="127.0.0.1" NO_COLOR=1
# The IdP listens on loopback, which the console's SSRF guard refuses unless
# allowed (as a deployment names its internal IdP hosts).

# A pre-registered public client (the suite authenticates with `none`
# whenever the metadata lists it, so a secret would go unused).
start_console "$bin" "MCP conformance suite" "$redirect"

# Console set-up through its server functions, as the owner's browser would.
acme_console "$url" "$setup_link" "$node22" "Conformance MCP server" conformance "$resource"

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
