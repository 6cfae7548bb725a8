#!/usr/bin/env bash
# OAuth (issue 15): refresh-token grants per second at POST /oauth/token,
# against npm oidc-provider's token endpoint in the same run.
#
# Portcullis: the release binary on a temporary SQLite database, set up as
# a deployment would be (as scripts/mcp-conformance.sh does): an owner, a
# SCIM directory with Bob in it, an OIDC connection for acme.test against the
# test IdP (end2end/idp/oidc-idp.mjs --auto-login bob), a catalog MCP server
# and a pre-registered public client (`portcullis client create`). It runs
# with PORTCULLIS_OAUTH_CLIENT_TOKENS_PER_MINUTE=0: no per-client issuance
# limit (the default, 6,000 tokens per client per minute, would cap the
# benchmark at 100/s, all the grants being one client's), and with
# PORTCULLIS_LOG=warn (LOG). Per refresh Portcullis parses the form, takes
# the client (read at most every 5 s), and queues the rotation; the
# refreshes queued together share one write transaction on SQLite's writer
# connection (WAL, synchronous=NORMAL): read every presented token with its
# grant (person, server), mark the good ones used, insert their successors'
# hashes (crates/domain/src/oauth/rotation.rs). Each request then signs its
# EdDSA access-token JWT (RFC 9068). How many refreshes shared a
# transaction is printed per set-up (from /metrics).
#
# Peer: end2end/bench/oidc-provider-bench.mjs (npm oidc-provider 9, an
# in-memory adapter shaped like its Redis example adapter; its header says
# why not the bundled MemoryAdapter): a public client with PKCE,
# rotateRefreshToken: true, refresh tokens for offline_access, and access
# tokens as EdDSA JWTs (at+jwt) through resource indicators; per refresh it
# finds the token, grant and account, consumes the old token, saves a new
# one and signs one JWT. Figures and analysis: docs/benchmarks.md.
#
# Each server's N initial refresh tokens come from the real authorization-code
# flow (PKCE, `resource`; end2end/bench/obtain-refresh-tokens.mjs signs Bob in
# and consents). Then end2end/bench/refresh-load.mjs runs N workers, each on
# its own keep-alive connection chaining its own rotation (use the token, get
# the next, use that), WARMUP seconds then DURATION seconds, checking every
# answer (200, a new refresh token, a JWS access token); any error fails the run.
#
# Set-ups (SETUPS, both by default), each ROUNDS times, the peer and Portcullis
# alternately:
#   pinned  each server on CPU 1 (SERVER_CPUS) — Portcullis with
#           PORTCULLIS_HTTP_WORKERS=1 and TOKIO_WORKER_THREADS=1, Node being
#           single-threaded anyway — and the load on CPU 0 (LOAD_CPUS)
#   both    server and load free on both cores; Portcullis with its defaults
#           (one HTTP worker and one runtime thread per CPU; BOTH_WORKERS).
#           oidc-provider stays one Node process: its in-memory store cannot
#           be shared across a cluster (that would need a Redis adapter).
#
# Usage: scripts/bench-oauth-refresh.sh
#   env: DURATION (10) WARMUP (2) CONNECTIONS (32) ROUNDS (3) SETUPS ("pinned both")
#        SERVER_CPUS (1) LOAD_CPUS (0) BOTH_WORKERS (empty: Portcullis's defaults
#        in the `both` set-up; n: n HTTP workers and n runtime threads)
#        DB_CONNECTIONS (empty: Portcullis's default pool size, 16)
#        LOG (warn) BIN (target/release/portcullis)
#        SKIP_BUILD (set: use BIN as is) PERF (set: profile Portcullis under the
#        same load after each set-up's rounds) NODE (a Node ≥ 20; default the
#        Node 22 of end2end/conformance, else `node`) REV (the source BIN was
#        built from, for the summary; default this checkout's HEAD)
# Needs scripts/setup.sh's npm installs (end2end/ and end2end/conformance/).
# Loopback only; every process it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-3}"
SETUPS="${SETUPS:-pinned both}"
SERVER_CPUS="${SERVER_CPUS:-1}"
LOAD_CPUS="${LOAD_CPUS:-0}"
BOTH_WORKERS="${BOTH_WORKERS:-}"
DB_CONNECTIONS="${DB_CONNECTIONS:-}"
LOG="${LOG:-warn}"
BIN="${BIN:-target/release/portcullis}"
NODE="${NODE:-}"
if [ -z "$NODE" ]; then
  if [ -x end2end/conformance/node_modules/node/bin/node ]; then
    NODE=end2end/conformance/node_modules/node/bin/node
  else
    NODE="$(command -v node)"
  fi
