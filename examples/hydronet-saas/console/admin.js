// Tenant administration: users, roles, API keys, the audit log, MCP servers, WeChat and
// settings. The shell shows each page only to roles whose permissions allow it; the server
// decides regardless.

import * as api from "./api.js";
import { form } from "./auth.js";
import { field, h, mount, table, toast, when } from "./dom.js";
import { t } from "./i18n.js";

const badge = (text) => h("span", { class: `badge ${text}` }, text);

/** Runs `action`, reporting its failure in a toast; re-renders on success when asked. */
async function attempt(action, after) {
  try {
    await action();
    if (after) await after();
  } catch (err) {
    toast(err.message, "error");
  }
}

function checks(name, values, checked = []) {
  return h(
    "div",
    { class: "checks" },
    values.map((value) =>
      h("label", {}, h("input", { type: "checkbox", name, value, checked: checked.includes(value) }), value),
    ),
  );
}

function page(title, ...children) {
  return h("div", { class: "page" }, h("h1", {}, title), children);
}

/** Users of the tenant. */
export async function usersView({ render }) {
  const [users, roles] = await Promise.all([api.get("/api/tenant/users?limit=100"), api.get("/api/tenant/roles")]);
  const roleNames = roles.roles.map((r) => r.name);
  const notice = h("div", { role: "status" });

  const add = form(
    t("users.add"),
    [
      field(t("auth.email"), { name: "email", type: "email", required: true }),
      field(t("users.role"), h("select", { name: "role" }, roleNames.filter((r) => r !== "system_admin").map((r) => h("option", { value: r, selected: r === "member" }, r)))),
      field(t("users.passwordOptional"), { name: "password", type: "password", autocomplete: "new-password" }),
    ],
    t("users.add"),
    async (data) => {
      const body = { email: data.get("email"), role: data.get("role") };
      if (data.get("password")) body.password = data.get("password");
      const created = await api.postJson("/api/tenant/users", body);
      await render();
      if (created.set_password_token && !body.password) {
        toast(t("users.invited", { token: created.set_password_token }));
      } else {
        toast(t("common.saved"));
      }
    },
  );
  add.classList.add("row");

  const editRoles = (user) =>
    attempt(async () => {
      const text = prompt(t("users.editRoles"), user.roles.join(", "));
      if (text === null) return;
      const next = text.split(",").map((r) => r.trim()).filter(Boolean);
      await api.put(`/api/tenant/users/${user.id}/roles`, { roles: next });
    }, render);

  return page(
    t("users.title"),
    notice,
    h("section", { class: "card" }, h("h2", {}, t("users.add")), add),
    h(
      "section",
      { class: "card" },
      table(
        t("users.title"),
        [
          { label: t("auth.email"), value: (u) => u.email },
          { label: t("users.roles"), value: (u) => u.roles.join(", ") },
          { label: t("common.status"), value: (u) => badge(u.status) },
          { label: t("users.lastLogin"), value: (u) => when(u.last_login_at) },
          {
            label: t("common.actions"),
            value: (u) =>
              h(
                "span",
                { class: "row-actions" },
                h("button", { type: "button", onclick: () => editRoles(u) }, t("users.roles")),
                u.status === "active"
                  ? h("button", { type: "button", onclick: () => attempt(() => api.postJson(`/api/tenant/users/${u.id}/disable`), render) }, t("users.disable"))
                  : h("button", { type: "button", onclick: () => attempt(() => api.postJson(`/api/tenant/users/${u.id}/enable`), render) }, t("users.enable")),
                h(
                  "button",
                  { type: "button", class: "danger", onclick: () => confirm(t("common.confirm")) && attempt(() => api.del(`/api/tenant/users/${u.id}`), render) },
                  t("common.delete"),
                ),
              ),
          },
        ],
        users.users,
        t("common.none"),
      ),
    ),
  );
}

