-- Enterprise-managed authorization (issue #18): an OIDC connection may
-- trust its IdP's Identity Assertion JWT Authorization Grants (ID-JAG,
-- `urn:ietf:params:oauth:grant-type:jwt-bearer` at the token endpoint),
-- checked with the issuer and keys of the connection's own discovery.
-- Off by default.
ALTER TABLE sso_connections ADD COLUMN accept_id_jag BOOLEAN NOT NULL DEFAULT FALSE;
