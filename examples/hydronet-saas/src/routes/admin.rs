//! `/api/admin/*`: service-wide administration, for system administrators.

use axum::Json;
use axum::extract::{Path, Query, State};
use http::Method;
use hydronet_core::{Problem, TenantContext, TenantId};
use hydronet_tenancy::quota::TokenBudget;
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint, page_limit, search_pattern};
use crate::body::JsonObject;
use crate::error::{ApiError, ApiResult};
use crate::limits::LimitOverrides;
use crate::state::AppState;
use crate::store::{self, TenantRow};

/// The admin endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    let path = "/api/admin/tenants/{id}/limits";
    let admin = Access::Requires(Permission::AdminManage);
    vec![
        endpoint(Method::GET, "/api/admin/tenants", admin, list_tenants),
        endpoint(
            Method::GET,
            "/api/admin/tenants/{id}",
            admin,
            tenant_details,
        ),
        endpoint(Method::GET, path, admin, get_limits),
        endpoint(Method::PUT, path, admin, put_limits),
    ]
}

/// `GET /api/admin/tenants?search=&cursor=&limit=`: every tenant, by id; `search` matches
/// the name or slug.
async fn list_tenants(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(&query, 50, 200)?;
    let pattern = search_pattern(&query);
    let cursor = query.get("cursor").cloned().unwrap_or_default();

    let mut tx = state.db.system().await?;
    let rows: Vec<TenantRow> = sqlx::query_as(
        "SELECT id, name, slug, plan, status, created_at, system_prompt, default_model FROM tenants \
         WHERE (LOWER(name) LIKE $1 ESCAPE '\\' OR slug LIKE $1 ESCAPE '\\') AND ($2 = '' OR id > $2) \
         ORDER BY id LIMIT $3",
    )
    .bind(pattern)
    .bind(&cursor)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|t| t.id.clone()))
        .flatten();
    let tenants: Vec<Value> = rows.iter().map(TenantRow::to_json).collect();
    Ok(Json(
        json!({ "success": true, "tenants": tenants, "next_cursor": next }),
    ))
}

/// `GET /api/admin/tenants/{id}`: one tenant with its counts, usage and limits.
async fn tenant_details(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = find_tenant(&state, &id).await?;
    let tenant_id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;
    let mut tx = state.db.system().await?;
    let users = store::count_users(&mut tx, tenant_id).await?;
    let (conversations,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM conversations WHERE tenant_id = $1")
            .bind(&tenant.id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    let budget = state.budget.usage(tenant_id).await.map_err(|err| {
        tracing::error!(error = %err, "token budget unavailable");
        Problem::unavailable("Usage is temporarily unavailable; retry shortly.")
    })?;

    let mut body = tenant.to_json();
    body["counts"] = json!({ "users": users, "conversations": conversations });
    body["tokens"] = json!({ "today": budget.day, "this_month": budget.month });
    body["limits"] = json!(state.limits.effective(tenant_id, tenant.plan()));
    body["overrides"] = json!(state.limits.overrides(tenant_id));
    Ok(Json(json!({ "success": true, "tenant": body })))
}

/// Any tenant by path id (the system administrator works across tenants).
async fn find_tenant(state: &AppState, id: &str) -> ApiResult<TenantRow> {
    let tenant: TenantId = id.parse().map_err(|_| Problem::not_found())?;
    let mut tx = state.db.system().await?;
    let row = store::tenant(&mut tx, tenant).await?;
    tx.commit().await?;
    row.ok_or_else(|| Problem::not_found().into())
}

fn limits_json(state: &AppState, tenant: &TenantRow) -> Value {
    let id: TenantId = tenant.id.parse().unwrap_or_default();
    json!({
        "success": true,
        "tenant_id": tenant.id,
        "plan": tenant.plan,
        "overrides": state.limits.overrides(id),
        "limits": state.limits.effective(id, tenant.plan()),
    })
}

/// `GET /api/admin/tenants/{id}/limits`: the tenant's overrides and effective limits.
async fn get_limits(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = find_tenant(&state, &id).await?;
    Ok(Json(limits_json(&state, &tenant)))
}

/// `PUT /api/admin/tenants/{id}/limits` `{requests_per_minute?, …}`: replaces the tenant's
/// overrides; `{}` returns it to its plan's limits.
async fn put_limits(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant = find_tenant(&state, &id).await?;
    let overrides: LimitOverrides = serde_json::from_value(Value::Object(body)).map_err(|err| {
        Problem::invalid_field(
            "limits",
            format!("must be limit names with whole numbers ({err})"),
        )
    })?;
    let tenant_id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;

    let stored =
        (!overrides.is_empty()).then(|| serde_json::to_string(&overrides).unwrap_or_default());
    let mut tx = state.db.system().await?;
    sqlx::query("UPDATE tenants SET limits = $1, updated_at = $2 WHERE id = $3")
        .bind(stored)
        .bind(state.now())
        .bind(&tenant.id)
        .execute(&mut *tx)
        .await?;
    let event = client
        .caller_event(&state, &ctx, "tenant.limits_changed")
        .target(format!("tenant:{tenant_id}"))
        .details(json!({ "overrides": overrides }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    state.limits.set(tenant_id, overrides);
    state.announce_policy_change(tenant_id).await;
    Ok(Json(limits_json(&state, &tenant)))
}
