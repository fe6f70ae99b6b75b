-- One-time tokens with which an invited user sets a first password.
CREATE TABLE set_password_tokens (
    token_digest TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL
);

ALTER TABLE set_password_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE set_password_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON set_password_tokens
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON set_password_tokens TO hydronet_app;
