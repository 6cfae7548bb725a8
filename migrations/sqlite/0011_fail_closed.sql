-- Fail closed (issue 20): every enumerated column the access policy is built
-- from gets a CHECK constraint, so a value the code does not know cannot be
-- stored (and the code refuses one it reads anyway, never defaulting to a
-- wider grant). SQLite cannot add a constraint to a table: each table is
-- rebuilt (create, copy, drop, rename, indexes again). No other table
-- references these three, so dropping them cascades nothing. A row that
-- already breaks a constraint makes this migration fail, by design: it is
-- named in the error and must be fixed by hand.

CREATE TABLE grants_checked (
    id                   TEXT PRIMARY KEY,
    subject_kind         TEXT NOT NULL CHECK (subject_kind IN ('user', 'group', 'everyone')),
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

CREATE TABLE mcp_tools_checked (
    id                  TEXT PRIMARY KEY,
    server_id           TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    title               TEXT,
    description         TEXT NOT NULL DEFAULT '',
    definition          TEXT NOT NULL,
    definition_hash     TEXT NOT NULL,
    hints               TEXT NOT NULL DEFAULT '{}',
    overrides           TEXT NOT NULL DEFAULT '{}',
    source              TEXT NOT NULL CHECK (source IN ('discovered', 'manual')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'quarantined', 'removed')),
    quarantine_reason   TEXT,
    pending_definition  TEXT,
    pending_hash        TEXT,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    reviewed_at         TEXT,
    reviewed_by         TEXT
);
INSERT INTO mcp_tools_checked (id, server_id, name, title, description, definition, definition_hash, hints,
                               overrides, source, status, quarantine_reason, pending_definition, pending_hash,
                               first_seen_at, last_seen_at, reviewed_at, reviewed_by)
    SELECT id, server_id, name, title, description, definition, definition_hash, hints,
           overrides, source, status, quarantine_reason, pending_definition, pending_hash,
           first_seen_at, last_seen_at, reviewed_at, reviewed_by
    FROM mcp_tools;
DROP TABLE mcp_tools;
ALTER TABLE mcp_tools_checked RENAME TO mcp_tools;
CREATE UNIQUE INDEX mcp_tools_name_key ON mcp_tools (server_id, name);
CREATE INDEX mcp_tools_status_idx ON mcp_tools (status);

CREATE TABLE policy_facts_checked (
    kind      TEXT NOT NULL CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client')),
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
