#!/usr/bin/env bash
# Onboards an MCP server through the Portcullis admin REST API with curl and
# jq: register it, discover its tools, grant a group, check with the
# simulator that a member can call a tool — and, with --try, roll the
# grant back and check the member lost access again (a dry run).
#
#   PORTCULLIS_URL=https://portcullis.corp.example \
#   PORTCULLIS_API_KEY=pck_… \
#   scripts/api-onboard.sh --name GitHub --slug github \
#       --resource-url https://mcp.corp.example/github \
#       --group Engineering --person ada@corp.example --tool search_code [--try]
#
# --discover-url U   fetch the tool list from U instead of the resource URL
# --read-only        mark the tool read-only (an annotation override) when
#                    the server does not say so: a tool without hints is
#                    destructive by MCP's defaults, and a server-wide grant
#                    leaves destructive tools out
# --try              roll back to the revision before the grant at the end
#
# Safe to run again: the server is created with an Idempotency-Key derived
# from its slug (a retry within 24 hours gets the first answer back), an
# existing server with the slug is reused, and every call fails loudly with
# the API's problem details. Needs an API key with the admin role
# (`portcullis api-key create --name onboarding --role admin`).
set -euo pipefail

die() { echo "✗ $*" >&2; exit 1; }
: "${PORTCULLIS_URL:?set PORTCULLIS_URL to the console URL}"
: "${PORTCULLIS_API_KEY:?set PORTCULLIS_API_KEY to an admin API key}"
command -v jq >/dev/null || die "jq is needed"
api="${PORTCULLIS_URL%/}/api/v1/admin"

name="" slug="" resource_url="" discover_url="" group="" person="" tool="" try=0 read_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --slug) slug="$2"; shift 2 ;;
    --resource-url) resource_url="$2"; shift 2 ;;
    --discover-url) discover_url="$2"; shift 2 ;;
    --group) group="$2"; shift 2 ;;
    --person) person="$2"; shift 2 ;;
    --tool) tool="$2"; shift 2 ;;
    --try) try=1; shift ;;
    --read-only) read_only=1; shift ;;
    *) die "unknown argument $1 (see the comment at the top of $0)" ;;
  esac
done
for v in name slug resource_url group person tool; do
  [ -n "${!v}" ] || die "--${v//_/-} is required"
done

# call <method> <path> [json body] [extra curl args…]: the answer's body on
# stdout; an HTTP error prints the problem's detail and stops.
call() {
  local method="$1" path="$2" body="${3:-}" out status
  shift $(($# < 3 ? $# : 3))
  out="$(mktemp)"
  local args=(-sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $PORTCULLIS_API_KEY")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data "$body")
  status="$(curl "${args[@]}" "$@" "$api$path")"
  if [ "$status" -ge 400 ]; then
    echo "✗ $method $path: HTTP $status: $(jq -r '.detail // .' "$out" 2>/dev/null || cat "$out")" >&2
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}
uri() { jq -rn --arg v "$1" '$v|@uri'; }

echo "==> 1. register $slug"
server="$(call GET "/servers?q=$(uri "$slug")&limit=200" | jq -c --arg s "$slug" '.items[] | select(.slug == $s)')"
if [ -z "$server" ]; then
  body="$(jq -n --arg n "$name" --arg s "$slug" --arg u "$resource_url" \
    '{name: $n, slug: $s, resource_url: $u, description: "Onboarded by scripts/api-onboard.sh"}')"
  server="$(call POST /servers "$body" -H "Idempotency-Key: onboard-$slug")"
fi
server_id="$(jq -r .id <<<"$server")"
server_url="$(jq -r .resource_url <<<"$server")"
echo "    server $server_id at $server_url"

echo "==> 2. discover its tools"
report="$(call POST "/servers/$server_id/discovery" "$(jq -n --arg u "$discover_url" 'if $u == "" then {} else {url: $u} end')")"
echo "    found $(jq .found <<<"$report"), added $(jq .added <<<"$report"), quarantined $(jq '.quarantined | length' <<<"$report")"
tool_row="$(call GET "/servers/$server_id/tools?limit=200" | jq -c --arg t "$tool" '.items[] | select(.name == $t)')"
[ -n "$tool_row" ] || die "the server has no tool $tool"
tool_id="$(jq -r .id <<<"$tool_row")"
if [ "$(jq -r .status <<<"$tool_row")" = quarantined ]; then
  echo "    approving $tool (quarantined until reviewed)"
  call POST "/tools/$tool_id/approval" >/dev/null
fi
if [ "$read_only" = 1 ] && [ "$(jq -r .effective.read_only <<<"$tool_row")" != true ]; then
  echo "    marking $tool read-only (annotation override)"
  call PUT "/tools/$tool_id/annotations" '{"read_only": true, "destructive": false}' >/dev/null
fi

echo "==> 3. grant group $group"
group_id="$(call GET "/groups?q=$(uri "$group")&limit=200" | jq -r --arg g "$group" '[.items[] | select(.display_name == $g)][0].id // empty')"
[ -n "$group_id" ] || die "no group named $group"
before="$(call GET '/revisions?limit=1' | jq -r '.items[0].number')"
grant="$(call POST /grants "$(jq -n --arg g "$group_id" --arg s "$server_id" \
  '{subject: {kind: "group", id: $g}, server_id: $s, target: {kind: "server"}, effect: "allow", reason: "Onboarded by scripts/api-onboard.sh"}')")"
echo "    grant $(jq -r .grant.id <<<"$grant") in revision $(jq -r .revision <<<"$grant")"

can_call() {
  call GET "/simulate/can-call?person=$(uri "$person")&server=$(uri "$server_id")&tool=$(uri "$tool")"
}
echo "==> 4. simulate: can $person call $slug/$tool?"
answer="$(can_call)"
echo "    $(jq -r '"\(.allowed): \(.explanation)"' <<<"$answer")"
[ "$(jq -r .allowed <<<"$answer")" = true ] || die "$person still cannot call $tool"

if [ "$try" = 1 ]; then
  echo "==> 5. roll back to revision $before (--try)"
  rolled="$(call POST "/revisions/$before/rollback")"
  echo "    now revision $(jq -r .revision <<<"$rolled")"
  answer="$(can_call)"
  echo "    $(jq -r '"\(.allowed): \(.explanation)"' <<<"$answer")"
  [ "$(jq -r .allowed <<<"$answer")" = false ] || die "$person can still call $tool after the rollback"
fi
echo "✓ onboarded $slug"
