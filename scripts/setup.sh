#!/usr/bin/env bash
# Installs what `make run` and `make test` need. Idempotent: every step checks
# first and costs well under a second when its tool is already in place.
# It changes nothing in the caller's environment; recipes source scripts/env.sh
# for PATH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

# libxmlsec1-dev, libxml2-dev, libxslt1-dev and libclang-dev build samael (SAML
# signature checks with xmlsec); xmlsec1 gives tests a command-line signer;
# brotli precompresses the site's assets (scripts/build-site.sh); gdb prints a
# hung API test's stacks (tests/api/watchdog.rs).
APT_PACKAGES=(chromium pkg-config libssl-dev libxmlsec1-dev libxml2-dev libxslt1-dev libclang-dev xmlsec1 jq curl brotli gdb)
# How long to wait for a `cargo install` of the same crate that another
# process (an earlier setup run, a developer) already started.
INSTALL_WAIT_SECONDS="${INSTALL_WAIT_SECONDS:-1800}"

ok() { printf '✓ %s\n' "$*"; }
step() { printf '… %s\n' "$*"; }
die() { printf '✗ %s\n' "$*" >&2; exit 1; }

# Waits while a `cargo install <crate>` runs (or is queued in a shell command
# line) elsewhere, so that the same crate is never built twice at once.
wait_for_other_install() {
  local crate="$1" deadline=$((SECONDS + INSTALL_WAIT_SECONDS)) said=
  while pgrep -f "cargo install ${crate}( |$)" >/dev/null 2>&1; do
    if [ -z "$said" ]; then
      step "another 'cargo install ${crate}' is running; waiting for it (up to ${INSTALL_WAIT_SECONDS}s)"
      said=1
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "gave up waiting for the running 'cargo install ${crate}'"
    sleep 5
  done
}

# --- Rust toolchain: wasm target, rustfmt, clippy -----------------------------
command -v rustup >/dev/null 2>&1 || die "rustup not found (expected in ~/.cargo/bin)"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  ok "rust target wasm32-unknown-unknown"
else
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
  ok "rust target wasm32-unknown-unknown (installed)"
fi
missing_components=()
installed_components="$(rustup component list --installed)"
for c in rustfmt clippy; do
  grep -q "^${c}" <<<"$installed_components" || missing_components+=("$c")
done
if [ "${#missing_components[@]}" -gt 0 ]; then
  step "rustup component add ${missing_components[*]}"
  rustup component add "${missing_components[@]}"
fi
ok "rust components rustfmt, clippy"

# --- Debian packages -----------------------------------------------------------
missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_apt+=("$p")
done
if [ "${#missing_apt[@]}" -gt 0 ]; then
  step "apt-get install ${missing_apt[*]}"
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}"
fi
ok "apt packages: ${APT_PACKAGES[*]}"

# --- wasm-bindgen-cli, same version as the wasm-bindgen crate in Cargo.lock -----
WASM_BINDGEN_VERSION="$(awk '
  /^\[\[package\]\]/ { name = "" }
  /^name = "wasm-bindgen"$/ { name = "wasm-bindgen"; next }
  name == "wasm-bindgen" && /^version = / { gsub(/^version = "|"$/, ""); print; exit }
' Cargo.lock)"
[ -n "$WASM_BINDGEN_VERSION" ] || die "no wasm-bindgen package in Cargo.lock"
has_wasm_bindgen() {
  [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$WASM_BINDGEN_VERSION" ]
}
if ! has_wasm_bindgen; then
  wait_for_other_install wasm-bindgen-cli
fi
if ! has_wasm_bindgen; then
  step "cargo install wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (about 2 minutes)"
  # Not --locked: its lock file names a crate version the registry does not serve.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
  has_wasm_bindgen || die "wasm-bindgen ${WASM_BINDGEN_VERSION} still not found after installing"
fi
ok "wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (matches Cargo.lock)"

# --- cargo-deny: the supply-chain check of `make test` (deny.toml) ----------------
CARGO_DENY_VERSION=0.20.2
has_cargo_deny() {
  [ "$(cargo-deny --version 2>/dev/null | awk '{print $2}')" = "$CARGO_DENY_VERSION" ]
}
if ! has_cargo_deny; then
  wait_for_other_install cargo-deny
fi
if ! has_cargo_deny; then
  step "cargo install cargo-deny ${CARGO_DENY_VERSION} (about 4 minutes)"
  # Built from crates.io source with its own lock file. Its release profile
  # asks for fat LTO and one codegen unit (a smaller binary, minutes more
  # on two cores); the check runs once a build, so plain release is enough.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --quiet
  has_cargo_deny || die "cargo-deny ${CARGO_DENY_VERSION} still not found after installing"
fi
ok "cargo-deny ${CARGO_DENY_VERSION}"

# --- npm packages ----------------------------------------------------------------
command -v npm >/dev/null 2>&1 || die "npm not found (Node 20 expected)"
# npm ci when node_modules is missing or older than package.json/package-lock.json
# (npm writes node_modules/.package-lock.json at each install).
npm_ci() {
  local dir="$1" stamp="$1/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
    return 0
  fi
  step "npm ci in ${dir}"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}

npm_ci style
command -v tailwindcss >/dev/null 2>&1 || die "tailwindcss missing from style/node_modules/.bin"
command -v wasm-opt >/dev/null 2>&1 || die "wasm-opt missing from style/node_modules/.bin"
case "$(command -v wasm-opt)" in
  "$ROOT/style/node_modules/.bin/"*) ;;
  *) die "wasm-opt on PATH is $(command -v wasm-opt), not npm binaryen's" ;;
