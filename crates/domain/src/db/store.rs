//! The SQL the database layer itself runs: readiness checks and the
//! cross-replica change signal. Every area's own statements are in its
//! `store` module.

/// Migrations applied successfully (`/readyz` compares with the migrator).
pub(super) const MIGRATIONS_APPLIED: &str =
    "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE";

/// A round trip (`/readyz`).
pub(super) const PING: &str = "SELECT 1";

/// Announces a change to the other replicas (PostgreSQL; delivered at
/// commit, not at all on rollback).
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, $2)";
