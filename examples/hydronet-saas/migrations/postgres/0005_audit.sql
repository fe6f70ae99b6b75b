-- The tamper-evident audit log: one hash chain per tenant (see hydronet_tenancy::audit).
-- Append-only for the application: hydronet_app may read and insert audit records, never
-- update or delete them. Pruning runs as the owner (`hydronet-saas audit prune`).

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

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_events', 'audit_heads'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''app.tenant_id'', true) '
            '       OR current_setting(''app.scope'', true) = ''system'') '
            'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true) '
            '       OR current_setting(''app.scope'', true) = ''system'')', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT ON audit_events TO hydronet_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO hydronet_app;
