//! `/api/tenant/mcp-servers`: the tenant's MCP tool servers — register (counted against
//! the plan), list, change, delete; refresh and approve their tool lists; choose which
//! tools are enabled and for which roles. See [`crate::mcp`] for the safety rules.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use hydronet_core::{Problem, TenantContext, TenantId};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Access, Client, Endpoint, endpoint};
use crate::body::{Fields, JsonObject};
use crate::counts::{self, Resource};
use crate::error::{ApiError, ApiResult, is_unique_violation};
use crate::mcp::{self, ServerRow, ToolSetting, auth_context};
use crate::state::AppState;

/// The MCP server endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{McpManage, McpRead};
    let all = "/api/tenant/mcp-servers";
    let one = "/api/tenant/mcp-servers/{id}";
    vec![
        endpoint(Method::GET, all, Access::Requires(McpRead), list),
        endpoint(Method::POST, all, Access::Requires(McpManage), create),
        endpoint(Method::GET, one, Access::Requires(McpRead), show),
        endpoint(Method::PATCH, one, Access::Requires(McpManage), change),
        endpoint(Method::DELETE, one, Access::Requires(McpManage), remove),
        endpoint(
            Method::POST,
            "/api/tenant/mcp-servers/{id}/refresh",
            Access::Requires(McpManage),
            refresh,
        ),
        endpoint(
            Method::POST,
            "/api/tenant/mcp-servers/{id}/approve",
            Access::Requires(McpManage),
            approve,
        ),
        endpoint(
            Method::PUT,
            "/api/tenant/mcp-servers/{id}/tools",
            Access::Requires(McpManage),
            set_tools,
        ),
    ]
}

/// A server name: it prefixes the tools' names the model sees.
fn parse_name(text: &str) -> Result<String, &'static str> {
    let name = text.trim();
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(name.to_owned())
    } else {
        Err("must be 1 to 32 lowercase letters, digits, '-' or '_'")
    }
}

/// An http(s) URL the egress policy lets us reach.
async fn check_url(state: &AppState, fields: &mut Fields, url: &str) {
    if url.len() > 2048 {
        fields.reject("url", "must be at most 2048 characters");
        return;
    }
    if let Err(err) = state.settings.egress.resolve(url).await {
        fields.reject("url", format!("cannot be used: {err}"));
    }
}

/// An optional Authorization value: `Some(None)` clears it.
fn authorization(
    fields: &mut Fields,
    body: &serde_json::Map<String, Value>,
) -> Option<Option<String>> {
    match body.get("authorization") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) if text.len() <= 4096 && !text.contains(['\r', '\n']) => {
            Some(Some(text.clone()))
        }
        Some(_) => {
            fields.reject(
                "authorization",
                "must be a header value of at most 4096 characters, or null",
            );
            None
        }
    }
}

async fn load(state: &AppState, tenant: TenantId, id: &str) -> ApiResult<ServerRow> {
    Uuid::parse_str(id).map_err(|_| Problem::not_found())?;
    let mut tx = state.db.tenant(tenant).await?;
    let row = mcp::find(&mut tx, tenant, id).await?;
    tx.commit().await?;
    row.ok_or_else(|| Problem::not_found().into())
}

fn server_json(row: &ServerRow) -> Json<Value> {
    Json(json!({ "success": true, "server": row.to_json() }))
}

/// `GET /api/tenant/mcp-servers`.
async fn list(State(state): State<AppState>, ctx: TenantContext) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let mut tx = state.db.tenant(tenant).await?;
    let rows = mcp::all(&mut tx, tenant).await?;
    tx.commit().await?;
    let servers: Vec<Value> = rows.iter().map(ServerRow::to_json).collect();
    Ok(Json(json!({ "success": true, "servers": servers })))
}

/// `GET /api/tenant/mcp-servers/{id}`.
async fn show(
    State(state): State<AppState>,
    ctx: TenantContext,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(server_json(&load(&state, ctx.tenant_id(), &id).await?))
}

