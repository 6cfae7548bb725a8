-- Audit streaming to SIEMs (issue #19, item 6).
--
-- The audit log itself is the durable outbox: each destination keeps a
-- cursor (the last event it acknowledged) and the delivery job sends the
-- events after it, in order, in batches, advancing the cursor only after
-- the destination accepted a batch. A crash between the two resends that
-- batch (at least once); every event carries its id to deduplicate on.
-- lease_until keeps two replicas from sending the same batch at once.
CREATE TABLE audit_sinks (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook', 'syslog', 'splunk_hec')),
    url              TEXT NOT NULL,
    -- The webhook's HMAC key or the HEC token, sealed with the secret key.
    secret_sealed    TEXT,
    enabled          BOOLEAN NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    cursor_seq       BIGINT NOT NULL,
    delivered        BIGINT NOT NULL DEFAULT 0,
    failures         BIGINT NOT NULL DEFAULT 0,
    last_success_at  TIMESTAMPTZ,
    last_error       TEXT,
    last_error_at    TIMESTAMPTZ,
    next_attempt_at  TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ
);
CREATE UNIQUE INDEX audit_sinks_name_key ON audit_sinks (name);
