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
    expires_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    last_token_at  TIMESTAMPTZ
);
CREATE INDEX agents_owner_idx ON agents (owner_kind, owner_id);

-- Agents are policy facts of their own kind.
ALTER TABLE policy_facts DROP CONSTRAINT policy_facts_kind_check;
ALTER TABLE policy_facts
    ADD CONSTRAINT policy_facts_kind_check
        CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client', 'agent'));

-- Agents are grant subjects.
ALTER TABLE grants DROP CONSTRAINT grants_subject_kind_check;
ALTER TABLE grants
    ADD CONSTRAINT grants_subject_kind_check CHECK (subject_kind IN ('user', 'group', 'everyone', 'agent'));
