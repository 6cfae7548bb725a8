#!/usr/bin/env bash
# Page budget (issue 22, item 2): bytes on the wire and time to interactive
# of Overview, Users and Grants, signed in, for a first load and a repeat
# navigation, in headless Chromium.
#
# Starts `portcullis` on a temporary SQLite database with the demo data and
# a second directory ("Entra ID") whose 10,000 people are pushed over SCIM
# (so Users lists 10,312), then runs `end2end/bench/page-weight.mjs` signed
# in as the demo owner.
#
# Usage: scripts/bench-page-weight.sh
#   env: BIN (target/release/portcullis) ROUNDS (3) PEOPLE (10000)
#        SKIP_BUILD (set: use BIN as is; otherwise the release binary is built)
# Loopback only; the server it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

BIN="${BIN:-target/release/portcullis}"
ROUNDS="${ROUNDS:-3}"
PEOPLE="${PEOPLE:-10000}"

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "==> scripts/build-site.sh (release binary with the site inside)"
  scripts/build-site.sh
fi

BIN="$(readlink -f "$BIN")"
tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export DATABASE_URL="sqlite:$tmp/portcullis.db?mode=rwc"
export PORTCULLIS_ADDR="127.0.0.1:$port"
export PORTCULLIS_CONFIG=""
export PORTCULLIS_LOG="warn"
export PORTCULLIS_SECRET_KEY_FILE="$tmp/secret.key"
demo="$("$BIN" demo)"
email="$(sed -n 's/^Sign in as \(\S*\) with password \(\S*\)$/\1/p' <<<"$demo")"
password="$(sed -n 's/^Sign in as \(\S*\) with password \(\S*\)$/\2/p' <<<"$demo")"
scim="$("$BIN" scim-token create --directory 'Entra ID')"
token="$(grep -o 'pcs_[A-Za-z0-9_-]*' <<<"$scim" | head -1)"
[ -n "$email" ] && [ -n "$token" ] || { echo "demo or SCIM token missing: $demo $scim" >&2; exit 1; }
"$BIN" serve >"$tmp/portcullis.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -s -o /dev/null "$base/healthz" && break; sleep 0.1; done

echo "==> pushing $PEOPLE people over SCIM"
cd end2end
BASE="$base/scim/v2" TOKEN="$token" PEOPLE="$PEOPLE" node --input-type=module -e '
const { BASE, TOKEN, PEOPLE } = process.env;
let next = 0;
async function worker() {
  for (let i = next++; i < Number(PEOPLE); i = next++) {
    const login = `person${String(i).padStart(5, "0")}@entra.example`;
    const res = await fetch(`${BASE}/Users`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/scim+json" },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: login, displayName: `Person ${i}`,
        emails: [{ value: login, primary: true }], active: true,
      }),
    });
    if (res.status !== 201) throw new Error(`${login}: ${res.status} ${await res.text()}`);
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
'
echo "==> $("$BIN" --version) ($BIN) on $base; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
PW_EMAIL="$email" PW_PASSWORD="$password" ROUNDS="$ROUNDS" \
  node bench/page-weight.mjs "$base" / /directory/users /access/grants