esac
ok "style/: tailwindcss $(node -p 'require("./style/node_modules/tailwindcss/package.json").version'), binaryen $(node -p 'require("./style/node_modules/binaryen/package.json").version') (wasm-opt)"

npm_ci end2end
[ -x end2end/node_modules/.bin/playwright ] || die "playwright missing from end2end/node_modules/.bin"
ok "end2end/: @playwright/test $(node -p 'require("./end2end/node_modules/@playwright/test/package.json").version')"

# The MCP conformance suite (make test runs its authorization-server mode,
# scripts/mcp-conformance.sh). It needs Node >= 22: npm `node` installs that
# binary under end2end/conformance/node_modules/node/bin; the system's Node
# stays as it is.
npm_ci end2end/conformance
[ -x end2end/conformance/node_modules/node/bin/node ] || die "node 22 missing from end2end/conformance/node_modules/node/bin"
ok "end2end/conformance/: @modelcontextprotocol/conformance $(node -p 'require("./end2end/conformance/node_modules/@modelcontextprotocol/conformance/package.json").version'), node $(end2end/conformance/node_modules/node/bin/node --version)"

# --- Python: the SCIM compliance suite ------------------------------------------
# scim2-tester checks our /scim/v2 against RFC 7643/7644 (make test runs it).
SCIM_PY_PACKAGES=(scim2-tester==0.5.2 scim2-cli==0.6.0)
# pip's output is read whole first: `pip show | grep -q` under pipefail
# fails whenever grep exits before pip finishes writing (SIGPIPE), which
# made every run reinstall.
pip_version() { "$1" -m pip show "$2" 2>/dev/null | sed -n 's/^Version: //p' || true; }
if [ "$(pip_version python3 scim2-tester)" != 0.5.2 ] || [ "$(pip_version python3 scim2-cli)" != 0.6.0 ]; then
  step "pip install ${SCIM_PY_PACKAGES[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${SCIM_PY_PACKAGES[@]}"
fi
command -v scim2 >/dev/null 2>&1 || die "scim2 (scim2-cli) not on PATH after pip install"
ok "python: ${SCIM_PY_PACKAGES[*]}"

# The PyPI `mcp` SDK for the Python MCP client the browser tests run
# (end2end/mcp/py_client.py, end2end/tests/mcp-oauth.spec.ts), in its own venv.
MCP_PY_VERSION=2.3.0
MCP_VENV=end2end/.venv
if [ ! -x "$MCP_VENV/bin/python" ] \
   || [ "$(pip_version "$MCP_VENV/bin/python" mcp)" != "$MCP_PY_VERSION" ]; then
  step "pip install mcp==${MCP_PY_VERSION} into ${MCP_VENV}"
  [ -x "$MCP_VENV/bin/python" ] || python3 -m venv "$MCP_VENV"
  "$MCP_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mcp==${MCP_PY_VERSION}"
fi
"$MCP_VENV/bin/python" -c 'import mcp.client.auth' 2>/dev/null || die "the mcp SDK does not import in ${MCP_VENV}"
ok "python: mcp ${MCP_PY_VERSION} (${MCP_VENV})"

# schemathesis checks the admin REST API against its OpenAPI document
# (scripts/api-checks.sh, run by make test), in its own venv.
SCHEMATHESIS_VERSION=4.32.5
ST_VENV=end2end/.venv-schemathesis
if [ ! -x "$ST_VENV/bin/schemathesis" ] \
   || [ "$(pip_version "$ST_VENV/bin/python" schemathesis)" != "$SCHEMATHESIS_VERSION" ]; then
  step "pip install schemathesis==${SCHEMATHESIS_VERSION} into ${ST_VENV}"
  [ -x "$ST_VENV/bin/python" ] || python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
fi
ok "python: schemathesis ${SCHEMATHESIS_VERSION} (${ST_VENV})"

ok "setup complete"
