-- Directory: SCIM directories and their bearer tokens, provisioned users and
-- groups, memberships, and a log of recent SCIM requests for debugging.
-- Users and groups belong to the directory that created them; userName and
-- group displayName are unique per directory, case-insensitively.

CREATE TABLE directories (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    name_lower       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_request_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX directories_name_key ON directories (name_lower);

CREATE TABLE scim_tokens (
    id            TEXT PRIMARY KEY,
    directory_id  TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL,
    hint          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX scim_tokens_hash_key ON scim_tokens (token_hash);
CREATE INDEX scim_tokens_directory_idx ON scim_tokens (directory_id);

CREATE TABLE directory_users (
    id               TEXT PRIMARY KEY,
    directory_id     TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    user_name        TEXT NOT NULL,
    user_name_lower  TEXT NOT NULL,
    external_id      TEXT,
    display_name     TEXT,
    given_name       TEXT,
    family_name      TEXT,
    email            TEXT,
    active           BOOLEAN NOT NULL,
    resource         TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    deleted_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX directory_users_user_name_key ON directory_users (directory_id, user_name_lower) WHERE deleted_at IS NULL;
CREATE INDEX directory_users_external_idx ON directory_users (directory_id, external_id);
CREATE INDEX directory_users_email_idx ON directory_users (email);

CREATE TABLE directory_user_emails (
    user_id   TEXT NOT NULL REFERENCES directory_users (id) ON DELETE CASCADE,
    value     TEXT NOT NULL,
    type      TEXT,
    primary_  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX directory_user_emails_user_idx ON directory_user_emails (user_id);
CREATE INDEX directory_user_emails_value_idx ON directory_user_emails (value);

CREATE TABLE directory_groups (
    id                  TEXT PRIMARY KEY,
    directory_id        TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    display_name        TEXT NOT NULL,
    display_name_lower  TEXT NOT NULL,
    external_id         TEXT,
    version             BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX directory_groups_display_name_key ON directory_groups (directory_id, display_name_lower);

-- member_id is what the IdP sent: normally a user of the same directory.
-- It is not a foreign key on purpose: an IdP may list a member it has not
-- provisioned (yet); such a member grants nothing, since every use joins
-- members to users of the same directory.
CREATE TABLE directory_group_members (
    group_id   TEXT NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,
    display    TEXT,
    ref        TEXT,
    type       TEXT,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX directory_group_members_member_idx ON directory_group_members (member_id);

CREATE TABLE scim_requests (
    id            BIGSERIAL PRIMARY KEY,
    directory_id  TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    at            TIMESTAMPTZ NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    scim_type     TEXT,
    detail        TEXT
);
CREATE INDEX scim_requests_directory_idx ON scim_requests (directory_id, id);
