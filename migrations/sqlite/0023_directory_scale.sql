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

CREATE TRIGGER directory_group_members_counted_add AFTER INSERT ON directory_group_members
BEGIN
    UPDATE directory_groups SET provisioned_members = provisioned_members + 1
    WHERE id = NEW.group_id AND EXISTS (
        SELECT 1 FROM directory_users u
        WHERE u.id = NEW.member_id AND u.directory_id = directory_groups.directory_id
          AND u.deleted_at IS NULL);
END;

CREATE TRIGGER directory_group_members_counted_remove AFTER DELETE ON directory_group_members
BEGIN
    UPDATE directory_groups SET provisioned_members = provisioned_members - 1
    WHERE id = OLD.group_id AND EXISTS (
        SELECT 1 FROM directory_users u
        WHERE u.id = OLD.member_id AND u.directory_id = directory_groups.directory_id
          AND u.deleted_at IS NULL);
END;

CREATE TRIGGER directory_users_counted_add AFTER INSERT ON directory_users
WHEN NEW.deleted_at IS NULL
BEGIN
    UPDATE directory_groups SET provisioned_members = provisioned_members + 1
    WHERE directory_id = NEW.directory_id
      AND id IN (SELECT group_id FROM directory_group_members WHERE member_id = NEW.id);
END;

CREATE TRIGGER directory_users_counted_change AFTER UPDATE OF deleted_at ON directory_users
WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    UPDATE directory_groups
    SET provisioned_members = provisioned_members + (CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
    WHERE directory_id = NEW.directory_id
      AND id IN (SELECT group_id FROM directory_group_members WHERE member_id = NEW.id);
END;

CREATE TRIGGER directory_users_counted_remove AFTER DELETE ON directory_users
WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE directory_groups SET provisioned_members = provisioned_members - 1
    WHERE directory_id = OLD.directory_id
      AND id IN (SELECT group_id FROM directory_group_members WHERE member_id = OLD.id);
END;

-- Users: substring search through an FTS5 trigram index of the not
-- deleted people's userName, displayName and email (a phrase matches
-- inside one column, as the LIKE it replaces did; case is folded). The
-- index's rowids are `key`s of directory_users_search_keys, an INTEGER
-- PRIMARY KEY that VACUUM keeps (directory_users' own implicit rowid may
-- change under VACUUM). The index stores no copy of the text
-- (contentless, rows deleted by rowid).
CREATE TABLE directory_users_search_keys (
    key      INTEGER PRIMARY KEY,
    user_id  TEXT NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE directory_users_search USING fts5(
    user_name, display_name, email,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO directory_users_search_keys (user_id)
SELECT id FROM directory_users WHERE deleted_at IS NULL;

INSERT INTO directory_users_search (rowid, user_name, display_name, email)
SELECT k.key, u.user_name_lower, u.display_name, u.email
FROM directory_users_search_keys k JOIN directory_users u ON u.id = k.user_id;

CREATE TRIGGER directory_users_search_add AFTER INSERT ON directory_users
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO directory_users_search_keys (user_id) VALUES (NEW.id);
    INSERT INTO directory_users_search (rowid, user_name, display_name, email)
    SELECT key, NEW.user_name_lower, NEW.display_name, NEW.email
    FROM directory_users_search_keys WHERE user_id = NEW.id;
END;

CREATE TRIGGER directory_users_search_change
AFTER UPDATE OF user_name_lower, display_name, email, deleted_at ON directory_users
BEGIN
    DELETE FROM directory_users_search
    WHERE rowid = (SELECT key FROM directory_users_search_keys WHERE user_id = OLD.id);
    DELETE FROM directory_users_search_keys
    WHERE user_id = OLD.id AND NEW.deleted_at IS NOT NULL;
    INSERT OR IGNORE INTO directory_users_search_keys (user_id)
    SELECT NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO directory_users_search (rowid, user_name, display_name, email)
    SELECT key, NEW.user_name_lower, NEW.display_name, NEW.email
    FROM directory_users_search_keys WHERE user_id = NEW.id AND NEW.deleted_at IS NULL;
END;

CREATE TRIGGER directory_users_search_remove AFTER DELETE ON directory_users
BEGIN
    DELETE FROM directory_users_search
    WHERE rowid = (SELECT key FROM directory_users_search_keys WHERE user_id = OLD.id);
    DELETE FROM directory_users_search_keys WHERE user_id = OLD.id;
END;

-- An exact externalId search across directories.
CREATE INDEX directory_users_external_id_idx ON directory_users (external_id) WHERE deleted_at IS NULL;
