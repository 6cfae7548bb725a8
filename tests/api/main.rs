//! Integration tests: one binary (link time), one module per area.
//!
//! Each test boots the real server in-process on `127.0.0.1:0` with a fresh
//! database, or drives the domain services directly against a fresh
//! database. PostgreSQL tests are `#[ignore]`d by default; `make test` runs
//! them with `--ignored` when 127.0.0.1:5432 answers
//! (`PORTCULLIS_TEST_POSTGRES_URL` names the server).

mod harness;
mod watchdog;

mod access;
mod access_console;
mod admin_api;
mod agents;
mod assets;
mod audit;
mod audit_erasure;
mod audit_evidence;
mod audit_explorer;
mod audit_retention;
mod audit_streaming;
mod authz;
mod body_limits;
mod catalog;
mod console;
mod delegation;
mod directory;
mod directory_scale;
mod faults;
mod gateway;
mod gateway_limits;
mod gateways_console;
mod http_limits;
mod id_jag;
mod oauth;
mod ops;
mod policy_api;
mod rate_limits;
mod scim;
mod secret_key;
mod sso;
mod sso_saml;
mod storage;