fi
die() { printf '✗ %s\n' "$*" >&2; exit 1; }
[ -f end2end/node_modules/oidc-provider/package.json ] || die "end2end/ is not installed: run scripts/setup.sh"
ALL_CPUS="$(seq -s, 0 $(($(nproc) - 1)))"

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "==> cargo build --release --bin portcullis"
  cargo build --release --bin portcullis
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# shellcheck source=scripts/lib/acme-console.sh
source scripts/lib/acme-console.sh

redirect="http://127.0.0.1/callback"
resource="https://mcp.acme.test/bench"

# ---- Portcullis ------------------------------------------------------------------
# Nothing of the caller's configuration leaks in.
unset "${!PORTCULLIS_@}"
pport="$(free_port)"
export DATABASE_URL="sqlite:$tmp/portcullis.db?mode=rwc" PORTCULLIS_CONFIG="" \
  PORTCULLIS_ADDR="127.0.0.1:$pport" PORTCULLIS_LOG="$LOG" \
  PORTCULLIS_BOOTSTRAP_OWNER_EMAIL="owner@bench.test" \
  PORTCULLIS_FETCH_ALLOWED_HOSTS="127.0.0.1" \
  PORTCULLIS_OAUTH_CLIENT_TOKENS_PER_MINUTE=0 NO_COLOR=1
[ -z "$DB_CONNECTIONS" ] || export PORTCULLIS_DB_MAX_CONNECTIONS="$DB_CONNECTIONS"
client_id="$("$BIN" client create --name "Refresh benchmark" --redirect-uri "$redirect" \
  | sed -n 's/^Client ID: *//p')"
[ -n "$client_id" ] || die "portcullis client create printed no client id"

portcullis_pid=""
# start_portcullis <cpus> <workers, empty: the defaults>
start_portcullis() {
  if [ -n "$portcullis_pid" ]; then
    kill "$portcullis_pid"; wait "$portcullis_pid" 2>/dev/null || true
    local keep=() p
    for p in "${pids[@]}"; do [ "$p" = "$portcullis_pid" ] || keep+=("$p"); done
    pids=("${keep[@]}")
  fi
  local log="$tmp/portcullis.$(date +%s%N).log"
  if [ -n "$2" ]; then
    PORTCULLIS_HTTP_WORKERS="$2" TOKIO_WORKER_THREADS="$2" taskset -c "$1" "$BIN" serve >"$log" 2>&1 &
  else
    taskset -c "$1" "$BIN" serve >"$log" 2>&1 &
  fi
  portcullis_pid=$!
  pids+=("$portcullis_pid")
  purl="$(wait_for "$log" 'listening on http://[0-9.:]+' "$portcullis_pid" "portcullis serve" | cut -d' ' -f3)"
  portcullis_log="$log"
}
start_portcullis "$ALL_CPUS" ""
setup_link="$(wait_for "$portcullis_log" 'http://[0-9.:]+/setup\?token=[^ ]+' "$portcullis_pid" "portcullis serve")"

# Console set-up through its server functions, as the owner's browser would.
acme_console "$purl" "$setup_link" "$NODE" "Bench MCP server" bench "$resource"

echo "==> Portcullis: $CONNECTIONS refresh tokens through the code flow (sign-in through the test IdP, consent)"
"$NODE" end2end/bench/obtain-refresh-tokens.mjs --issuer "$purl" --client-id "$client_id" \
  --redirect-uri "$redirect" --resource "$resource" --scope "offline_access" \
  --email bob@acme.test --count "$CONNECTIONS" --out "$tmp/portcullis.tokens"

# ---- oidc-provider -----------------------------------------------------------------
"$NODE" end2end/bench/oidc-provider-bench.mjs --redirect-uri "$redirect" >"$tmp/peer.log" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")
peer="$(wait_for "$tmp/peer.log" 'listening on http://[0-9.:]+' "$peer_pid" "oidc-provider-bench" | cut -d' ' -f3)"
echo "==> oidc-provider: $CONNECTIONS refresh tokens through the code flow (automatic login and consent)"
"$NODE" end2end/bench/obtain-refresh-tokens.mjs --issuer "$peer" --client-id bench \
  --redirect-uri "$redirect" --resource "$resource" --scope "offline_access tools" --prompt consent \
  --count "$CONNECTIONS" --out "$tmp/peer.tokens"

