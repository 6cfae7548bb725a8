-- Signed checkpoints of the audit chain (issue #19, item 3).
--
-- Every N events or M minutes the console signs the chain head (its seq and
-- hash) with a key of its own purpose, 'audit', kept sealed in signing_keys
-- like the bundle and token keys and published in the same JWKS. A checkpoint
-- exported out of the database (a file, a witness URL) lets
-- `portcullis audit verify --checkpoint` catch a truncated tail or a chain
-- rewritten from scratch, which the chain alone cannot.

ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_purpose_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_purpose_check
    CHECK (purpose IN ('bundle', 'token', 'audit'));

-- One row per signed head. `jws` is the compact JWS (typ
-- portcullis-audit-checkpoint+jws) over {seq, hash, iat}; seq and hash are
-- copies for queries. witnessed_at is set once the configured witness URL
-- accepted the checkpoint; until then witness_error says why not.
CREATE TABLE audit_checkpoints (
    seq            BIGINT PRIMARY KEY,
    hash           TEXT NOT NULL,
    signed_at      TIMESTAMPTZ NOT NULL,
    kid            TEXT NOT NULL,
    jws            TEXT NOT NULL,
    witnessed_at   TIMESTAMPTZ,
    witness_error  TEXT
);
CREATE INDEX audit_checkpoints_unwitnessed_idx ON audit_checkpoints (seq) WHERE witnessed_at IS NULL;
