-- Role assignments and custom roles move into casbin's policy table.

CREATE TABLE casbin_rules (
    tenant_id TEXT NOT NULL,
    ptype     TEXT NOT NULL,
    v0        TEXT NOT NULL DEFAULT '',
    v1        TEXT NOT NULL DEFAULT '',
    v2        TEXT NOT NULL DEFAULT '',
    v3        TEXT NOT NULL DEFAULT '',
    v4        TEXT NOT NULL DEFAULT '',
    v5        TEXT NOT NULL DEFAULT '',
    CONSTRAINT casbin_rules_key UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);
CREATE INDEX casbin_rules_tenant_idx ON casbin_rules (tenant_id);

INSERT INTO casbin_rules (tenant_id, ptype, v0, v1, v2)
SELECT tenant_id, 'g', 'u:' || user_id, role, tenant_id FROM user_roles;

DROP TABLE user_roles;

-- A tenant sees its own rules and the built-in template (`*`); only the system scope
-- writes the template.
ALTER TABLE casbin_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE casbin_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON casbin_rules
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR tenant_id = '*'
           OR current_setting('app.scope', true) = 'system')
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR current_setting('app.scope', true) = 'system');

GRANT SELECT, INSERT, UPDATE, DELETE ON casbin_rules TO hydronet_app;
