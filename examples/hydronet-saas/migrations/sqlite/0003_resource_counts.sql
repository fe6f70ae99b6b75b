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
