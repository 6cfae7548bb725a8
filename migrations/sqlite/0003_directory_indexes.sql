-- Indexes for the console's directory pages (Directory → Users and Groups,
-- and the history on their detail pages). The lists filter by directory and
-- status and sort by a whitelisted column; each common combination can walk
-- an index in order and stop after one page. Substring search scans, which
-- stays fast at tens of thousands of users.

-- No directory filter, sorted by userName (the default view).
CREATE INDEX directory_users_name_idx ON directory_users (user_name_lower, id) WHERE deleted_at IS NULL;
-- Directory and status filters, sorted by userName. The directory-only case
-- uses directory_users_user_name_key.
CREATE INDEX directory_users_dir_active_name_idx ON directory_users (directory_id, active, user_name_lower) WHERE deleted_at IS NULL;
CREATE INDEX directory_users_active_name_idx ON directory_users (active, user_name_lower) WHERE deleted_at IS NULL;
-- Sorted by last change (the "what changed lately" view).
CREATE INDEX directory_users_updated_idx ON directory_users (updated_at, id) WHERE deleted_at IS NULL;

-- Groups sorted by name without a directory filter; with one, the list uses
-- directory_groups_display_name_key.
CREATE INDEX directory_groups_name_idx ON directory_groups (display_name_lower, id);

-- The history of one user or group on its detail page.
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id, seq);
