-- Daily usage counters per tenant, and per-tenant limit overrides.

CREATE TABLE usage_daily (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day               BIGINT NOT NULL, -- YYYYMMDD, UTC
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_daily TO hydronet_app;

-- JSON object of PlanLimits fields that replace the plan's for this tenant.
ALTER TABLE tenants ADD COLUMN limits TEXT;
