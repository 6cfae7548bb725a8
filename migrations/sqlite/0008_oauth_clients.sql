-- Registered (RFC 7591) clients unused for this many days are reaped by the
-- housekeeping job: their grants end and their next request gets a clear
-- invalid_client ("register again"). 0 turns reaping off.
ALTER TABLE oauth_policy ADD COLUMN reap_after_days INTEGER NOT NULL DEFAULT 90;

-- Registrations that are the same app registered again (same name, redirect
-- URIs with loopback ports left out, software id) share this key, so the
-- Clients page can show them as one group and revoke them together.
ALTER TABLE oauth_clients ADD COLUMN dup_key TEXT;
CREATE INDEX oauth_clients_dup_key_idx ON oauth_clients (dup_key) WHERE dup_key IS NOT NULL;

-- private_key_jwt: the jti of every client assertion until it expires, so
-- an assertion is accepted once (RFC 7523 §3, item 7).
CREATE TABLE oauth_assertion_jtis (
    client_id   TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    jti         TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_assertion_jtis_expires_idx ON oauth_assertion_jtis (expires_at);