# ---- the load ------------------------------------------------------------------------
# REV names the source BIN was built from (default: this checkout's HEAD,
# marked when its Rust sources differ from it).
REV="${REV:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src crates app Cargo.toml Cargo.lock migrations 2>/dev/null || echo ' with uncommitted changes')}"
versions="portcullis $("$BIN" --version | awk '{print $2}') ($REV), oidc-provider $("$NODE" -p 'require("./end2end/node_modules/oidc-provider/package.json").version'), Node $("$NODE" --version)"
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "versions: $versions"
echo "machine: $machine; load average $(cut -d' ' -f1-3 /proc/loadavg)"

results="$tmp/results"
: >"$results"
failed=""
run_load() { # setup name tokens cpus
  local out
  if ! out="$(taskset -c "$4" "$NODE" end2end/bench/refresh-load.mjs --tokens "$3" \
    --duration "$DURATION" --warmup "$WARMUP" --label "$2")"; then
    printf '%s\n' "$out"
    failed="$1 $2"
    return 1
  fi
  local rate p50 p99
  rate="$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")"
  p50="$(sed -n 's/.* p50=\([0-9.]*\).*/\1/p' <<<"$out")"
  p99="$(sed -n 's/.* p99=\([0-9.]*\).*/\1/p' <<<"$out")"
  printf '%-14s %7s grants/s  p50 %7s ms  p99 %7s ms\n' "$2" "$rate" "$p50" "$p99"
  echo "$1 $2 $rate $p50 $p99" >>"$results"
}

# PERF=1: where Portcullis's time goes under the same load, after each
# set-up's rounds (flat profile; the release binary has symbols but no frame
# pointers).
# Voluntary + involuntary context switches of all of a process's threads.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}
# The same per thread name ("name count" lines).
ctx_by_thread() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$t/status")"
  done 2>/dev/null | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}' | sort
}
profile() { # setup
  [ -n "${PERF:-}" ] && command -v perf >/dev/null 2>&1 || return 0
  echo "-- perf: Portcullis under the same load ($1)"
  taskset -c "$load_cpus" "$NODE" end2end/bench/refresh-load.mjs --tokens "$tmp/portcullis.tokens" \
    --duration "$((DURATION + 2))" --warmup 0 --label "perf-$1" >"$tmp/perf.load" &
  local loadpid=$! cs0 cs1 grants
  sleep 1
  cs0="$(ctx_switches "$portcullis_pid")"
  ctx_by_thread "$portcullis_pid" >"$tmp/cs0"
  perf record -q -F 2000 -p "$portcullis_pid" -o "$tmp/perf.data" -- sleep "$DURATION" 2>/dev/null || true
  cs1="$(ctx_switches "$portcullis_pid")"
  ctx_by_thread "$portcullis_pid" >"$tmp/cs1"
  wait "$loadpid" || true
  cat "$tmp/perf.load"
  grants="$(sed -n 's/.* grants=\([0-9]*\).*/\1/p' "$tmp/perf.load")"
  # (the load ran 2 s longer than the profile; the ratio is approximate)
  awk -v c="$((cs1 - cs0))" -v g="$grants" -v d="$DURATION" 'BEGIN {
    if (g > 0) printf "context switches of Portcullis'"'"'s threads: %d in %d s, ≈ %.1f per grant\n", c, d, c / (g * d / (d + 2)) }'
  join -a 2 "$tmp/cs0" "$tmp/cs1" | awk -v g="$grants" -v d="$DURATION" '
    NF == 3 {c = $3 - $2} NF == 2 {c = $2}
    c > 0 {printf "  %-16s %8d  (≈ %.1f per grant)\n", $1, c, c / (g * d / (d + 2))}'
  perf report -i "$tmp/perf.data" --stdio --no-children --sort dso,symbol --percent-limit "${PERF_LIMIT:-0.7}" 2>/dev/null \
    | grep -v "^#" | grep -v "^$" | sed "s/ *- *- *$//; s/ *$//" | head -"${PERF_LINES:-50}"
  echo "-- perf: by thread"
  perf report -i "$tmp/perf.data" --stdio --no-children --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | sed "s/ *$//" | head -12
  echo "-- perf: by shared object"
  perf report -i "$tmp/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | sed "s/ *$//" | head -8
}

