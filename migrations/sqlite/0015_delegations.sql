-- Delegation (issue #18): which agent may act for whom on which server. An
-- agent holding a person's token may exchange it (RFC 8693) for a token
-- whose `act` names the agent only when such a delegation covers the
-- person; gateways check it again at every call (the bundle's
-- `delegations`). subject_kind: the person, a group of people, or
-- everyone (subject_id NULL).
CREATE TABLE delegations (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('user', 'group', 'everyone')),
    subject_id    TEXT,
    server_id     TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    reason        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CHECK ((subject_kind = 'everyone') = (subject_id IS NULL))
);
CREATE INDEX delegations_agent_idx ON delegations (agent_id);
CREATE UNIQUE INDEX delegations_unique_idx
    ON delegations (agent_id, subject_kind, COALESCE(subject_id, ''), server_id);

-- Delegations are policy facts of their own kind: policy_facts (a leaf
-- table) is rebuilt with the wider CHECK, as in 0011 and 0013.
CREATE TABLE policy_facts_checked (
    kind      TEXT NOT NULL CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client', 'agent', 'delegation')),
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
