-- Audit retention (issue #19, item 5): a purge job removes events older than
-- the retention period, blanks gateway decisions older than their own
-- (shorter) period, and leaves the rest of the chain verifiable from signed
-- purge records. A legal hold suspends it.

-- When a gateway decision's content was blanked by retention. The row keeps
-- its seq, id, time, action, prev_hash and hash, so the chain still links
-- through it; which rows were blanked is vouched for by a signed
-- 'decisions' purge record (a digest of their seq and hash).
ALTER TABLE audit_events ADD COLUMN redacted_at TEXT;

-- One row per signed purge record. kind 'prefix': events after_seq+1 ..
-- through_seq were deleted and `hash` is the hash of event through_seq (the
-- chain resumes from it); only the newest prefix record is kept. kind
-- 'decisions': the gateway decisions in after_seq+1 .. through_seq were
-- blanked; `hash` is SHA-256 over "<seq>:<hash>\n" of each, in order.
-- `jws` is the compact JWS (typ portcullis-audit-purge+jws, the audit key)
-- over {kind, after, through, count, hash, iat}; the other columns are
-- copies for queries.
CREATE TABLE audit_purges (
    kind         TEXT NOT NULL CHECK (kind IN ('prefix', 'decisions')),
    after_seq    INTEGER NOT NULL,
    through_seq  INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    purged_at    TEXT NOT NULL,
    kid          TEXT NOT NULL,
    jws          TEXT NOT NULL,
    PRIMARY KEY (kind, through_seq)
);

-- The legal hold: while this row exists nothing is purged or blanked.
CREATE TABLE audit_legal_hold (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    reason      TEXT NOT NULL,
    placed_at   TEXT NOT NULL,
    placed_by   TEXT NOT NULL
);
