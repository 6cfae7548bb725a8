-- Registered (RFC 7591) clients unused for this many days are reaped by the
-- housekeeping job: their grants end and their next request gets a clear
-- invalid_client ("register again"). 0 turns reaping off.
ALTER TABLE oauth_policy ADD COLUMN reap_after_days INTEGER NOT NULL DEFAULT 90;

-- Registrations that are the same app registered again (same name, redirect
-- URIs with loopback ports left out, software id) share this key, so the
-- Clients page can show them as one group and revoke them together.
ALTER TABLE oauth_clients ADD COLUMN dup_key TEXT;
CREATE INDEX oauth_clients_dup_key_idx ON oauth_clients (dup_key) WHERE dup_key IS NOT NULL;
