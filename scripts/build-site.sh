#!/usr/bin/env bash
# Builds the release site and server: what `cargo leptos build --release`
# does for this project, as plain commands, so that `make run` and
# `make test` need no cargo-leptos (compiling it took ~10 of CI's minutes on
# a clean machine). Same cargo invocations and LEPTOS_* variables as
# cargo-leptos 0.3.11 with the `[workspace.metadata.leptos]` settings in
# Cargo.toml, so `cargo leptos watch`/`build` on a developer machine shares
# the build cache with this script.
#
#   1. wasm: `app` with `hydrate`, profile wasm-release, into target/front
#   2. wasm-bindgen (--target web) → target/site/pkg/portcullis.{js,wasm}
#   3. wasm-opt -Oz (npm binaryen; Debian's older one breaks hydration)
#   4. CSS: Tailwind v4 CLI, minified → target/site/pkg/portcullis.css
#   5. content hashes: the three files renamed portcullis.<hash>.{js,wasm,css}
#      (the JS glue and the wasm share one hash, of both: they change
#      together; the CSS also kept as portcullis.css for the plain server
#      pages) and listed in target/site/hash.txt (Leptos' `hash-files`
#      format: the server reads it at start), each precompressed
#      beside itself (.br: brotli -q 11, .gz: gzip -9); the server answers
#      them with `Cache-Control: immutable` and the encoding the browser
#      accepts
#   6. public/ copied to target/site/
#   7. server: `portcullis` bin, release profile, with the site built in
#      (feature embed-site): the binary alone serves the console
#
# Usage: scripts/build-site.sh [--server-only | --site-only]
# Tools come from scripts/setup.sh; PATH from scripts/env.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

what="${1:-all}"
case "$what" in
  all | --server-only | --site-only) ;;
  *) echo "usage: scripts/build-site.sh [--server-only | --site-only]" >&2; exit 2 ;;
esac

NAME=portcullis
SITE=target/site
PKG="$SITE/pkg"
# The LEPTOS_* variables cargo-leptos sets for both builds come from
# scripts/env.sh (every cargo command of the Makefile sees the same ones, so
# the test build's server binary serves this site too).

say() { printf '… %s\n' "$*"; }

build_site() {
  say "wasm: cargo build -p app --lib --target wasm32-unknown-unknown --features hydrate --profile wasm-release"
  cargo build --package=app --lib --target-dir=target/front --target=wasm32-unknown-unknown \
    --no-default-features --features=hydrate --profile=wasm-release
  local wasm=target/front/wasm32-unknown-unknown/wasm-release/app.wasm
  [ -f "$wasm" ] || { echo "✗ $wasm was not built" >&2; exit 1; }

  mkdir -p "$PKG"
  local out
  out="$(mktemp -d)"
  say "wasm-bindgen --target web --out-name $NAME"
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name "$NAME" "$wasm"
  # cargo-leptos names the module <name>.wasm (leptos' hydration script
  # loads that path), not wasm-bindgen's <name>_bg.wasm.
  say "wasm-opt -Oz"
  wasm-opt -Oz --enable-bulk-memory "$out/${NAME}_bg.wasm" -o "$out/$NAME.wasm"
  install -m 0644 "$out/$NAME.wasm" "$PKG/$NAME.wasm"
  install -m 0644 "$out/$NAME.js" "$PKG/$NAME.js"
  if [ -d "$out/snippets" ]; then cp -R "$out/snippets" "$PKG/"; fi
  rm -rf "$out"

  say "tailwindcss → $PKG/$NAME.css"
  tailwindcss --input style/tailwind.css --output "$PKG/$NAME.css" --minify 2>&1 \
    | grep -v '^≈ tailwindcss\|^Done in\|^$' || true
  [ -s "$PKG/$NAME.css" ] || { echo "✗ $PKG/$NAME.css was not written" >&2; exit 1; }

  hash_and_compress

  say "public/ → $SITE/"
  cp -R public/. "$SITE/"
}

# Renames the built js, wasm and css to content-hashed names, writes
# $SITE/hash.txt, precompresses them, and removes what earlier builds left.
hash_and_compress() {
  local lines=() ext h kept=("$NAME.css")
  local code_hash
  code_hash="$(cat "$PKG/$NAME.js" "$PKG/$NAME.wasm" | sha256sum | cut -c1-16)"
  for ext in js wasm css; do
    if [ "$ext" = css ]; then
      h="$(sha256sum "$PKG/$NAME.$ext" | cut -c1-16)"
    else
      h="$code_hash"
    fi
    # The CSS also keeps its plain name: the server-rendered pages outside
    # the app (sign-in steps, consent, errors) link it, revalidated.
    if [ "$ext" = css ]; then
      cp "$PKG/$NAME.$ext" "$PKG/$NAME.$h.$ext"
    else
      mv "$PKG/$NAME.$ext" "$PKG/$NAME.$h.$ext"
    fi
    lines+=("$ext: $h")
    kept+=("$NAME.$h.$ext")
  done
  local f base
  for f in "$PKG/$NAME".*; do
    base="$(basename "$f")"
    base="${base%.br}"
    base="${base%.gz}"
    case " ${kept[*]} " in *" $base "*) ;; *) rm -f "$f" ;; esac
  done
  say "brotli -q 11 and gzip -9: ${kept[*]}"
  for base in "${kept[@]}"; do
    brotli -f -q 11 -o "$PKG/$base.br" "$PKG/$base"
    gzip -9 -n -k -f "$PKG/$base"
  done
  printf '%s\n' "${lines[@]}" > "$SITE/hash.txt"
}

build_server() {
  say "server: cargo build -p portcullis --bin portcullis --release --features embed-site"
  # After the site: the binary carries target/site as it is now.
  cargo build --package=portcullis --bin=portcullis --no-default-features --features=embed-site --release
}

case "$what" in
  --site-only) build_site ;;
  --server-only) build_server ;;
  all) build_site; build_server ;;
esac
printf '✓ site in %s, server at target/release/%s\n' "$SITE" "$NAME"
