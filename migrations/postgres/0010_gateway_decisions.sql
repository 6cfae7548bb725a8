-- Reference gateway (issue #16): the id a gateway gives each decision record,
-- kept so that a batch sent again (a lost answer, a spool replayed after a
-- crash) is recorded in the audit log once. Ids older than the retention
-- the console prunes with are forgotten.
CREATE TABLE gateway_decision_ids (
    gateway_id   TEXT NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    decision_id  TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (gateway_id, decision_id)
);
CREATE INDEX gateway_decision_ids_recorded_idx ON gateway_decision_ids (recorded_at);
