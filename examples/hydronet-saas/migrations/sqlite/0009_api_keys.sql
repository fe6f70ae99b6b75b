-- API keys for programmatic access, and the tenant's default chat model.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_digest    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL, -- permission names separated by spaces
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

-- NULL uses the first model the tenant's plan allows.
ALTER TABLE tenants ADD COLUMN default_model TEXT;
-- When a system administrator last exported the tenant's data (Unix seconds); a tenant
-- is deleted only after an export taken while it was suspended.
ALTER TABLE tenants ADD COLUMN exported_at BIGINT;
