-- Daily usage counters per tenant, and per-tenant limit overrides.

CREATE TABLE usage_daily (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day               BIGINT NOT NULL, -- YYYYMMDD, UTC
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

-- JSON object of PlanLimits fields that replace the plan's for this tenant.
ALTER TABLE tenants ADD COLUMN limits TEXT;
