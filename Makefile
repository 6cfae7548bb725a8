# Portcullis — developer entry points.
#   make run    build the release site + server and serve it (SQLite in data/)
#   make test   everything CI runs (.ci/run calls this)
# Every recipe is one bash script (.ONESHELL) with -euo pipefail; tools come
# from scripts/setup.sh and are put on PATH by scripts/env.sh.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

BIN := target/release/portcullis
# Built by `cargo test` (the integration tests run it as a subprocess).
TEST_BIN := target/debug/portcullis
PG_URL := postgres://postgres@127.0.0.1:5432/postgres

.PHONY: help setup run test fmt lint e2e clean-data

help:
	@echo "make run         build (release) and serve on PORTCULLIS_ADDR (default 127.0.0.1:3000), SQLite in data/; GATEWAY=1 also starts portcullis-gateway with data/gateway.toml"
	echo "make test        setup, fmt check, cargo deny, clippy (server + wasm), release site build, SQLite + PostgreSQL tests, SCIM fuzzing + compliance, MCP conformance (authorization server; the gateway against the suite's server scenarios), admin API (onboarding script, schemathesis), Playwright"
	echo "make fmt         cargo fmt --all"
	echo "make lint        fmt check + both clippy runs"
	echo "make e2e         release build + Playwright tests only"
	echo "make setup       install the toolchain pieces (idempotent)"
	echo "make clean-data  delete data/ (the local SQLite database)"

setup:
	@scripts/setup.sh

run:
	@scripts/setup.sh
	scripts/build-site.sh
	mkdir -p data
	export DATABASE_URL="$${DATABASE_URL:-sqlite:data/portcullis.db?mode=rwc}"
	export PORTCULLIS_ADDR="$${PORTCULLIS_ADDR:-127.0.0.1:3000}"
	if [ "$${GATEWAY:-}" = 1 ]; then exec scripts/run-with-gateway.sh $(BIN); fi
	exec $(BIN) serve

fmt:
	@source scripts/env.sh
	cargo fmt --all

lint:
	@source scripts/env.sh
	echo "==> cargo fmt --all --check"
	cargo fmt --all --check
	echo "==> cargo clippy (server)"
	cargo clippy --workspace --all-targets -- -D warnings
	echo "==> cargo clippy (wasm, hydrate)"
	cargo clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

e2e:
	@scripts/setup.sh
	scripts/build-site.sh
	source scripts/env.sh
	cd end2end
	PORTCULLIS_BIN=../$(BIN) npx playwright test

