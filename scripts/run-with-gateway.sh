#!/usr/bin/env bash
# `GATEWAY=1 make run`: the console and, beside it, the reference gateway
# (portcullis-gateway) with the configuration in data/gateway.toml.
#
# data/gateway.toml comes from `portcullis demo --gateway-config
# data/gateway.toml` (demo data with a registered `demo-gateway`) or is
# written by hand for a registered gateway (docs/gateway.md). The console
# runs in the background; the gateway in the foreground; Ctrl-C (or SIGTERM)
# stops both.
#
# Usage (from make run, with DATABASE_URL and PORTCULLIS_ADDR set):
#   scripts/run-with-gateway.sh target/release/portcullis
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/release/portcullis}"
config="${PORTCULLIS_GATEWAY_CONFIG:-data/gateway.toml}"
gateway=target/release/portcullis-gateway
die() { printf '✗ %s\n' "$*" >&2; exit 1; }

if [ ! -f "$config" ]; then
  die "no $config: on a new database run
    $bin demo --gateway-config $config
  (demo data and a registered demo-gateway), or register a gateway
  ($bin gateway create --name …) and write $config as docs/gateway.md shows."
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "… cargo build --release -p portcullis-gateway"
cargo build --release -p portcullis-gateway

pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM
"$bin" serve &
pids+=($!)
# The gateway retries the console until it answers, and refuses calls
# until it has a bundle; no need to wait here.
"$gateway" --config "$config" --log-format text &
pids+=($!)
# Either one stopping stops both.
wait -n
