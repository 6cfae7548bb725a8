#!/usr/bin/env bash
# Runs scim2-tester (PyPI) against a freshly started Portcullis on a
# throwaway SQLite database and fails unless every check succeeds.
# Usage: scripts/scim-compliance.sh [path/to/portcullis]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-${PORTCULLIS_BIN:-target/release/portcullis}}"
tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
export DATABASE_URL="sqlite:$tmp/scim.db" PORTCULLIS_CONFIG="" PORTCULLIS_ADDR="127.0.0.1:0"
token="$("$bin" scim-token create --directory "scim2-tester" | tail -n 1 | tr -d ' ')"
"$bin" serve > "$tmp/server.log" 2>&1 &
pid=$!
# Wait for the server to say where it listens (a condition with a deadline).
url=""
for _ in $(seq 1 300); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$tmp/server.log" | head -n 1 | cut -d' ' -f3 || true)"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log"; echo "✗ server exited"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/server.log"; echo "✗ server did not start within 30 s"; exit 1; }
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $token" scim2 --url "$url/scim/v2" test > "$tmp/tester.log" 2>&1
rc=$?
set -e
ok=$(grep -c '^SUCCESS' "$tmp/tester.log" || true)
bad=$(grep -c '^ERROR' "$tmp/tester.log" || true)
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ] || [ "$ok" -eq 0 ]; then
  grep -A 3 '^ERROR' "$tmp/tester.log" | head -n 80 || true
  echo "✗ scim2-tester: $ok checks succeeded, $bad failed (exit $rc)"
  exit 1
fi
echo "✓ scim2-tester: all $ok checks succeeded against $url/scim/v2"
