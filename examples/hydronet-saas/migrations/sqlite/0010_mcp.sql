-- MCP tool servers registered by tenants, and tool calls in the daily usage.
CREATE TABLE mcp_servers (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    auth_sealed     TEXT,            -- the Authorization header value, sealed (see sealed.rs)
    enabled         BIGINT NOT NULL DEFAULT 1,
    status          TEXT NOT NULL,   -- pending | active | paused | error
    tools           TEXT,            -- JSON array of the tools as last listed
    tools_digest    TEXT,            -- digest of `tools`
    approved_digest TEXT,            -- the digest an administrator approved
    tool_settings   TEXT NOT NULL DEFAULT '{}', -- JSON: tool name -> {enabled, roles}
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT mcp_servers_name_key UNIQUE (tenant_id, name)
);

ALTER TABLE usage_daily ADD COLUMN tool_calls BIGINT NOT NULL DEFAULT 0;