/** Roles and their permissions; custom roles can be created, changed and deleted. */
export async function rolesView({ render }) {
  const body = await api.get("/api/tenant/roles");
  const available = body.available_permissions;

  const create = form(
    t("roles.new"),
    [
      field(t("common.name"), { name: "name", required: true, pattern: "[a-z0-9-]+" }, t("roles.nameHint")),
      h("fieldset", {}, h("legend", {}, t("roles.permissions")), checks("permissions", available)),
    ],
    t("common.create"),
    async (data) => {
      await api.postJson(`/api/tenant/roles/${encodeURIComponent(data.get("name"))}`, { permissions: data.getAll("permissions") });
      await render();
      toast(t("common.saved"));
    },
  );

  const editor = (role) => {
    const el = form(
      role.name,
      [h("fieldset", {}, h("legend", {}, `${role.name} · ${t("roles.permissions")}`), checks("permissions", available, role.permissions))],
      t("common.save"),
      async (data) => {
        await api.put(`/api/tenant/roles/${encodeURIComponent(role.name)}`, { permissions: data.getAll("permissions") });
        toast(t("common.saved"));
      },
    );
    el.append(
      h(
        "button",
        { type: "button", class: "danger", onclick: () => confirm(t("common.confirm")) && attempt(() => api.del(`/api/tenant/roles/${encodeURIComponent(role.name)}`), render) },
        t("common.delete"),
      ),
    );
    return h("section", { class: "card" }, el);
  };

  return page(
    t("roles.title"),
    h(
      "section",
      { class: "card" },
      table(
        t("roles.title"),
        [
          { label: t("common.name"), value: (r) => [r.name, " ", r.builtin ? badge(t("roles.builtin")) : null] },
          { label: t("roles.permissions"), value: (r) => r.permissions.join(", ") },
        ],
        body.roles,
        t("common.none"),
      ),
    ),
    body.roles.filter((r) => !r.builtin).map(editor),
    h("section", { class: "card" }, h("h2", {}, t("roles.new")), create),
  );
}

/** API keys; a new key's secret is shown once. */
export async function keysView({ render, session }) {
  const body = await api.get("/api/tenant/api-keys?limit=100");
  const secret = h("div", { role: "status" });
  const create = form(
    t("keys.new"),
    [
      field(t("common.name"), { name: "name", required: true, maxlength: 100 }),
      h("fieldset", {}, h("legend", {}, t("keys.scopes")), checks("scopes", session.permissions, ["conversations:read", "conversations:write"].filter((p) => session.permissions.includes(p)))),
      field(t("keys.expires"), { name: "expires_in_days", type: "number", min: 1, max: 3650 }),
    ],
    t("common.create"),
    async (data, el) => {
      const request = { name: data.get("name"), scopes: data.getAll("scopes") };
      if (data.get("expires_in_days")) request.expires_in_days = Number(data.get("expires_in_days"));
      const created = await api.postJson("/api/tenant/api-keys", request);
      el.reset();
      const list = await keysView({ render, session });
      mount(document.getElementById("main"), list);
      mount(
        list.querySelector("[data-secret]"),
        h("p", {}, t("keys.secret")),
        h("p", { class: "secret", "data-testid": "new-key" }, created.key),
      );
    },
  );
  return page(
    t("keys.title"),
    h("div", { "data-secret": "", role: "status" }, secret),
    h("section", { class: "card" }, h("h2", {}, t("keys.new")), create),
    h(
      "section",
      { class: "card" },
      table(
        t("keys.title"),
        [
          { label: t("common.name"), value: (k) => k.name },
          { label: t("keys.prefix"), value: (k) => h("code", {}, k.prefix) },
          { label: t("keys.scopes"), value: (k) => k.scopes.join(", ") },
          { label: t("common.status"), value: (k) => badge(k.status) },
          { label: t("keys.lastUsed"), value: (k) => when(k.last_used_at) },
          {
            label: t("common.actions"),
            value: (k) =>
              k.status === "active"
                ? h("button", { type: "button", class: "danger", onclick: () => confirm(t("common.confirm")) && attempt(() => api.del(`/api/tenant/api-keys/${k.id}`), render) }, t("keys.revoke"))
                : null,
          },
        ],
        body.api_keys,
        t("common.none"),
      ),
    ),
  );
}

