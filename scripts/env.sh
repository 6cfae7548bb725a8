# shellcheck shell=bash
# Sourced (not executed) by the Makefile recipes and by scripts/setup.sh.
# Puts the project's local tools first on PATH for scripts/build-site.sh
# (and for cargo-leptos, if a developer uses it: it looks for `tailwindcss`,
# `wasm-opt` and `wasm-bindgen` on PATH before it tries to download them,
# and downloading fails on these machines).
#   style/node_modules/.bin  tailwindcss (v4 CLI), wasm-opt (npm binaryen)
#   ~/.cargo/bin             wasm-bindgen (wasm-bindgen-cli)
# style/node_modules/.bin comes first so Debian's older wasm-opt, if
# installed, never wins (its output fails to hydrate).
_portcullis_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case ":${PATH}:" in
  *":${_portcullis_root}/style/node_modules/.bin:"*) ;;
  *) PATH="${_portcullis_root}/style/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:${PATH}" ;;
esac
export PATH
# Browser used by the Playwright tests (end2end/playwright.config.ts).
if [ -z "${CHROMIUM_PATH:-}" ] && command -v chromium >/dev/null 2>&1; then
  CHROMIUM_PATH="$(command -v chromium)"
  export CHROMIUM_PATH
fi
# The variables cargo-leptos sets when it builds the site and the server
# (`[workspace.metadata.leptos]` in Cargo.toml). Some are read at compile
# time: without LEPTOS_OUTPUT_NAME, leptos makes pages load
# `portcullis_bg.wasm` instead of the `portcullis.wasm` the site build
# writes. Exported for every cargo command of the Makefile and the scripts
# (clippy, tests, benches, scripts/build-site.sh), so they share one build
# cache and any server binary they build serves the site.
export LEPTOS_OUTPUT_NAME=portcullis \
  LEPTOS_SITE_ROOT=target/site \
  LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR=127.0.0.1:3000 \
  LEPTOS_RELOAD_PORT=3001 \
  LEPTOS_LIB_DIR=app \
  LEPTOS_BIN_DIR=. \
  LEPTOS_JS_MINIFY=true \
  LEPTOS_HASH_FILES=false
unset _portcullis_root
