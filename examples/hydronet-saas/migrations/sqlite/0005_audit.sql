-- The tamper-evident audit log: one hash chain per tenant (see hydronet_tenancy::audit).

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    time_ms     BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL,
    request_id  TEXT,
    client_addr TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_time_idx ON audit_events (tenant_id, time_ms);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action);

CREATE TABLE audit_heads (
    tenant_id   TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    anchor_seq  BIGINT NOT NULL DEFAULT 0,
    anchor_hash TEXT NOT NULL
);