# How Portcullis batched the refreshes of this set-up's rounds (its
# /metrics since it started: the rotation's transactions and what they held).
batching() { # setup
  local m b r o
  m="$(curl -fsS "$purl/metrics")" || return 0
  b="$(awk '$1 == "oauth_refresh_batches_total" {print $2}' <<<"$m")"
  r="$(awk '$1 == "oauth_refresh_batched_total" {print $2}' <<<"$m")"
  o="$(awk '$1 == "oauth_refresh_one_by_one_total" {print $2}' <<<"$m")"
  [ -n "$b" ] && [ "$b" -gt 0 ] || return 0
  awk -v s="$1" -v b="$b" -v r="$r" -v o="${o:-0}" 'BEGIN {
    printf "batching (%s): %d refreshes rotated in %d transactions (%.1f per transaction), %d one by one\n", s, r, b, r / b, o }' \
    | tee -a "$tmp/batching"
}

for setup in $SETUPS; do
  case "$setup" in
    pinned)
      server_cpus="$SERVER_CPUS"; load_cpus="$LOAD_CPUS"
      start_portcullis "$server_cpus" 1
      what="servers on CPU $server_cpus (Portcullis PORTCULLIS_HTTP_WORKERS=1 TOKIO_WORKER_THREADS=1; Node single-threaded), load on CPU $load_cpus" ;;
    both)
      server_cpus="$ALL_CPUS"; load_cpus="$ALL_CPUS"
      start_portcullis "$server_cpus" "$BOTH_WORKERS"
      what="servers and load on CPUs $ALL_CPUS (Portcullis with ${BOTH_WORKERS:-its default} HTTP worker(s) and runtime thread(s))" ;;
    *) die "unknown set-up $setup (pinned, both)" ;;
  esac
  taskset -a -p -c "$server_cpus" "$peer_pid" >/dev/null
  echo
  echo "== set-up $setup: $what; $CONNECTIONS connections, ${WARMUP} s warm-up + ${DURATION} s per run"
  for r in $(seq 1 "$ROUNDS"); do
    echo "-- round $r (load average $(cut -d' ' -f1 /proc/loadavg))"
    run_load "$setup" oidc-provider "$tmp/peer.tokens" "$load_cpus" || break 2
    run_load "$setup" portcullis "$tmp/portcullis.tokens" "$load_cpus" || break 2
  done
  batching "$setup"
  profile "$setup"
done

echo
if [ -n "$failed" ]; then
  echo "--- server log (last 20 lines) ---"; tail -n 20 "$portcullis_log"
  echo "--- oidc-provider log (last 10 lines) ---"; tail -n 10 "$tmp/peer.log"
  die "FAILED: errors in the run of $failed (above); no figures"
fi

# ---- figures -------------------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.0f", a[int((NR+1)/2)]}'; }
echo "-- summary ($versions; $machine)"
echo
echo "| set-up | server | grants/s per round | median | p50 | p99 |"
echo "|---|---|---|---|---|---|"
for setup in $SETUPS; do
  for name in oidc-provider portcullis; do
    rounds="$(awk -v s="$setup" -v n="$name" '$1 == s && $2 == n {printf "%s%s", sep, $3; sep=" / "}' "$results")"
    med="$(awk -v s="$setup" -v n="$name" '$1 == s && $2 == n {print $3}' "$results" | median)"
    p50s="$(awk -v s="$setup" -v n="$name" '$1 == s && $2 == n {print $4}' "$results" | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/-/–/')"
    p99s="$(awk -v s="$setup" -v n="$name" '$1 == s && $2 == n {print $5}' "$results" | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/-/–/')"
    echo "| $setup | $name | $rounds | **$med** | $p50s ms | $p99s ms |"
  done
done
echo
[ ! -f "$tmp/batching" ] || { cat "$tmp/batching"; echo; }
for setup in $SETUPS; do
  p="$(awk -v s="$setup" '$1 == s && $2 == "portcullis" {print $3}' "$results" | median)"
  o="$(awk -v s="$setup" '$1 == s && $2 == "oidc-provider" {print $3}' "$results" | median)"
  awk -v s="$setup" -v p="$p" -v o="$o" 'BEGIN {
    printf "%s: Portcullis %d grants/s = %.2f× oidc-provider (%d); goals ≥ 2,000/s: %s, ≥ 2×: %s\n",
      s, p, p / o, o, (p >= 2000 ? "met" : "NOT met"), (p >= 2 * o ? "met" : "NOT met") }'
done
