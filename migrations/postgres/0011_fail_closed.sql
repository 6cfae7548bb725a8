-- Fail closed (issue 20): every enumerated column the access policy is built
-- from gets a CHECK constraint, so a value the code does not know cannot be
-- stored (and the code refuses one it reads anyway, never defaulting to a
-- wider grant). A row that already breaks a constraint makes this migration
-- fail, by design: it is named in the error and must be fixed by hand.

ALTER TABLE grants
    ADD CONSTRAINT grants_subject_kind_check CHECK (subject_kind IN ('user', 'group', 'everyone')),
    ADD CONSTRAINT grants_subject_id_check CHECK ((subject_kind = 'everyone') = (subject_id IS NULL)),
    ADD CONSTRAINT grants_subject_id_nonempty_check CHECK (subject_id IS NULL OR subject_id <> ''),
    ADD CONSTRAINT grants_target_kind_check CHECK (target_kind IN ('server', 'tools', 'annotation')),
    ADD CONSTRAINT grants_annotation_check
        CHECK (annotation IN ('read_only', 'destructive', 'idempotent', 'open_world')),
    ADD CONSTRAINT grants_annotation_target_check CHECK ((target_kind = 'annotation') = (annotation IS NOT NULL)),
    ADD CONSTRAINT grants_tool_names_check CHECK (target_kind <> 'tools' OR tool_names <> '[]'),
    ADD CONSTRAINT grants_effect_check CHECK (effect IN ('allow', 'deny'));

ALTER TABLE mcp_tools
    ADD CONSTRAINT mcp_tools_source_check CHECK (source IN ('discovered', 'manual')),
    ADD CONSTRAINT mcp_tools_status_check CHECK (status IN ('active', 'quarantined', 'removed'));

ALTER TABLE policy_facts
    ADD CONSTRAINT policy_facts_kind_check
        CHECK (kind IN ('server', 'tool', 'group', 'user', 'member', 'grant', 'client'));
