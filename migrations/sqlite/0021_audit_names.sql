-- The audit explorer's actor, target and source filters (issue #19).
--
-- `audit_names` holds each distinct (id, display name) pair the log's
-- actors and targets carry, so a filter that is part of a name finds the
-- ids it matches here (a small table) and then reads their events through
-- `audit_events_actor_idx` / `audit_events_target_id_idx`, instead of
-- reading the whole log to find a name nobody has. Appends add their
-- pairs; an erasure takes out the pairs it rewrote; the retention purge
-- drops pairs no event carries any more. `id` is '' for an actor without
-- one (the system).
CREATE TABLE audit_names (
    kind    TEXT NOT NULL CHECK (kind IN ('actor', 'target')),
    id      TEXT NOT NULL,
    display TEXT NOT NULL,
    PRIMARY KEY (kind, id, display)
) WITHOUT ROWID;

INSERT INTO audit_names (kind, id, display)
SELECT DISTINCT 'actor', COALESCE(actor_id, ''), actor_display FROM audit_events
UNION
SELECT DISTINCT 'target', target_id, COALESCE(target_display, '') FROM audit_events
WHERE target_id IS NOT NULL;

-- The source address filter is a prefix: a range of this index.
CREATE INDEX audit_events_source_idx ON audit_events (source_ip);

-- The events of actors without an id (the system, someone signing in) by
-- name: how the purge and an erasure tell whether such a name is still
-- carried by an event.
CREATE INDEX audit_events_unnamed_actor_idx ON audit_events (actor_display)
WHERE actor_id IS NULL;
