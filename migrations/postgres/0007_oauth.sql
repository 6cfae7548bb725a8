-- OAuth 2.1 authorization server for MCP clients (issue #15).
--
-- Secrets (client secrets, authorization codes, refresh tokens, the
-- person's browser session and the authorization request's binding cookie)
-- are stored only as SHA-256 hashes. Stored enums have CHECK constraints and
-- decode strictly (crates/domain/src/oauth/store.rs).

-- Access tokens are signed with a key of their own (its own `kid` in the
-- one JWKS); at most one active key per purpose.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'bundle'
    CHECK (purpose IN ('bundle', 'token'));
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (purpose) WHERE status = 'active';

-- Scopes an MCP server declares (JSON array of strings); clients may ask
-- for these and `offline_access`.
ALTER TABLE mcp_servers ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';

-- Sign-ins in flight may now also be an employee signing in for an MCP
-- client ('oauth'). The table holds only short-lived rows, so it is made
-- anew (a sign-in in flight during the upgrade starts again).
DROP TABLE sso_requests;
CREATE TABLE sso_requests (
    id_hash         TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('signin', 'test', 'oauth')),
    browser_hash    TEXT NOT NULL,
    nonce           TEXT,
    pkce_verifier   TEXT,
    next_path       TEXT NOT NULL,
    started_by      TEXT,
    outcome         TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX sso_requests_expires_idx ON sso_requests (expires_at);

-- Every client that ever asked: pre-registered by an admin, registered
-- dynamically (RFC 7591) or known by its metadata document URL (CIMD, the
-- id is that URL). redirect_uris is a JSON array of exact strings.
CREATE TABLE oauth_clients (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('preregistered', 'dcr', 'cimd')),
    name              TEXT NOT NULL,
    client_uri        TEXT,
    software_id       TEXT,
    software_version  TEXT,
    redirect_uris     TEXT NOT NULL,
    auth_method       TEXT NOT NULL CHECK (auth_method IN ('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt')),
    secret_hash       TEXT,
    jwks              TEXT,
    jwks_uri          TEXT,
    status            TEXT NOT NULL CHECK (status IN ('active', 'pending', 'blocked', 'reaped')),
    status_reason     TEXT,
    registered_ip     TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    last_used_at      TIMESTAMPTZ,
    fetched_at        TIMESTAMPTZ,
    fetch_expires_at  TIMESTAMPTZ
);
CREATE INDEX oauth_clients_registered_ip_idx ON oauth_clients (registered_ip, created_at);
CREATE INDEX oauth_clients_status_idx ON oauth_clients (status, created_at);

-- The console-wide client policy (one row). cimd_*_domains: JSON arrays of
-- host names; an empty allow list allows every domain not blocked.
CREATE TABLE oauth_policy (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    registration_enabled  BOOLEAN NOT NULL,
    approval_required     BOOLEAN NOT NULL,
    custom_schemes        TEXT NOT NULL,
    cimd_allowed_domains  TEXT NOT NULL DEFAULT '[]',
    cimd_blocked_domains  TEXT NOT NULL DEFAULT '[]',
    updated_at            TIMESTAMPTZ NOT NULL,
    updated_by            TEXT NOT NULL
);
INSERT INTO oauth_policy (id, registration_enabled, approval_required, custom_schemes, updated_at, updated_by)
VALUES (1, FALSE, FALSE, '["cursor", "vscode", "vscode-insiders", "claude"]', '1970-01-01T00:00:00Z', 'migration');

-- An authorization request in flight (between /oauth/authorize and the
-- code): bound to the browser that made it by a cookie (browser_hash).
CREATE TABLE oauth_requests (
    id_hash         TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    server_id       TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    resource        TEXT NOT NULL,
    scope           TEXT NOT NULL,
    state           TEXT,
    code_challenge  TEXT NOT NULL,
    browser_hash    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX oauth_requests_expires_idx ON oauth_requests (expires_at);

-- An employee signed in (through SSO) for MCP clients: never a console
-- session.
CREATE TABLE oauth_person_sessions (
    id_hash        TEXT PRIMARY KEY,
    person_id      TEXT NOT NULL REFERENCES directory_users (id) ON DELETE CASCADE,
    connection_id  TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_person_sessions_expires_idx ON oauth_person_sessions (expires_at);

-- What a person agreed a client may do at one server through one
-- redirect URI (scope: space-separated, sorted).
CREATE TABLE oauth_consents (
    person_id     TEXT NOT NULL REFERENCES directory_users (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    server_id     TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    redirect_uri  TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (person_id, client_id, server_id, redirect_uri)
);
CREATE INDEX oauth_consents_client_idx ON oauth_consents (client_id);

-- A grant: one authorization (code) and every token issued from it (the
-- refresh-token family). Revoking it ends them all; access tokens carry its
-- id as `sid`.
CREATE TABLE oauth_grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    person_id       TEXT NOT NULL REFERENCES directory_users (id) ON DELETE CASCADE,
    server_id       TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    resource        TEXT NOT NULL,
    scope           TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT
);
CREATE INDEX oauth_grants_client_idx ON oauth_grants (client_id, revoked_at);
CREATE INDEX oauth_grants_person_idx ON oauth_grants (person_id, revoked_at);

-- Authorization codes: single use, short-lived, bound to client, redirect
-- URI and PKCE challenge.
CREATE TABLE oauth_codes (
    code_hash       TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

-- Refresh tokens: each use rotates (used_at set, a new one issued in the
-- same grant); presenting a used one revokes the grant.
CREATE TABLE oauth_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX oauth_refresh_tokens_grant_idx ON oauth_refresh_tokens (grant_id);
