-- Directory pages at scale (issue #21): at 100,000 people and 1,000
-- groups the users search and the groups list must not read every person
-- or every membership per page.

-- Groups: the count of provisioned members (members that are not deleted
-- users of the group's own directory) is kept on the group by triggers, so
-- the groups list (sorted by it, too) reads no membership. Every way a
-- membership or a person changes goes through one of them: a member added
-- or removed (SCIM, just-in-time sign-in, a group or directory deleted), a
-- person created, deleted (soft or hard) or restored.
ALTER TABLE directory_groups ADD COLUMN provisioned_members BIGINT NOT NULL DEFAULT 0;

UPDATE directory_groups SET provisioned_members = (
    SELECT COUNT(*) FROM directory_group_members m
    JOIN directory_users u ON u.id = m.member_id
    WHERE m.group_id = directory_groups.id
      AND u.directory_id = directory_groups.directory_id
      AND u.deleted_at IS NULL
);

CREATE FUNCTION directory_group_members_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE directory_groups g SET provisioned_members = provisioned_members + 1
        WHERE g.id = NEW.group_id AND EXISTS (
            SELECT 1 FROM directory_users u
            WHERE u.id = NEW.member_id AND u.directory_id = g.directory_id
              AND u.deleted_at IS NULL);
        RETURN NEW;
    END IF;
    UPDATE directory_groups g SET provisioned_members = provisioned_members - 1
    WHERE g.id = OLD.group_id AND EXISTS (
        SELECT 1 FROM directory_users u
        WHERE u.id = OLD.member_id AND u.directory_id = g.directory_id
          AND u.deleted_at IS NULL);
    RETURN OLD;
END $$;

CREATE TRIGGER directory_group_members_counted AFTER INSERT OR DELETE ON directory_group_members
FOR EACH ROW EXECUTE FUNCTION directory_group_members_counted();

-- A person counts in its groups while not deleted.
CREATE FUNCTION directory_users_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta BIGINT := 0;
    person directory_users%ROWTYPE;
BEGIN
    IF TG_OP = 'INSERT' THEN
        person := NEW;
        IF NEW.deleted_at IS NULL THEN delta := 1; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        person := OLD;
        IF OLD.deleted_at IS NULL THEN delta := -1; END IF;
    ELSE
        person := NEW;
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN delta := -1; END IF;
        IF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN delta := 1; END IF;
    END IF;
    IF delta <> 0 THEN
        UPDATE directory_groups SET provisioned_members = provisioned_members + delta
        WHERE directory_id = person.directory_id
          AND id IN (SELECT group_id FROM directory_group_members WHERE member_id = person.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER directory_users_counted AFTER INSERT OR DELETE OR UPDATE OF deleted_at ON directory_users
FOR EACH ROW EXECUTE FUNCTION directory_users_counted();

-- Users: substring search through trigram GIN indexes (pg_trgm, a
-- trusted extension shipped with PostgreSQL) on each searched column of
-- the not deleted people; the planner combines them with the id and
-- externalId lookups (a bitmap OR) when the text is selective.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX directory_users_user_name_trgm ON directory_users USING gin (user_name_lower gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX directory_users_display_name_trgm ON directory_users USING gin (LOWER(display_name) gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX directory_users_email_trgm ON directory_users USING gin (email gin_trgm_ops) WHERE deleted_at IS NULL;

-- An exact externalId search across directories.
CREATE INDEX directory_users_external_id_idx ON directory_users (external_id) WHERE deleted_at IS NULL;
