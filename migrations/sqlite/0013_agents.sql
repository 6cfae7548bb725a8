-- Agents (issue #18): headless workloads that are principals of their own.
--
-- An agent authenticates at the token endpoint as an OAuth client whose id
-- is the agent's id (`agt_…`): its credential (a secret's hash, or its
-- keys for private_key_jwt) is that client row's, so client
-- authentication, assertion replay protection and JWKS fetching are the
-- ones every client has. The agent row holds what makes it a principal:
-- name, owner, status (the kill switch) and expiry.
--
-- The client row keeps kind 'preregistered' and is told apart by its
-- agents row (the code reads its kind as 'agent'): widening the kind CHECK
-- on SQLite means rebuilding oauth_clients, and inside the migration's
-- transaction (foreign keys on) dropping the old table would cascade-delete
-- every consent, grant and code of every client.

-- owner: the person or group answerable for the agent. status 'disabled'
-- is the kill switch: no token is issued, introspection calls its tokens
-- inactive and the bundle lists it inactive (gateways deny it).
CREATE TABLE agents (
    id             TEXT PRIMARY KEY REFERENCES oauth_clients (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    name_lower     TEXT NOT NULL UNIQUE,
    description    TEXT NOT NULL DEFAULT '',
    owner_kind     TEXT NOT NULL CHECK (owner_kind IN ('user', 'group')),
    owner_id       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    status_reason  TEXT,
    expires_at     TEXT,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_token_at  TEXT
);
CREATE INDEX agents_owner_idx ON agents (owner_kind, owner_id);

-- Agents are policy facts of their own kind. policy_facts is a leaf table
-- (nothing references it), so it is rebuilt with the wider CHECK as in
-- 0011.
CREATE TABLE policy_facts_checked (
    kind      TEXT NOT NULL CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client', 'agent')),
    k1        TEXT NOT NULL,
    k2        TEXT NOT NULL,
    value     TEXT NOT NULL,
    rev_from  BIGINT NOT NULL,
    rev_to    BIGINT,
    PRIMARY KEY (kind, k1, k2, rev_from)
);
INSERT INTO policy_facts_checked (kind, k1, k2, value, rev_from, rev_to)
    SELECT kind, k1, k2, value, rev_from, rev_to FROM policy_facts;
DROP TABLE policy_facts;
ALTER TABLE policy_facts_checked RENAME TO policy_facts;
CREATE UNIQUE INDEX policy_facts_current_key ON policy_facts (kind, k1, k2) WHERE rev_to IS NULL;
CREATE INDEX policy_facts_member_idx ON policy_facts (k2) WHERE kind = 'member' AND rev_to IS NULL;
CREATE INDEX policy_facts_rev_idx ON policy_facts (rev_from);
CREATE INDEX policy_facts_rev_to_idx ON policy_facts (rev_to);

-- Agents are grant subjects: grants (a leaf table too) is rebuilt with the
-- wider subject_kind CHECK.
CREATE TABLE grants_checked (
    id                   TEXT PRIMARY KEY,
    subject_kind         TEXT NOT NULL CHECK (subject_kind IN ('user', 'group', 'everyone', 'agent')),
    subject_id           TEXT,
    server_id            TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    target_kind          TEXT NOT NULL CHECK (target_kind IN ('server', 'tools', 'annotation')),
    tool_names           TEXT NOT NULL DEFAULT '[]',
    annotation           TEXT CHECK (annotation IN ('read_only', 'destructive', 'idempotent', 'open_world')),
    include_destructive  BOOLEAN NOT NULL,
    effect               TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    expires_at           TEXT,
    reason               TEXT NOT NULL DEFAULT '',
    created_by           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    CHECK ((subject_kind = 'everyone') = (subject_id IS NULL)),
    CHECK (subject_id IS NULL OR subject_id <> ''),
    CHECK ((target_kind = 'annotation') = (annotation IS NOT NULL)),
    CHECK (target_kind <> 'tools' OR tool_names <> '[]')
);
INSERT INTO grants_checked (id, subject_kind, subject_id, server_id, target_kind, tool_names, annotation,
                            include_destructive, effect, expires_at, reason, created_by, created_at)
    SELECT id, subject_kind, subject_id, server_id, target_kind, tool_names, annotation,
           include_destructive, effect, expires_at, reason, created_by, created_at
    FROM grants;
DROP TABLE grants;
ALTER TABLE grants_checked RENAME TO grants;
CREATE INDEX grants_server_idx ON grants (server_id);
CREATE INDEX grants_subject_idx ON grants (subject_kind, subject_id);
