-- The WeChat official-account channel: each tenant's account settings (secrets sealed by
-- the server, see src/sealed.rs), which conversation belongs to which WeChat user, and the
-- deliveries already taken, so WeChat's retries cause one answer.
CREATE TABLE wechat_accounts (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    app_id            TEXT NOT NULL,
    token_sealed      TEXT NOT NULL,
    app_secret_sealed TEXT NOT NULL,
    aes_key_sealed    TEXT,
    enabled           BIGINT NOT NULL, -- 1 or 0
    updated_at        BIGINT NOT NULL
);

CREATE TABLE wechat_conversations (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    openid          TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, openid)
);

-- A delivery is its MsgId, or sender and creation time for events; kept a few minutes,
-- longer than the window in which a delivery's timestamp is accepted.
CREATE TABLE wechat_deliveries (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    delivery_key TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, delivery_key)
);
CREATE INDEX wechat_deliveries_by_age ON wechat_deliveries (tenant_id, received_at);

ALTER TABLE wechat_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE wechat_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wechat_accounts
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON wechat_accounts TO hydronet_app;

ALTER TABLE wechat_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE wechat_conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wechat_conversations
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON wechat_conversations TO hydronet_app;

ALTER TABLE wechat_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE wechat_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wechat_deliveries
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');
GRANT SELECT, INSERT, UPDATE, DELETE ON wechat_deliveries TO hydronet_app;
