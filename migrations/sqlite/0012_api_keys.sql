-- API keys (issue 17): service accounts for the admin REST API. A key has
-- a console role (admin or auditor, never owner: keys cannot manage
-- admins or other keys), is shown once and stored as its SHA-256.

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_lower    TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    secret_hash   TEXT NOT NULL UNIQUE,
    hint          TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT,
    last_used_ip  TEXT,
    revoked_at    TEXT
);
CREATE INDEX api_keys_created ON api_keys (created_at);

-- Responses to creating requests sent with an Idempotency-Key, replayed
-- for a retry with the same key (24 hours). Scoped by the API key.
CREATE TABLE api_idempotency (
    api_key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    location      TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
