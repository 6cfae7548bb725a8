-- Erasure of a person's personal data from the audit log (issue #19,
-- item 7). An erased row keeps its seq, id, time, action, prev_hash and
-- hash (the chain links through it); its names, addresses and the personal
-- values in its details are replaced by the erasure's pseudonym.
-- `erasure_id` names the signed record that vouches for it and
-- `erased_hash` is the hash of its content after the erasure, so an edit
-- of an erased row is still found.
ALTER TABLE audit_events ADD COLUMN erasure_id TEXT;
ALTER TABLE audit_events ADD COLUMN erased_hash TEXT;

-- One signed record per erasure: which person (by id), the pseudonym, and
-- a digest over "<seq>:<hash>:<erased_hash>\n" of every row it rewrote.
CREATE TABLE audit_erasures (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL,
    pseudonym   TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    erased_at   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    jws         TEXT NOT NULL
);
CREATE INDEX audit_erasures_person_idx ON audit_erasures (person_id);
