# shellcheck shell=bash
# Sourced by scripts that start a throwaway `portcullis serve` and set it up
# as a deployment would for the OAuth flow of MCP clients
# (scripts/mcp-conformance.sh, scripts/bench-oauth-refresh.sh):
#   acme_console <url> <setup link> <node> <server name> <server slug> <resource URL>
# signs the owner in (the set-up link), creates the SCIM directory "Acme"
# with Bob (bob@acme.test, IdP subject `bob`), starts the test OIDC IdP
# (end2end/idp/oidc-idp.mjs, npm oidc-provider, auto-signing in Bob),
# connects it for acme.test bound to that directory, and registers one
# catalog MCP server. The caller provides `die`, `$tmp` (a scratch folder)
# and `pids` (an array its exit trap kills); the IdP's pid is appended.
#   start_console <bin> <client name> <redirect URI>
# (before acme_console) registers a public OAuth client with that redirect
# URI and starts `<bin> serve` (log in $tmp/server.log); sets `client_id`,
# `url` and `setup_link`.

# Waits (up to 30 s) for a line matching the extended regex $2 in file $1
# written by process $3 ($4 names it); prints the first match.
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

# json <field> < document: one top-level field of a JSON document ($NODE_BIN).
json() {
  "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(1);console.log(v)})' "$1"
}

# console <endpoint> key=value…: a console server function, as the owner's
# browser calls it (cookie jar in $tmp); prints the answer.
console() {
  local endpoint="$1"; shift
  local args=() kv status
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  status="$(curl -sS -o "$tmp/out.json" -w '%{http_code}' -b "$tmp/owner.cookies" -c "$tmp/owner.cookies" \
    -H 'Sec-Fetch-Site: same-origin' "${args[@]}" "$CONSOLE_URL/api/console/$endpoint")"
  case "$status" in
    200 | 302 | 303) cat "$tmp/out.json" ;;
    *) cat "$tmp/out.json" >&2; echo >&2; die "POST /api/console/$endpoint: HTTP $status" ;;
  esac
}

start_console() {
  local bin="$1" name="$2" redirect="$3"
  client_id="$("$bin" client create --name "$name" --redirect-uri "$redirect" \
    | sed -n 's/^Client ID: *//p')"
  [ -n "$client_id" ] || die "portcullis client create printed no client id"
  "$bin" serve >"$tmp/server.log" 2>&1 &
  pids+=($!)
  url="$(wait_for "$tmp/server.log" 'listening on http://[0-9.:]+' "${pids[-1]}" "portcullis serve" | cut -d' ' -f3)"
  setup_link="$(wait_for "$tmp/server.log" 'http://[0-9.:]+/setup\?token=[^ ]+' "${pids[-1]}" "portcullis serve")"
}

acme_console() {
  CONSOLE_URL="$1"
  local setup_link="$2" server_name="$4" slug="$5" resource="$6" dir dir_id scim_base scim_token status idp
  NODE_BIN="$3"
  console accept_link "token=${setup_link#*token=}" "display_name=Olivia Owner" \
    "password=a long owner password for scripts" >/dev/null
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
  "$NODE_BIN" end2end/idp/oidc-idp.mjs --redirect-uri "$CONSOLE_URL/sso/oidc/acme/callback" \
    --auto-login bob >"$tmp/idp.log" 2>&1 &
  pids+=($!)
  idp="$(wait_for "$tmp/idp.log" 'listening on http://[0-9.:]+' "${pids[-1]}" "the test IdP" | cut -d' ' -f3)"
  console sso/create "name=Acme IdP" "slug=acme" "kind=oidc" "enabled=on" "domains=acme.test" \
    "issuer=$idp" "client_id=portcullis" "client_secret=portcullis-e2e-secret" \
    "directory_id=$dir_id" >/dev/null
  console catalog/servers/create "name=$server_name" "slug=$slug" "resource_url=$resource" >/dev/null
}
