-- How many of each plan-limited resource (users, conversations, MCP servers) a tenant
-- holds. Creating one raises the count with a conditional UPDATE, so the limit holds under
-- concurrent requests; see `src/counts.rs`.

CREATE TABLE resource_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    resource  TEXT NOT NULL,
    count     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, resource)
);

-- Users already exist; the other resources start with this migration.
INSERT INTO resource_counts (tenant_id, resource, count)
SELECT tenant_id, 'users', COUNT(*) FROM users GROUP BY tenant_id;

ALTER TABLE resource_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE resource_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON resource_counts
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');

GRANT SELECT, INSERT, UPDATE, DELETE ON resource_counts TO hydronet_app;
