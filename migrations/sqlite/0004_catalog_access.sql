-- Catalog and access policy: MCP servers and their tools, grants, and the
-- policy revisions with the history of every policy input.
--
-- policy_facts is the versioned store the policy bundle of any revision is
-- built from. One row is one input (a server, a tool, a group, a person, a
-- membership, a grant) as it was from revision rev_from up to, not
-- including, rev_to (NULL: still current). A change closes the current row
-- and inserts a new one in the same transaction as the change itself, under
-- the revision it allocates from policy_head; so the state at revision N is
-- the rows with rev_from <= N < coalesce(rev_to, infinity).

CREATE TABLE mcp_servers (
    id                  TEXT PRIMARY KEY,
    slug                TEXT NOT NULL,
    name                TEXT NOT NULL,
    resource_url        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    owner               TEXT NOT NULL DEFAULT '',
    tags                TEXT NOT NULL DEFAULT '[]',
    enabled             BOOLEAN NOT NULL,
    discovered_at       TEXT,
    discovery_error     TEXT,
    server_info         TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX mcp_servers_slug_key ON mcp_servers (slug);
CREATE UNIQUE INDEX mcp_servers_resource_key ON mcp_servers (resource_url);

-- definition: the canonical JSON of what the server said (name, title,
-- description, inputSchema, outputSchema, annotations) with its hash.
-- A quarantined tool keeps the approved definition (if any) and the one
-- awaiting review in pending_definition / pending_hash.
CREATE TABLE mcp_tools (
    id                  TEXT PRIMARY KEY,
    server_id           TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    title               TEXT,
    description         TEXT NOT NULL DEFAULT '',
    definition          TEXT NOT NULL,
    definition_hash     TEXT NOT NULL,
    hints               TEXT NOT NULL DEFAULT '{}',
    overrides           TEXT NOT NULL DEFAULT '{}',
    source              TEXT NOT NULL,
    status              TEXT NOT NULL,
    quarantine_reason   TEXT,
    pending_definition  TEXT,
    pending_hash        TEXT,
    first_seen_at       TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    reviewed_at         TEXT,
    reviewed_by         TEXT
);
CREATE UNIQUE INDEX mcp_tools_name_key ON mcp_tools (server_id, name);
CREATE INDEX mcp_tools_status_idx ON mcp_tools (status);

CREATE TABLE grants (
    id                   TEXT PRIMARY KEY,
    subject_kind         TEXT NOT NULL,
    subject_id           TEXT,
    server_id            TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    target_kind          TEXT NOT NULL,
    tool_names           TEXT NOT NULL DEFAULT '[]',
    annotation           TEXT,
    include_destructive  BOOLEAN NOT NULL,
    effect               TEXT NOT NULL,
    expires_at           TEXT,
    reason               TEXT NOT NULL DEFAULT '',
    created_by           TEXT NOT NULL,
    created_at           TEXT NOT NULL
);
CREATE INDEX grants_server_idx ON grants (server_id);
CREATE INDEX grants_subject_idx ON grants (subject_kind, subject_id);

CREATE TABLE policy_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
INSERT INTO policy_head (id, revision) VALUES (1, 0);

CREATE TABLE policy_revisions (
    number         BIGINT PRIMARY KEY,
    created_at     TEXT NOT NULL,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT,
    actor_display  TEXT NOT NULL,
    source         TEXT NOT NULL,
    summary        TEXT NOT NULL
);

CREATE TABLE policy_facts (
    kind      TEXT NOT NULL,
    k1        TEXT NOT NULL,
    k2        TEXT NOT NULL,
    value     TEXT NOT NULL,
    rev_from  BIGINT NOT NULL,
    rev_to    BIGINT,
    PRIMARY KEY (kind, k1, k2, rev_from)
);
CREATE UNIQUE INDEX policy_facts_current_key ON policy_facts (kind, k1, k2) WHERE rev_to IS NULL;
CREATE INDEX policy_facts_member_idx ON policy_facts (k2) WHERE kind = 'member' AND rev_to IS NULL;
-- Building the bundle of revision N reads the facts with rev_from <= N and
-- (rev_to IS NULL OR rev_to > N): for recent N that is the open rows plus
-- the few closed after N, not the whole history.
CREATE INDEX policy_facts_rev_idx ON policy_facts (rev_from);
CREATE INDEX policy_facts_rev_to_idx ON policy_facts (rev_to);
