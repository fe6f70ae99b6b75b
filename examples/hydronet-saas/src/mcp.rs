//! Tenants' MCP tool servers: their stored registrations, the tools a user may use in a
//! chat turn, and the calls the model makes to them.
//!
//! A server's tool list is stored with its digest. The first list is approved by the
//! administrator who adds the server; a later list that differs (a tool added, removed,
//! or described differently) pauses the server until an administrator approves it, so a
//! server cannot change what the model is told without a person seeing it. Tools start
//! disabled; administrators enable them and may restrict them to roles.
//!
//! Every connection goes through the egress policy (`HYDRONET_MCP_ALLOW` widens it):
//! only http and https, every resolved address checked and pinned, no redirects. Calls
//! are bounded in time and output; the server's own Authorization header (sealed at rest)
//! is the only credential sent, never one of ours.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use hydronet_core::{TenantId, UserId};
use hydronet_llm::Tool;
use hydronet_llm::mcp::{
    McpClient, McpError, McpServerConfig, ToolInfo, function_definition, tools_digest,
};
use hydronet_tenancy::audit::{Actor, AuditEvent, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::FromRow;

use crate::db::Tx;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::rfc3339;

/// A registered server as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ServerRow {
    /// Id (UUID text).
    pub id: String,
    /// The tenant's name for it; prefixes its tools' names for the model.
    pub name: String,
    /// The streamable-HTTP endpoint.
    pub url: String,
    /// The sealed Authorization header value, if any.
    pub auth_sealed: Option<String>,
    /// 1 when enabled.
    pub enabled: i64,
    /// `pending` (never listed), `active`, `paused` (a changed tool list awaits
    /// approval) or `error` (the last listing failed).
    pub status: String,
    /// The tools as last listed (JSON).
    pub tools: Option<String>,
    /// Digest of `tools`.
    pub tools_digest: Option<String>,
    /// The digest an administrator approved.
    pub approved_digest: Option<String>,
    /// Per-tool settings (JSON).
    pub tool_settings: String,
    /// Why the last listing failed.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The columns of [`ServerRow`], in order.
pub const SERVER_COLUMNS: &str = "id, name, url, auth_sealed, enabled, status, tools, \
     tools_digest, approved_digest, tool_settings, last_error, created_at, updated_at";

/// Whether a tool may be used, and by whom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSetting {
    /// Offered to the model.
    #[serde(default)]
    pub enabled: bool,
    /// Only users holding one of these roles; empty: everyone who may chat.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl ServerRow {
    /// The tools as last listed.
    pub fn tool_list(&self) -> Vec<ToolInfo> {
        self.tools
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    /// The per-tool settings.
    pub fn settings(&self) -> BTreeMap<String, ToolSetting> {
        serde_json::from_str(&self.tool_settings).unwrap_or_default()
    }

    /// Whether its tools may be offered: enabled, and its current list approved.
    pub fn usable(&self) -> bool {
        self.enabled != 0
            && self.status == "active"
            && self.tools_digest.is_some()
            && self.tools_digest == self.approved_digest
    }

    /// The JSON the API returns: never the Authorization value.
    pub fn to_json(&self) -> Value {
        let settings = self.settings();
        let tools: Vec<Value> = self
            .tool_list()
            .into_iter()
            .map(|tool| {
                let setting = settings.get(&tool.name).cloned().unwrap_or_default();
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                    "enabled": setting.enabled,
                    "roles": setting.roles,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "has_authorization": self.auth_sealed.is_some(),
            "enabled": self.enabled != 0,
            "status": self.status,
            "tools": tools,
            "tools_digest": self.tools_digest,
            "approved_digest": self.approved_digest,
            "last_error": self.last_error,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

/// Where a server's Authorization value is sealed: this tenant, this server.
pub fn auth_context(tenant: TenantId, server: &str) -> String {
    format!("mcp_servers.auth:{tenant}:{server}")
}

/// `tenant`'s server `id`.
pub async fn find(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> Result<Option<ServerRow>, sqlx::Error> {
    let sql = format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Every server of `tenant`, by name.
pub async fn all(tx: &mut Tx, tenant: TenantId) -> Result<Vec<ServerRow>, sqlx::Error> {
    let sql =
        format!("SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 ORDER BY name");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .fetch_all(&mut **tx)
        .await
}

/// How to reach `row`'s server.
pub fn config(
    state: &AppState,
    tenant: TenantId,
    row: &ServerRow,
) -> Result<McpServerConfig, ApiError> {
    let mut config = McpServerConfig::new(row.url.clone());
    config.call_timeout = state.settings.mcp_call_timeout;
    config.max_output_bytes = state.settings.mcp_max_output_bytes;
    if let Some(sealed) = &row.auth_sealed {
        let secret = state
            .sealer
            .open(&auth_context(tenant, &row.id), sealed)
            .map_err(ApiError::internal)?;
        config.authorization = Some(secret);
    }
    Ok(config)
}

/// Connects to `row`'s server and lists its tools, with their digest.
pub async fn list_tools(
    state: &AppState,
    tenant: TenantId,
    row: &ServerRow,
) -> Result<(Vec<ToolInfo>, String), McpListError> {
    let config = config(state, tenant, row).map_err(McpListError::Sealed)?;
    let client = McpClient::connect(config, &state.settings.egress).await?;
    let tools = client.list_tools().await;
    client.close().await;
    let tools = tools?;
    let digest = tools_digest(&tools);
    Ok((tools, digest))
}

/// Why a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum McpListError {
    /// The server could not be reached or answered wrongly.
    #[error(transparent)]
    Mcp(#[from] McpError),
    /// Its stored secret could not be opened.
    #[error("the stored authorization could not be opened")]
    Sealed(ApiError),
}

/// The tools one user may use in one chat turn, and how to call them.
#[derive(Default)]
pub struct Toolbox {
    definitions: Vec<Tool>,
    routes: HashMap<String, (ServerRow, String)>,
    tenant: Option<TenantId>,
}

impl Toolbox {
    /// The tools of `tenant`'s usable servers that are enabled for one of `roles`.
    pub async fn for_user(
        state: &AppState,
        tenant: TenantId,
        roles: &[String],
    ) -> Result<Self, ApiError> {
        let mut tx = state.db.tenant_reader(tenant).await?;
        let servers = all(&mut tx, tenant).await?;
        tx.commit().await?;

        let mut toolbox = Toolbox {
            tenant: Some(tenant),
            ..Toolbox::default()
        };
        for server in servers.into_iter().filter(ServerRow::usable) {
            let settings = server.settings();
            for tool in server.tool_list() {
                let Some(setting) = settings.get(&tool.name) else {
                    continue;
                };
                let allowed = setting.enabled
                    && (setting.roles.is_empty()
                        || setting.roles.iter().any(|r| roles.contains(r)));
                if !allowed {
                    continue;
                }
                let definition = function_definition(&server.name, &tool);
                let Ok(spec) = serde_json::from_value::<Tool>(definition) else {
                    continue;
                };
                toolbox.routes.insert(
                    spec.function.name.clone(),
                    (server.clone(), tool.name.clone()),
                );
                toolbox.definitions.push(spec);
            }
        }
        Ok(toolbox)
    }

    /// Whether there is nothing to offer.
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// The tools, as the model is told of them.
    pub fn definitions(&self) -> Vec<Tool> {
        self.definitions.clone()
    }

    /// Runs the model's call of `function` with `arguments` (JSON text) for `user`, audits
    /// and counts it, and returns what to tell the model: the tool's output, or why there
    /// is none. Never fails: a failed call is something the model can read.
    pub async fn call(
        &self,
        state: &AppState,
        user: UserId,
        function: &str,
        arguments: &str,
    ) -> String {
        let Some(tenant) = self.tenant else {
            return "No tools are available.".to_owned();
        };
        let Some((server, tool)) = self.routes.get(function) else {
            return format!("There is no tool named {function}.");
        };
        let arguments: Map<String, Value> = match serde_json::from_str(arguments) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) if arguments.trim().is_empty() => Map::new(),
            _ => return "The tool's arguments must be a JSON object.".to_owned(),
        };

        let started = Instant::now();
        let result = async {
            let config = config(state, tenant, server)
                .map_err(|_| "the server's stored authorization cannot be opened".to_owned())?;
            let client = McpClient::connect(config, &state.settings.egress)
                .await
                .map_err(|err| err.to_string())?;
            let output = client.call_tool(tool, arguments).await;
            client.close().await;
            output.map_err(|err| err.to_string())
        }
        .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.usage.tool_call(tenant);

        let (outcome, text, details) = match result {
            Ok(output) => {
                let outcome = if output.is_error {
                    Outcome::Failed
                } else {
                    Outcome::Success
                };
                let details = json!({
                    "server_id": server.id, "tool": tool, "duration_ms": elapsed_ms,
                    "tool_error": output.is_error, "truncated": output.truncated,
                    "output_bytes": output.text.len(),
                });
                let mut text = output.text;
                if output.truncated {
                    text.push_str("\n[output cut at the size limit]");
                }
                (outcome, text, details)
            }
            Err(reason) => {
                let details = json!({
                    "server_id": server.id, "tool": tool, "duration_ms": elapsed_ms, "error": reason,
                });
                (
                    Outcome::Failed,
                    format!("The tool could not be called: {reason}"),
                    details,
                )
            }
        };
        let event = AuditEvent::at(&*state.clock, tenant, Actor::User(user), "mcp.tool_called")
            .target(format!("mcp:{}/{tool}", server.name))
            .outcome(outcome)
            .details(details);
        state.audit_later(event).await;
        text
    }
}
