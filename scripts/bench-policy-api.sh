#!/usr/bin/env bash
# Policy API (issue 6), 304 throughput against nginx in the same run.
#
# Starts the release `portcullis` on a temporary SQLite database with the
# demo data and one gateway, fetches the signed bundle (identity), and
# serves those same bytes from nginx (temporary prefix and config, not the
# system service) as a static file with its ETag. Then wrk sends, to each in
# turn, `GET /api/v1/policy` with the gateway's Authorization header and the
# server's own ETag in If-None-Match, so both answer 304. Same wrk
# threads/connections/duration; by default each server is pinned to CPU 1
# with one worker (nginx `worker_processes 1`, Portcullis
# `PORTCULLIS_HTTP_WORKERS=1`, and `TOKIO_WORKER_THREADS=1` for the
# application runtime the 304s never reach) and wrk to CPU 0, and the pair is run ROUNDS
# times interleaved (the machine is shared: look at the spread).
#
# Usage: scripts/bench-policy-api.sh
#   env: DURATION (10s) CONNECTIONS (64) THREADS (1) ROUNDS (3)
#        SERVER_CPUS (1) LOAD_CPUS (0) WORKERS (1) BIN (target/release/portcullis)
#        SKIP_BUILD (set: use BIN as is) PERF (set: also profile Portcullis with perf)
# Installs wrk and nginx with apt-get when missing. Loopback only; every
# process it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-1}"
ROUNDS="${ROUNDS:-3}"
SERVER_CPUS="${SERVER_CPUS:-1}"
LOAD_CPUS="${LOAD_CPUS:-0}"
WORKERS="${WORKERS:-1}"
BIN="${BIN:-target/release/portcullis}"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ "${#need[@]}" -gt 0 ]; then
  echo "==> apt-get install -y ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
  # Debian starts the packaged service on install; this benchmark uses its
  # own nginx only.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx 2>/dev/null || true; fi
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "==> cargo build --release --bin portcullis"
  cargo build --release --bin portcullis
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

pport="$(free_port)"
export DATABASE_URL="sqlite:$tmp/portcullis.db?mode=rwc"
export PORTCULLIS_ADDR="127.0.0.1:$pport"
export PORTCULLIS_CONFIG=""
export PORTCULLIS_LOG="warn"
export PORTCULLIS_SECRET_KEY_FILE="$tmp/secret.key"
"$BIN" demo >/dev/null
token="$("$BIN" gateway create --name bench-304 | grep -o 'pcg_[A-Za-z0-9_-]*' | head -1)"
[ -n "$token" ] || { echo "no gateway credential" >&2; exit 1; }
PORTCULLIS_HTTP_WORKERS="$WORKERS" TOKIO_WORKER_THREADS="$WORKERS" taskset -c "$SERVER_CPUS" "$BIN" serve >"$tmp/portcullis.log" 2>&1 &
pids+=($!)
purl="http://127.0.0.1:$pport/api/v1/policy"
wait_http "http://127.0.0.1:$pport/healthz"

mkdir -p "$tmp/www" "$tmp/nginx/logs"
# nginx workers run as an unprivileged user: let them read the file.
chmod a+rx "$tmp" "$tmp/www"
curl -sf -D "$tmp/p.headers" -o "$tmp/www/policy.jws" -H "Authorization: Bearer $token" "$purl"
petag="$(grep -i '^etag:' "$tmp/p.headers" | cut -d' ' -f2- | tr -d '\r')"
prev="$(grep -i '^portcullis-revision:' "$tmp/p.headers" | cut -d' ' -f2- | tr -d '\r')"

nport="$(free_port)"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    etag on;
    location = /api/v1/policy {
      default_type application/jose;
      alias $tmp/www/policy.jws;
    }
  }
}
EOF
taskset -c "$SERVER_CPUS" "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
pids+=($!)
nurl="http://127.0.0.1:$nport/api/v1/policy"
wait_http "$nurl"
chmod a+r "$tmp/www/policy.jws"
netag="$(curl -sI "$nurl" | grep -i '^etag:' | cut -d' ' -f2- | tr -d '\r')"

# Both must answer 304 to the request wrk sends.
pcode="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H "If-None-Match: $petag" "$purl")"
ncode="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H "If-None-Match: $netag" "$nurl")"
if [ "$pcode" != 304 ] || [ "$ncode" != 304 ]; then
  echo "expected 304 from both, got portcullis $pcode, nginx $ncode" >&2
  exit 1
fi
cmp -s "$tmp/www/policy.jws" <(curl -s "$nurl") || { echo "nginx serves other bytes" >&2; exit 1; }

echo "bundle: revision $prev, $(stat -c %s "$tmp/www/policy.jws") bytes (identity JWS); portcullis ETag $petag, nginx ETag $netag"
echo "servers on CPU(s) $SERVER_CPUS with $WORKERS worker(s); wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on CPU(s) $LOAD_CPUS; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

run_wrk() { # name url etag
  local out rps p50 p99 errs
  out="$(taskset -c "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $token" -H "If-None-Match: $3" "$2")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errs="$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)"
  printf '%-10s %12s req/s  p50 %9s  p99 %9s  %s\n' "$1" "$rps" "$p50" "$p99" "$errs"
  echo "$1 $rps" >>"$tmp/rps"
}

# Warm both (connections, caches) before measuring.
taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $token" -H "If-None-Match: $petag" "$purl" >/dev/null
taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $token" -H "If-None-Match: $netag" "$nurl" >/dev/null

for r in $(seq 1 "$ROUNDS"); do
  echo "-- round $r"
  run_wrk nginx "$nurl" "$netag"
  run_wrk portcullis "$purl" "$petag"
done
echo "-- median requests/s over $ROUNDS rounds"
for name in nginx portcullis; do
  awk -v n="$name" '$1 == n {print $2}' "$tmp/rps" | sort -g | awk -v n="$name" '{a[NR]=$1} END {printf "%-10s %12.0f req/s\n", n, a[int((NR+1)/2)]}'
done

# PERF=1: profile Portcullis under the same load (flat profile; the release
# binary has symbols but no frame pointers).
if [ -n "${PERF:-}" ] && command -v perf >/dev/null 2>&1; then
  echo "-- perf: Portcullis under the same load"
  ppid="${pids[0]}"
  taskset -c "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
    -H "Authorization: Bearer $token" -H "If-None-Match: $petag" "$purl" >/dev/null &
  wrkpid=$!
  sleep 1
  perf record -q -F 2000 -p "$ppid" -o "$tmp/perf.data" -- sleep 5 2>/dev/null
  wait "$wrkpid" || true
  perf report -i "$tmp/perf.data" --stdio --no-children --sort dso,symbol --percent-limit "${PERF_LIMIT:-0.5}" 2>/dev/null \
    | grep -v "^#" | grep -v "^$" | sed "s/ *- *- *$//; s/ *$//" | head -"${PERF_LINES:-45}"
  echo "-- perf: by shared object"
  perf report -i "$tmp/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
fi
