#!/usr/bin/env bash
# Builds the SCIM parser fuzz targets (crates/scim/fuzz) with libFuzzer's
# coverage instrumentation on stable Rust (the flags cargo-fuzz passes, less
# the nightly-only sanitizer) and runs each for SECONDS (default 10).
# Usage: scripts/fuzz-scim.sh [SECONDS]; a crash fails with its input saved
# under target/fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-10}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$PWD/target/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros.
cargo build --quiet --release --locked --manifest-path crates/scim/fuzz/Cargo.toml --target "$triple"
mkdir -p target/fuzz-artifacts
for t in filter patch; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  out="$("$CARGO_TARGET_DIR/$triple/release/$t" -max_total_time="$seconds" -max_len=1024 \
    -artifact_prefix=target/fuzz-artifacts/ "$corpus" 2>&1)" || { echo "$out" | tail -n 30; echo "✗ fuzz target $t crashed"; exit 1; }
  echo "✓ fuzz $t: $(echo "$out" | grep -o 'Done [0-9]* runs in [0-9]* second(s)' | tail -n 1)"
done
