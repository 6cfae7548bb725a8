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
    created_at    TIMESTAMPTZ NOT NULL,
    CHECK ((subject_kind = 'everyone') = (subject_id IS NULL))
);
CREATE INDEX delegations_agent_idx ON delegations (agent_id);
CREATE UNIQUE INDEX delegations_unique_idx
    ON delegations (agent_id, subject_kind, COALESCE(subject_id, ''), server_id);

ALTER TABLE policy_facts DROP CONSTRAINT policy_facts_kind_check;
ALTER TABLE policy_facts
    ADD CONSTRAINT policy_facts_kind_check
        CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client', 'agent', 'delegation'));
