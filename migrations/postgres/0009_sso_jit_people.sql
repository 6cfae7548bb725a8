-- Just-in-time people (issue #15): a connection may create the people who
-- sign in for MCP clients on their first sign-in (for IdPs that do not push
-- SCIM), in its directory (made for it when it has none), with the IdP's
-- groups mapped to groups of that directory.
ALTER TABLE sso_connections ADD COLUMN jit_people BOOLEAN NOT NULL DEFAULT FALSE;
-- The connection that created a person just in time; such a person's
-- groups follow the IdP's at every sign-in (SCIM-provisioned people are
-- left to SCIM).
ALTER TABLE directory_users ADD COLUMN jit_connection_id TEXT;
