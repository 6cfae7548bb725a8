#!/usr/bin/env bash
# The admin REST API against a real, freshly started console (make test):
#
#  1. The documented onboarding script (scripts/api-onboard.sh --try) with
#     curl and jq: registers the reference "everything" MCP server
#     (end2end/mcp/everything-server.mjs on loopback), discovers its tools,
#     grants a SCIM-provisioned group, simulates, rolls back.
#  2. schemathesis (PyPI, end2end/.venv-schemathesis) against
#     /api/openapi.json with an admin API key, every operation: no 5xx, no
#     response outside its schema, status codes and content types as
#     documented.
#
#   scripts/api-checks.sh <portcullis binary>
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "✗ $*" >&2; exit 1; }
bin="${1:?usage: $0 <portcullis binary>}"
[ -x "$bin" ] || die "no server binary at $bin"
node22=end2end/conformance/node_modules/node/bin/node
st=end2end/.venv-schemathesis/bin/schemathesis
[ -x "$node22" ] && [ -x "$st" ] || die "not set up: run scripts/setup.sh"
command -v jq >/dev/null || die "jq is needed (scripts/setup.sh installs it)"

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

"$node22" end2end/mcp/everything-server.mjs >"$tmp/upstream.log" 2>&1 &
pids+=($!)
upstream="$(wait_for "$tmp/upstream.log" 'listening on http://[0-9.:]+/mcp' "${pids[-1]}" "the everything server" | cut -d' ' -f3)"

unset "${!PORTCULLIS_@}"
export DATABASE_URL="sqlite:$tmp/portcullis.db" PORTCULLIS_CONFIG="" PORTCULLIS_ADDR="127.0.0.1:0" \
  PORTCULLIS_BOOTSTRAP_OWNER_EMAIL="owner@api.test" PORTCULLIS_SECRET_KEY_FILE="$tmp/secret.key" \
  PORTCULLIS_FETCH_ALLOWED_HOSTS="127.0.0.1" NO_COLOR=1
# The fuzzer is one key sending as fast as it can: the per-key brake
# (6,000 a minute) would turn its later requests into 429s and hide what
# they test.
export PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE=0
key="$("$bin" api-key create --name onboarding --role admin | tail -n 1 | tr -d ' ')"
[[ "$key" == pck_* ]] || die "portcullis api-key create printed no key"
scim_token="$("$bin" scim-token create --directory Acme | tail -n 1 | tr -d ' ')"
"$bin" serve >"$tmp/server.log" 2>&1 &
pids+=($!)
url="$(wait_for "$tmp/server.log" 'listening on http://[0-9.:]+' "${pids[-1]}" "portcullis serve" | cut -d' ' -f3)"

# The IdP's side: Ada and the Engineering group over SCIM.
scim() {
  curl -sS -f -X POST -H "Authorization: Bearer $scim_token" -H 'Content-Type: application/scim+json' \
    --data "$2" "$url/scim/v2/$1"
}
ada="$(scim Users '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@acme.test","active":true,"emails":[{"value":"ada@acme.test","primary":true}]}' | jq -r .id)"
scim Groups "$(jq -n --arg a "$ada" '{schemas:["urn:ietf:params:scim:schemas:core:2.0:Group"],displayName:"Engineering",members:[{value:$a}]}')" >/dev/null

echo "--- scripts/api-onboard.sh --try"
PORTCULLIS_URL="$url" PORTCULLIS_API_KEY="$key" scripts/api-onboard.sh \
  --name "Everything" --slug everything --resource-url "$upstream" \
  --group Engineering --person ada@acme.test --tool test_simple_text --read-only --try

echo "--- schemathesis $("$st" --version 2>&1 | tail -n 1) against $url/api/openapi.json"
# Examples and the coverage phase (boundaries and invalid inputs of every
# parameter) plus bounded fuzzing; discovery's fetches go to loopback only.
# Run from the scratch folder: schemathesis keeps a cache (.schemathesis/)
# in its working directory, and every run starts from none.
st="$PWD/$st"
(cd "$tmp" && "$st" --no-color run "$url/api/openapi.json" \
  -H "Authorization: Bearer $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing --max-examples 25 --request-timeout 20 \
  --seed 1 --workers 1) \
  || { echo "--- server log (last 30 lines)"; tail -n 30 "$tmp/server.log"; die "schemathesis found problems (above)"; }
echo "✓ admin API: onboarding script and schemathesis"
