-- Signed checkpoints of the audit chain (issue #19, item 3).
--
-- Every N events or M minutes the console signs the chain head (its seq and
-- hash) with a key of its own purpose, 'audit', kept sealed in signing_keys
-- like the bundle and token keys and published in the same JWKS. A checkpoint
-- exported out of the database (a file, a witness URL) lets
-- `portcullis audit verify --checkpoint` catch a truncated tail or a chain
-- rewritten from scratch, which the chain alone cannot.

-- SQLite cannot change a CHECK constraint: signing_keys is rebuilt with
-- 'audit' among its purposes (nothing references the table).
CREATE TABLE signing_keys_new (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_key   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at    TEXT NOT NULL,
    retired_at    TEXT,
    purpose       TEXT NOT NULL DEFAULT 'bundle' CHECK (purpose IN ('bundle', 'token', 'audit'))
);
INSERT INTO signing_keys_new (kid, alg, public_jwk, private_key, status, created_at, retired_at, purpose)
    SELECT kid, alg, public_jwk, private_key, status, created_at, retired_at, purpose FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (purpose) WHERE status = 'active';

-- One row per signed head. `jws` is the compact JWS (typ
-- portcullis-audit-checkpoint+jws) over {seq, hash, iat}; seq and hash are
-- copies for queries. witnessed_at is set once the configured witness URL
-- accepted the checkpoint; until then witness_error says why not.
CREATE TABLE audit_checkpoints (
    seq            INTEGER PRIMARY KEY,
    hash           TEXT NOT NULL,
    signed_at      TEXT NOT NULL,
    kid            TEXT NOT NULL,
    jws            TEXT NOT NULL,
    witnessed_at   TEXT,
    witness_error  TEXT
);
CREATE INDEX audit_checkpoints_unwitnessed_idx ON audit_checkpoints (seq) WHERE witnessed_at IS NULL;
