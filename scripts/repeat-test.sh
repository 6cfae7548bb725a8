#!/usr/bin/env bash
# Runs API tests over and over to catch a rare hang, and keeps the evidence.
#
#   scripts/repeat-test.sh <runs> <filter> [limit seconds, default 90]
#
# e.g. `scripts/repeat-test.sh 400 sso::` runs the SQLite API tests whose
# names contain `sso::` 400 times (2 test threads, as `make test` does).
# A run still going after the limit is a hang (libtest names the test
# after 60 s, hence the default): its output, its sockets
# (`ss -tanpi`) and every thread's stack (gdb) go to
# artifacts/hangs/<run>/ and the process is killed; a failed run's output
# goes there too. Prints one line per hang or failure and a summary.
# Background load (another build) makes races likelier.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The same build as `make test` (which builds without incremental state).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

runs="${1:?usage: scripts/repeat-test.sh <runs> <filter> [limit seconds]}"
filter="${2:?usage: scripts/repeat-test.sh <runs> <filter> [limit seconds]}"
limit="${3:-90}"
command -v gdb >/dev/null || echo "note: no gdb, hangs are kept without stacks (scripts/setup.sh installs it)"

bin="$(PORTCULLIS_TEST_SQLITE=1 cargo test --workspace --no-run 2>&1 |
  sed -n 's|.*Executable tests/api/main.rs (\(.*\))$|\1|p')"
[ -x "$bin" ] || { echo "✗ no API test binary" >&2; exit 1; }
out="artifacts/hangs"
mkdir -p "$out"
hangs=0 failures=0
for i in $(seq 1 "$runs"); do
  log="$(mktemp)"
  # The watchdog (tests/api/watchdog.rs) would abort first otherwise.
  PORTCULLIS_TEST_HANG_SECS=100000 PORTCULLIS_TEST_SQLITE=1 \
    "$bin" "$filter" --test-threads=2 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 $((limit * 2))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    hangs=$((hangs + 1))
    mkdir -p "$out/$i"
    ss -tanpi >"$out/$i/sockets.txt" 2>&1 || true
    if command -v gdb >/dev/null; then
      gdb -p "$pid" -batch -nx -ex "set pagination off" -ex "thread apply all bt" \
        >"$out/$i/stacks.txt" 2>&1 || true
    fi
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cp "$log" "$out/$i/output.txt"
    echo "run $i: HUNG ($(grep -o 'test [^ ]* has been running' "$log" | head -n 1 || true)) → $out/$i/"
  elif ! wait "$pid"; then
    failures=$((failures + 1))
    mkdir -p "$out/$i"
    cp "$log" "$out/$i/output.txt"
    echo "run $i: FAILED → $out/$i/output.txt"
  fi
  rm -f "$log"
done
echo "$runs runs of '$filter': $hangs hung, $failures failed"
