-- Foundation: console users, one-time links, sessions, sign-in throttling,
-- and the hash-chained audit trail. Times are timestamptz.

CREATE TABLE console_users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
    status          TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash   TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    last_signin_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX console_users_email_key ON console_users (email);

CREATE TABLE one_time_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('owner_setup', 'invite')),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    source_ip     TEXT,
    user_agent    TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE signin_failures (
    id      BIGSERIAL PRIMARY KEY,
    key     TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX signin_failures_key_at_idx ON signin_failures (key, at);

CREATE TABLE audit_events (
    seq             BIGINT PRIMARY KEY,
    id              TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    actor_type      TEXT NOT NULL,
    actor_id        TEXT,
    actor_display   TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_type     TEXT,
    target_id       TEXT,
    target_display  TEXT,
    outcome         TEXT NOT NULL,
    source_ip       TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    details         TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_events_id_key ON audit_events (id);
CREATE INDEX audit_events_action_idx ON audit_events (action, seq);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, seq);

-- The chain head: one row, updated in every appending transaction, which
-- serialises appenders (a row lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
