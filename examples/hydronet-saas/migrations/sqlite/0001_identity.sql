-- Tenants, users, roles and login sessions. Ids are UUID text, times Unix seconds.

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

-- A login session is one family of refresh tokens; access tokens carry its id (`sid`).
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
