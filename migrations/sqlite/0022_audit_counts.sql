-- The audit explorer's timeline (issue #19).
--
-- `audit_counts` holds how many events occurred in each quarter hour
-- (`slot` = seconds since the epoch / 900, UTC), so the timeline of a
-- range with no other filter adds up at most a few thousand rows instead
-- of reading every event of the range. A quarter hour because every time
-- zone's offset is a multiple of it and every timeline bucket of 15
-- minutes or more is a whole number of slots. Appends add their events
-- (in the same transaction); the retention purge takes out what it
-- deletes; an erasure rewrites names, not times, so the counts stay.
CREATE TABLE audit_counts (
    slot INTEGER PRIMARY KEY,
    n    INTEGER NOT NULL
);

INSERT INTO audit_counts (slot, n)
SELECT CAST(strftime('%s', occurred_at) AS INTEGER) / 900, COUNT(*)
FROM audit_events
GROUP BY 1;