test:
	@start=$$SECONDS
	n=0
	header() { n=$$((n + 1)); printf '\n==> [%d/15] %s   (%ds)\n' "$$n" "$$1" "$$((SECONDS - start))"; }
	header "setup: scripts/setup.sh"
	scripts/setup.sh
	source scripts/env.sh
	# A one-off build gains nothing from incremental compilation, which
	# would add ~14 GB of target/debug/incremental (a CI run once failed
	# with a full disk). Developers may export CARGO_INCREMENTAL=1.
	export CARGO_INCREMENTAL="$${CARGO_INCREMENTAL:-0}"
	df -h . | awk 'NR == 2 { print "disk: " $$4 " free of " $$2 " on " $$6 }'
	# The release site (wasm, its own target/front) builds while the checks
	# and both clippy runs go on: its last stages (the wasm's LTO with one
	# codegen unit, wasm-opt, brotli -q 11) keep one core busy while clippy
	# has the other for its long single-crate checks. Clippy embeds no site
	# (src/http/assets.rs), so the two never read each other's files; the
	# test build does embed it, so step 7 waits for it.
	header "build (in the background): scripts/build-site.sh --site-only (release wasm + CSS; the server is the test build's), output in target/site-build.log"
	mkdir -p target
	scripts/build-site.sh --site-only > target/site-build.log 2>&1 &
	site_pid=$$!
	trap 'if [ -n "$${site_pid:-}" ]; then pkill -TERM -P "$$site_pid" 2>/dev/null; kill "$$site_pid" 2>/dev/null; fi; true' EXIT
	header "format: cargo fmt --all --check"
	cargo fmt --all --check
	header "supply chain: cargo deny check bans licenses sources (deny.toml)"
	cargo deny check bans licenses sources
	header "lint (server): cargo clippy --workspace --all-targets -- -D warnings"
	cargo clippy --workspace --all-targets -- -D warnings
	header "lint (wasm): cargo clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings"
	cargo clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings
	header "build: waiting for the site build (step 2; the test build embeds the site)"
	if wait "$$site_pid"; then site_ok=1; else site_ok=0; fi
	site_pid=
	cat target/site-build.log
	if [ "$$site_ok" != 1 ]; then echo "✗ scripts/build-site.sh --site-only failed (output above)"; exit 1; fi
	header "tests (SQLite): PORTCULLIS_TEST_SQLITE=1 cargo test --workspace"
	PORTCULLIS_TEST_SQLITE=1 cargo test --workspace
	# The browser, SCIM compliance and MCP conformance runs use the server
	# and gateway binaries this step built (debug profile, every debug
	# assertion on) rather than a second, release build of the whole
	# dependency tree (~10 minutes on CI).
	test -x $(TEST_BIN) || { echo "✗ $(TEST_BIN) was not built"; exit 1; }
	test -x target/debug/portcullis-gateway || { echo "✗ target/debug/portcullis-gateway was not built"; exit 1; }
	header "tests (PostgreSQL): cargo test --workspace --tests -- --ignored postgres"
	pg_up() {
	  if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h 127.0.0.1 -p 5432
	  else (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; fi
	}
	if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
	  for v in $$(ls /etc/postgresql); do
	    echo "starting local PostgreSQL cluster $$v/main"
	    pg_ctlcluster --skip-systemctl-redirect "$$v" main start || true
	  done
	  for _ in $$(seq 1 20); do pg_up && break; sleep 0.5; done
	fi
	if pg_up; then
	  pg_suite=ran
	  # --workspace (not --test api): the same package selection as the
	  # SQLite step, so cargo resolves the same features and reuses that
	  # build (selecting one package rebuilt serde_json, axum, sqlx, leptos
	  # and everything above them: ~3 minutes). Only tests/api has ignored
	  # PostgreSQL tests; the other binaries run none.
	  PORTCULLIS_TEST_POSTGRES_URL=$(PG_URL) cargo test --workspace --tests -- --ignored postgres
	else
	  pg_suite=SKIPPED
	  echo "SKIPPED: PostgreSQL suite — nothing answers on 127.0.0.1:5432"
	fi
	header "fuzz: SCIM filter and PATCH parsers (scripts/fuzz-scim.sh 10)"
	scripts/fuzz-scim.sh 10
	header "SCIM compliance: scim2-tester against a fresh server"
	scripts/scim-compliance.sh $(TEST_BIN)
	header "MCP conformance: authorization server (scripts/mcp-conformance.sh)"
	scripts/mcp-conformance.sh $(TEST_BIN)
	header "MCP conformance: server scenarios directly and through portcullis-gateway (scripts/mcp-conformance-gateway.sh)"
	scripts/mcp-conformance-gateway.sh $(TEST_BIN) target/debug/portcullis-gateway
	header "admin REST API: onboarding script (curl + jq) and schemathesis against /api/openapi.json (scripts/api-checks.sh)"
	scripts/api-checks.sh $(TEST_BIN)
	header "browser tests: Playwright (end2end/)"
	(cd end2end && PORTCULLIS_BIN=../$(TEST_BIN) npx playwright test)
	echo
	echo "SUMMARY: make test OK in $$((SECONDS - start))s — fmt, cargo deny (bans, licenses, sources), clippy (server + wasm), release site build, SQLite tests, PostgreSQL tests ($$pg_suite), SCIM fuzzing, scim2-tester, MCP conformance (authorization server), MCP conformance through the gateway, admin API (onboarding script, schemathesis), Playwright"

clean-data:
	@rm -rf data
	echo "removed data/"
