-- Policy API: the keys that sign policy bundles, and the gateways that poll
-- them.
--
-- signing_keys.private_key is the Ed25519 seed sealed with the instance's
-- secret key (AES-256-GCM, see crates/domain/src/secrets.rs); the database
-- alone does not reveal it. At most one key is active; retired keys stay
-- published in the JWKS for a while so gateways can still check bundles
-- they hold.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_key   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at    TIMESTAMPTZ NOT NULL,
    retired_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

-- A gateway authenticates with a bearer credential of which only the
-- SHA-256 hash and the last four characters are stored. last_poll_at and
-- served_revision are what the policy API saw (flushed from memory every
-- few seconds); reported_* come from the gateway's own status reports.
CREATE TABLE gateways (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    name_lower         TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    token_hash         TEXT NOT NULL,
    token_hint         TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    created_by         TEXT NOT NULL,
    revoked_at         TIMESTAMPTZ,
    last_poll_at       TIMESTAMPTZ,
    served_revision    BIGINT,
    reported_at        TIMESTAMPTZ,
    active_revision    BIGINT,
    last_fetch_at      TIMESTAMPTZ,
    last_error         TEXT,
    last_error_at      TIMESTAMPTZ,
    software           TEXT
);
CREATE UNIQUE INDEX gateways_name_key ON gateways (name_lower);
CREATE UNIQUE INDEX gateways_token_key ON gateways (token_hash);

CREATE TABLE gateway_servers (
    gateway_id  TEXT NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    server_id   TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    PRIMARY KEY (gateway_id, server_id)
);
CREATE INDEX gateway_servers_server_idx ON gateway_servers (server_id);