/// `POST /api/tenant/mcp-servers` `{name, url, authorization?, enabled?}`: registers the
/// server and lists its tools (the first list is approved by this request; every tool
/// starts disabled).
async fn create(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let tenant = ctx.tenant_id();
    let mut fields = Fields::new(JsonObject(body.clone()));
    let name = fields.required("name", parse_name);
    let url = fields.required_str("url");
    let auth = authorization(&mut fields, &body);
    let enabled = match body.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            fields.reject("enabled", "must be true or false");
            true
        }
    };
    if let Some(url) = &url {
        check_url(&state, &mut fields, url).await;
    }
    fields.finish()?;
    let (Some(name), Some(url)) = (name, url) else {
        return Err(ApiError::internal("validated fields missing"));
    };

    let id = Uuid::now_v7().to_string();
    let now = state.now();
    let sealed = auth
        .flatten()
        .map(|value| state.sealer.seal(&auth_context(tenant, &id), &value));
    let mut tx = state.db.tenant(tenant).await?;
    let limit = Resource::McpServers.limit(&state.limits.effective(tenant, ctx.plan()));
    counts::take_slot(&mut tx, tenant, Resource::McpServers, limit).await?;
    let inserted = sqlx::query(
        "INSERT INTO mcp_servers (id, tenant_id, name, url, auth_sealed, enabled, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(&id)
    .bind(tenant.to_string())
    .bind(&name)
    .bind(&url)
    .bind(&sealed)
    .bind(i64::from(enabled))
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        return Err(
            if is_unique_violation(&err, "mcp_servers_name_key", "mcp_servers.name") {
                Problem::conflict(
                    "name_taken",
                    "An MCP server of this tenant already has this name.",
                )
                .into()
            } else {
                err.into()
            },
        );
    }
    let event = client
        .caller_event(&state, &ctx, "mcp.server_added")
        .target(format!("mcp:{name}"))
        .details(json!({ "server_id": id, "url": url, "has_authorization": sealed.is_some() }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;

    let row = load(&state, tenant, &id).await?;
    let row = relist(&state, &ctx, &client, row, true).await?;
    Ok((StatusCode::CREATED, server_json(&row)).into_response())
}

/// Lists the server's tools and stores them: approved when `approve`, or when unchanged
/// since the last approval; paused otherwise.
async fn relist(
    state: &AppState,
    ctx: &TenantContext,
    client: &Client,
    row: ServerRow,
    approve: bool,
) -> ApiResult<ServerRow> {
    let tenant = ctx.tenant_id();
    let now = state.now();
    let mut tx = state.db.tenant(tenant).await?;
    match mcp::list_tools(state, tenant, &row).await {
        Ok((tools, digest)) => {
            let approved = approve || row.approved_digest.as_deref() == Some(digest.as_str());
            let status = if approved { "active" } else { "paused" };
            let approved_digest = if approve {
                Some(digest.clone())
            } else {
                row.approved_digest.clone()
            };
            sqlx::query(
                "UPDATE mcp_servers SET tools = $1, tools_digest = $2, approved_digest = $3, \
                 status = $4, last_error = NULL, updated_at = $5 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(serde_json::to_string(&tools).unwrap_or_else(|_| "[]".into()))
            .bind(&digest)
            .bind(approved_digest)
            .bind(status)
            .bind(now)
            .bind(tenant.to_string())
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
            if !approved {
                let event = client
                    .caller_event(state, ctx, "mcp.tools_changed")
                    .target(format!("mcp:{}", row.name))
                    .details(json!({ "server_id": row.id, "tools_digest": digest, "approved_digest": row.approved_digest }));
                state.audit_in(&mut tx, event).await?;
            }
        }
        Err(err) => {
            let reason = err.to_string();
            tracing::info!(server = %row.name, error = %reason, "MCP server could not be listed");
            sqlx::query(
                "UPDATE mcp_servers SET status = 'error', last_error = $1, updated_at = $2 \
                 WHERE tenant_id = $3 AND id = $4",
            )
            .bind(reason.chars().take(500).collect::<String>())
            .bind(now)
            .bind(tenant.to_string())
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    let row = mcp::find(&mut tx, tenant, &row.id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(row)
}

/// `POST /api/tenant/mcp-servers/{id}/refresh`: lists the tools again; a changed list
/// pauses the server until approved.
async fn refresh(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = load(&state, ctx.tenant_id(), &id).await?;
    Ok(server_json(
        &relist(&state, &ctx, &client, row, false).await?,
    ))
}

/// `POST /api/tenant/mcp-servers/{id}/approve` `{tools_digest}`: approves the tool list
/// with this digest (the one the administrator saw), which resumes the server.
async fn approve(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let mut fields = Fields::new(body);
    let digest = fields.required_str("tools_digest");
    fields.finish()?;
    let row = load(&state, tenant, &id).await?;
    if row.tools_digest.is_none() || row.tools_digest != digest {
        return Err(Problem::conflict(
            "digest_mismatch",
            "The server's tool list is not the one approved here; refresh and review it again.",
        )
        .into());
    }
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query(
        "UPDATE mcp_servers SET approved_digest = tools_digest, status = 'active', updated_at = $1 \
         WHERE tenant_id = $2 AND id = $3",
    )
    .bind(state.now())
    .bind(tenant.to_string())
    .bind(&row.id)
    .execute(&mut *tx)
    .await?;
    let event = client
        .caller_event(&state, &ctx, "mcp.tools_approved")
        .target(format!("mcp:{}", row.name))
        .details(json!({ "server_id": row.id, "tools_digest": digest }));
    state.audit_in(&mut tx, event).await?;
    let row = mcp::find(&mut tx, tenant, &row.id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(server_json(&row))
}

/// `PUT /api/tenant/mcp-servers/{id}/tools` `{tools: {name: {enabled, roles}}}`: replaces
/// the per-tool settings; tools not named are disabled.
async fn set_tools(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let row = load(&state, tenant, &id).await?;
    let settings: BTreeMap<String, ToolSetting> = body
        .get("tools")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|err| {
            Problem::invalid_field(
                "tools",
                format!("must map tool names to {{enabled, roles}} ({err})"),
            )
        })?
        .ok_or_else(|| Problem::invalid_field("tools", "is required"))?;
    let known: Vec<String> = row.tool_list().into_iter().map(|t| t.name).collect();
    for (tool, setting) in &settings {
        if !known.contains(tool) {
            return Err(Problem::invalid_field(
                "tools",
                format!("the server has no tool named {tool}"),
            )
            .into());
        }
        if let Some(role) = setting
            .roles
            .iter()
            .find(|r| state.rbac.role(tenant, r).is_none())
        {
            return Err(Problem::invalid_field("tools", format!("unknown role: {role}")).into());
        }
    }

    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query("UPDATE mcp_servers SET tool_settings = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
        .bind(serde_json::to_string(&settings).unwrap_or_else(|_| "{}".into()))
        .bind(state.now())
        .bind(tenant.to_string())
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    let event = client
        .caller_event(&state, &ctx, "mcp.tools_configured")
        .target(format!("mcp:{}", row.name))
        .details(json!({ "server_id": row.id, "tools": settings }));
    state.audit_in(&mut tx, event).await?;
    let row = mcp::find(&mut tx, tenant, &row.id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(server_json(&row))
}

/// `PATCH /api/tenant/mcp-servers/{id}` `{name?, url?, authorization?, enabled?}`: a new
/// URL or authorization needs a fresh listing (`…/refresh`) before its tools are offered.
async fn change(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let row = load(&state, tenant, &id).await?;
    let mut fields = Fields::new(JsonObject(body.clone()));
    let name = body
        .get("name")
        .and_then(|_| fields.required("name", parse_name));
    let url = body.get("url").and_then(|_| fields.required_str("url"));
    let auth = authorization(&mut fields, &body);
    let enabled = match body.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            fields.reject("enabled", "must be true or false");
            None
        }
    };
    if let Some(url) = &url {
        check_url(&state, &mut fields, url).await;
    }
    fields.finish()?;

    let now = state.now();
    let endpoint_changed = url.is_some() || auth.is_some();
    let mut tx = state.db.tenant(tenant).await?;
    let sealed =
        auth.map(|value| value.map(|v| state.sealer.seal(&auth_context(tenant, &row.id), &v)));
    sqlx::query(
        "UPDATE mcp_servers SET name = $1, url = $2, auth_sealed = $3, enabled = $4, \
         status = $5, approved_digest = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
    )
    .bind(name.clone().unwrap_or_else(|| row.name.clone()))
    .bind(url.clone().unwrap_or_else(|| row.url.clone()))
    .bind(sealed.clone().unwrap_or_else(|| row.auth_sealed.clone()))
    .bind(i64::from(enabled.unwrap_or(row.enabled != 0)))
    .bind(if endpoint_changed {
        "pending"
    } else {
        row.status.as_str()
    })
    .bind(if url.is_some() {
        None
    } else {
        row.approved_digest.clone()
    })
    .bind(now)
    .bind(tenant.to_string())
    .bind(&row.id)
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        if is_unique_violation(&err, "mcp_servers_name_key", "mcp_servers.name") {
            Problem::conflict(
                "name_taken",
                "An MCP server of this tenant already has this name.",
            )
            .into()
        } else {
            ApiError::from(err)
        }
    })?;
    let event = client
        .caller_event(&state, &ctx, "mcp.server_changed")
        .target(format!("mcp:{}", row.name))
        .details(json!({
            "server_id": row.id, "name": name, "url": url, "enabled": enabled,
            "authorization_changed": sealed.is_some(),
        }));
    state.audit_in(&mut tx, event).await?;
    let row = mcp::find(&mut tx, tenant, &row.id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(server_json(&row))
}

/// `DELETE /api/tenant/mcp-servers/{id}`: gives its slot back.
async fn remove(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let row = load(&state, tenant, &id).await?;
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query("DELETE FROM mcp_servers WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    counts::free_slot(&mut tx, tenant, Resource::McpServers).await?;
    let event = client
        .caller_event(&state, &ctx, "mcp.server_removed")
        .target(format!("mcp:{}", row.name))
        .details(json!({ "server_id": row.id }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(json!({ "success": true, "deleted": row.id })))
}