/** The audit log, filtered, paged and exported. */
export async function auditView({ params, go }) {
  const filters = {
    action: params.get("action") || "",
    actor: params.get("actor") || "",
    outcome: params.get("outcome") || "",
    from: params.get("from") || "",
    to: params.get("to") || "",
  };
  const apiFilters = () => ({
    action: filters.action,
    actor: filters.actor,
    outcome: filters.outcome,
    from: filters.from ? new Date(filters.from).toISOString() : "",
    to: filters.to ? new Date(filters.to).toISOString() : "",
  });
  const first = await api.get(`/api/admin/audit-logs${api.query({ ...apiFilters(), limit: 50 })}`);
  const events = [...first.events];
  let cursor = first.next_cursor;

  const columns = [
    { label: t("audit.time"), value: (e) => when(e.time_ms) },
    { label: t("audit.action"), value: (e) => h("code", {}, e.action) },
    { label: t("audit.actor"), value: (e) => `${e.actor.type}${e.actor.id ? `:${e.actor.id.slice(0, 8)}` : ""}` },
    { label: t("audit.target"), value: (e) => e.target || "—" },
    { label: t("audit.outcome"), value: (e) => badge(e.outcome) },
    { label: t("audit.client"), value: (e) => e.client_addr || "—" },
  ];
  const results = h("div", { class: "card" });
  const more = h("button", { type: "button" }, t("common.more"));
  const draw = () => {
    mount(results, table(t("audit.title"), columns, events, t("common.none")), cursor ? more : null);
  };
  more.addEventListener("click", () =>
    attempt(async () => {
      const next = await api.get(`/api/admin/audit-logs${api.query({ ...apiFilters(), limit: 50, cursor })}`);
      events.push(...next.events);
      cursor = next.next_cursor;
      draw();
    }),
  );
  draw();

  const outcome = h(
    "select",
    { name: "outcome" },
    ["", "success", "denied", "failed"].map((o) => h("option", { value: o, selected: o === filters.outcome }, o || t("audit.any"))),
  );
  const filterForm = form(
    t("audit.title"),
    [
      field(t("audit.action"), { name: "action", value: filters.action, placeholder: "auth." }),
      field(t("audit.actor"), { name: "actor", value: filters.actor }),
      field(t("audit.outcome"), outcome),
      field(t("audit.from"), { name: "from", type: "datetime-local", value: filters.from }),
      field(t("audit.to"), { name: "to", type: "datetime-local", value: filters.to }),
    ],
    t("common.apply"),
    async (data) => {
      const next = {};
      for (const name of Object.keys(filters)) if (data.get(name)) next[name] = data.get(name);
      go(`admin/audit${api.query(next)}`);
    },
  );
  filterForm.classList.add("row");

  const exportAs = (format) =>
    attempt(async () => {
      const response = await api.send("GET", `/api/admin/audit-logs${api.query({ ...apiFilters(), format })}`);
      const blob = await response.blob();
      const link = h("a", { href: URL.createObjectURL(blob), download: `audit-log.${format}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    });

  return page(
    t("audit.title"),
    h("section", { class: "card" }, filterForm),
    h(
      "p",
      { class: "row-actions" },
      h("button", { type: "button", onclick: () => exportAs("csv") }, `${t("audit.export")} CSV`),
      h("button", { type: "button", onclick: () => exportAs("jsonl") }, `${t("audit.export")} JSONL`),
    ),
    results,
  );
}

/** MCP tool servers and their tools. */
export async function mcpView({ render }) {
  const [body, roles] = await Promise.all([api.get("/api/tenant/mcp-servers"), api.get("/api/tenant/roles")]);
  const roleNames = roles.roles.map((r) => r.name);
  const add = form(
    t("mcp.add"),
    [
      field(t("common.name"), { name: "name", required: true }),
      field(t("mcp.url"), { name: "url", type: "url", required: true, placeholder: "https://" }),
      field(t("mcp.authorization"), { name: "authorization", type: "password", autocomplete: "off" }),
    ],
    t("mcp.add"),
    async (data) => {
      const request = { name: data.get("name"), url: data.get("url"), enabled: true };
      if (data.get("authorization")) request.authorization = data.get("authorization");
      await api.postJson("/api/tenant/mcp-servers", request);
      await render();
    },
  );

  const server = (s) => {
    const base = `/api/tenant/mcp-servers/${s.id}`;
    const tools = form(
      `${s.name} · ${t("mcp.tools")}`,
      [
        table(
          t("mcp.tools"),
          [
            { label: t("common.enabled"), value: (tool) => h("input", { type: "checkbox", name: `enabled:${tool.name}`, checked: tool.enabled, "aria-label": `${t("common.enabled")}: ${tool.name}` }) },
            { label: t("common.name"), value: (tool) => [h("code", {}, tool.name), h("br"), h("small", { class: "subtle" }, tool.description || "")] },
            { label: t("users.roles"), value: (tool) => h("input", { name: `roles:${tool.name}`, value: (tool.roles || []).join(", "), "aria-label": `${t("users.roles")}: ${tool.name}`, placeholder: roleNames.slice(0, 3).join(", ") }) },
          ],
          s.tools,
          t("common.none"),
        ),
      ],
      t("common.save"),
      async (data) => {
        const settings = {};
        for (const tool of s.tools) {
          settings[tool.name] = {
            enabled: data.get(`enabled:${tool.name}`) === "on",
            roles: String(data.get(`roles:${tool.name}`) || "").split(",").map((r) => r.trim()).filter(Boolean),
          };
        }
        await api.put(`${base}/tools`, { tools: settings });
        toast(t("common.saved"));
      },
    );
    const needsApproval = s.tools_digest && s.tools_digest !== s.approved_digest;
    return h(
      "section",
      { class: "card" },
      h("h2", {}, s.name, " ", badge(s.status)),
      h("p", { class: "subtle" }, s.url),
      s.last_error ? h("p", { class: "form-error" }, `${t("mcp.lastError")}: ${s.last_error}`) : null,
      h(
        "p",
        { class: "row-actions" },
        h("button", { type: "button", onclick: () => attempt(() => api.postJson(`${base}/refresh`), render) }, t("mcp.refresh")),
        needsApproval
          ? h("button", { type: "button", class: "primary", onclick: () => attempt(() => api.postJson(`${base}/approve`, { tools_digest: s.tools_digest }), render) }, t("mcp.approve"))
          : null,
        h("button", { type: "button", class: "danger", onclick: () => confirm(t("common.confirm")) && attempt(() => api.del(base), render) }, t("common.delete")),
      ),
      s.tools.length ? tools : null,
    );
  };

  return page(t("mcp.title"), body.servers.map(server), h("section", { class: "card" }, h("h2", {}, t("mcp.add")), add));
}

/** The tenant's WeChat official account. */
export async function wechatView({ render }) {
  const { wechat } = await api.get("/api/tenant/wechat");
  const state = (set) => (set ? t("wechat.set") : t("wechat.notSet"));
  const edit = form(
    t("wechat.title"),
    [
      field(t("wechat.appId"), { name: "app_id", required: true, value: wechat.app_id || "" }),
      field(t("wechat.token"), { name: "token", type: "password", required: true, autocomplete: "off" }, state(wechat.token_set)),
      field(t("wechat.secret"), { name: "app_secret", type: "password", required: true, autocomplete: "off" }, state(wechat.app_secret_set)),
      field(t("wechat.aes"), { name: "encoding_aes_key", type: "password", autocomplete: "off" }, state(wechat.encoding_aes_key_set)),
      h("div", { class: "field inline" }, h("input", { type: "checkbox", id: "wechat-enabled", name: "enabled", checked: wechat.enabled }), h("label", { for: "wechat-enabled" }, t("common.enabled"))),
    ],
    t("common.save"),
    async (data) => {
      await api.put("/api/tenant/wechat", {
        app_id: data.get("app_id"),
        token: data.get("token"),
        app_secret: data.get("app_secret"),
        encoding_aes_key: data.get("encoding_aes_key") || null,
        enabled: data.get("enabled") === "on",
      });
      await render();
      toast(t("common.saved"));
    },
  );
  return page(
    t("wechat.title"),
    wechat.channel_enabled ? null : h("p", { class: "notice", role: "note" }, t("wechat.disabled")),
    h("p", {}, t("wechat.callback", { path: wechat.callback_path })),
    h("section", { class: "card" }, edit),
  );
}

/** Settings: the tenant's name and system prompt (for managers), and the password. */
export async function settingsView({ can }) {
  const sections = [];
  if (can("tenant:manage")) {
    const { settings } = await api.get("/api/tenant/settings");
    sections.push(
      h(
        "section",
        { class: "card" },
        form(
          t("settings.title"),
          [
            field(t("auth.tenant"), { name: "name", required: true, value: settings.name }),
            field(
              t("settings.prompt"),
              h("textarea", { name: "system_prompt", rows: 8 }, settings.system_prompt_is_default ? "" : settings.system_prompt),
              t("settings.promptHint"),
            ),
          ],
          t("common.save"),
          async (data) => {
            await api.put("/api/tenant/settings", { name: data.get("name"), system_prompt: data.get("system_prompt") || null });
            toast(t("common.saved"));
          },
        ),
      ),
    );
  }
  sections.push(
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("settings.password")),
      form(
        t("settings.password"),
        [
          field(t("settings.oldPassword"), { name: "old_password", type: "password", autocomplete: "current-password", required: true }),
          field(t("settings.newPassword"), { name: "new_password", type: "password", autocomplete: "new-password", required: true, minlength: 8 }, t("auth.passwordHint")),
        ],
        t("common.save"),
        async (data, el) => {
          await api.changePassword(data.get("old_password"), data.get("new_password"));
          el.reset();
          toast(t("common.saved"));
        },
      ),
    ),
  );
  return page(t("nav.settings"), sections);
}
