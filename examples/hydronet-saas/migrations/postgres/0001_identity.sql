-- Tenants, users, roles and login sessions. Ids are UUID text, times Unix seconds.
--
-- Every tenant-owned table has row-level security enabled and forced. The application
-- runs its queries as `hydronet_app` (neither superuser, owner nor BYPASSRLS), switching
-- to it with SET LOCAL ROLE inside each transaction and naming the tenant with
-- set_config('app.tenant_id', ..., true). With neither the tenant nor the system scope
-- set, a query sees no rows.

DO $$
BEGIN
    CREATE ROLE hydronet_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    -- Roles are cluster-wide: another database of the cluster may have made it already.
    WHEN OTHERS THEN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT hydronet_app TO %I', current_user);
EXCEPTION
    -- Already a member, or a superuser (who may switch to any role anyway).
    WHEN OTHERS THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO hydronet_app;

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    plan        TEXT NOT NULL DEFAULT 'free',
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    password_hash TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT,
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_tenant_idx ON users (tenant_id);

CREATE TABLE user_roles (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_tenant_idx ON user_roles (tenant_id);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    user_agent  TEXT,
    client_addr TEXT
);
CREATE INDEX sessions_tenant_idx ON sessions (tenant_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at);

CREATE TABLE refresh_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    CONSTRAINT refresh_tokens_digest_key UNIQUE (token_digest)
);
CREATE INDEX refresh_tokens_tenant_idx ON refresh_tokens (tenant_id);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- The tenants table is scoped by its own id; the others by tenant_id.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'user_roles', 'sessions', 'refresh_tokens'] LOOP
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

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, user_roles, sessions, refresh_tokens
    TO hydronet_app;
