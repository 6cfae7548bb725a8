-- The audit explorer's target filter (and the links from people, groups,
-- servers, gateways and clients to their events) look events up by target
-- id alone, newest first.
CREATE INDEX audit_events_target_id_idx ON audit_events (target_id, seq);
