-- SSO: OIDC and SAML connections for console sign-in.
--
-- A connection serves the email domains listed in sso_domains (a domain
-- belongs to at most one connection). Kind-specific settings live in
-- `config` (JSON, no secrets); the OIDC client secret is sealed with the
-- instance's secret key (AES-256-GCM, crates/domain/src/secrets.rs), with the
-- connection id as associated data. `idp_metadata` is the SAML IdP metadata
-- XML as uploaded or fetched.
CREATE TABLE sso_connections (
    id                   TEXT PRIMARY KEY,
    slug                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('oidc', 'saml')),
    enabled              BOOLEAN NOT NULL,
    config               TEXT NOT NULL,
    client_secret        TEXT,
    idp_metadata         TEXT,
    directory_id         TEXT REFERENCES directories (id) ON DELETE SET NULL,
    allow_idp_initiated  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL
);
CREATE UNIQUE INDEX sso_connections_slug_key ON sso_connections (slug);

CREATE TABLE sso_domains (
    domain         TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_connection_idx ON sso_domains (connection_id);

-- An IdP group (claim or attribute value, or a SCIM group's displayName of
-- the connection's directory) gives a console role.
CREATE TABLE sso_role_mappings (
    connection_id  TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    idp_group      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
    PRIMARY KEY (connection_id, idp_group)
);

-- Who a subject (OIDC `sub`, SAML NameID) of a connection is in the console.
CREATE TABLE sso_identities (
    connection_id   TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    last_signin_at  TEXT NOT NULL,
    PRIMARY KEY (connection_id, subject)
);
CREATE INDEX sso_identities_user_idx ON sso_identities (user_id);

-- A sign-in in flight. The browser that started it holds a cookie whose
-- SHA-256 is browser_hash; `state` (OIDC) or the AuthnRequest ID (SAML) is
-- stored only as a hash (id_hash). The PKCE verifier is sealed. A SAML
-- response checked at the ACS waits here (`outcome`) until the same browser
-- comes back with its cookie. Rows are single-use and short-lived.
CREATE TABLE sso_requests (
    id_hash         TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('signin', 'test')),
    browser_hash    TEXT NOT NULL,
    nonce           TEXT,
    pkce_verifier   TEXT,
    next_path       TEXT NOT NULL,
    started_by      TEXT,
    outcome         TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
);
CREATE INDEX sso_requests_expires_idx ON sso_requests (expires_at);

-- Test results ("Test connection"), kept for the admin who ran them.
CREATE TABLE sso_tests (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    started_by     TEXT NOT NULL,
    result         TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

-- SAML assertion ids seen, until they could no longer be valid; shared by
-- every replica through the database.
CREATE TABLE sso_replay (
    connection_id  TEXT NOT NULL,
    assertion_id   TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX sso_replay_expires_idx ON sso_replay (expires_at);

-- 'manual': the role was given by an owner (or set-up); 'sso': it follows the
-- connection's group mappings at every sign-in.
ALTER TABLE console_users ADD COLUMN role_source TEXT NOT NULL DEFAULT 'manual'
    CHECK (role_source IN ('manual', 'sso'));
