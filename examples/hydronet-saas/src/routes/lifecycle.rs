//! `/api/admin/tenants/{id}/…`: a tenant's life, for system administrators — change its
//! plan, suspend and reactivate it, export its data, delete it.
//!
//! Suspension takes effect on the tenant's next request on every instance: the tenant
//! gate ([`crate::limits::TenantLimits`]) refuses it with 403 `tenant_suspended`, and the
//! change is announced on the policy channel. Deletion is guarded: the tenant must be
//! suspended and exported after its last change, so nothing is deleted that was not
//! handed over. Its audit log is kept (it is evidence) until `audit prune` removes it.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use hydronet_core::{Plan, Problem, TenantContext, TenantId};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint};
use crate::body::{Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, TenantRow};

/// The tenant lifecycle endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    let admin = Access::Requires(Permission::AdminManage);
    vec![
        endpoint(
            Method::PUT,
            "/api/admin/tenants/{id}/plan",
            admin,
            change_plan,
        ),
        endpoint(
            Method::POST,
            "/api/admin/tenants/{id}/suspend",
            admin,
            suspend,
        ),
        endpoint(
            Method::POST,
            "/api/admin/tenants/{id}/reactivate",
            admin,
            reactivate,
        ),
        endpoint(Method::GET, "/api/admin/tenants/{id}/export", admin, export),
        endpoint(Method::DELETE, "/api/admin/tenants/{id}", admin, delete),
    ]
}

/// What a tenant owns, children first; all of it goes on deletion but the audit log.
const OWNED_TABLES: &[&str] = &[
    "wechat_conversations",
    "wechat_deliveries",
    "wechat_accounts",
    "messages",
    "conversations",
    "api_keys",
    "mcp_servers",
    "set_password_tokens",
    "refresh_tokens",
    "sessions",
    "users",
    "usage_daily",
    "resource_counts",
    "casbin_rules",
];

/// Another tenant than the caller's own (the operator's tenant is not managed this way).
async fn other_tenant(state: &AppState, ctx: &TenantContext, id: &str) -> ApiResult<TenantRow> {
    let tenant: TenantId = id.parse().map_err(|_| Problem::not_found())?;
    let mut tx = state.db.system().await?;
    let row = store::tenant(&mut tx, tenant).await?;
    tx.commit().await?;
    let row = row
        .filter(|t| t.status != "deleted")
        .ok_or_else(Problem::not_found)?;
    if tenant == ctx.tenant_id() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "own_tenant",
            "The operator's own tenant cannot be suspended, re-planned or deleted here.",
        )
        .into());
    }
    Ok(row)
}

/// Stores `tenant`'s plan and status, audits `action`, and tells every instance.
async fn set_status(
    state: &AppState,
    ctx: &TenantContext,
    client: &Client,
    tenant: &TenantRow,
    plan: Plan,
    status: &str,
    action: &str,
) -> ApiResult<Json<Value>> {
    let id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;
    let mut tx = state.db.system().await?;
    sqlx::query("UPDATE tenants SET plan = $1, status = $2, updated_at = $3 WHERE id = $4")
        .bind(plan.as_str())
        .bind(status)
        .bind(state.now())
        .bind(&tenant.id)
        .execute(&mut *tx)
        .await?;
    let event = client
        .caller_event(state, ctx, action)
        .target(format!("tenant:{id}"))
        .details(json!({
            "from": { "plan": tenant.plan, "status": tenant.status },
            "to": { "plan": plan.as_str(), "status": status },
        }));
    state.audit_in(&mut tx, event).await?;
    let row = store::tenant(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    state.limits.set_status(id, plan, status == "suspended");
    state.announce_policy_change(id).await;
    Ok(Json(json!({ "success": true, "tenant": row.to_json() })))
}

/// `PUT /api/admin/tenants/{id}/plan` `{plan}`: the new plan's limits apply on the
/// tenant's next request, even to credentials issued before.
async fn change_plan(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut fields = Fields::new(body);
    let plan = fields.required("plan", str::parse::<Plan>);
    fields.finish()?;
    let plan = plan.ok_or_else(|| ApiError::internal("validated fields missing"))?;
    let tenant = other_tenant(&state, &ctx, &id).await?;
    let status = tenant.status.clone();
    set_status(
        &state,
        &ctx,
        &client,
        &tenant,
        plan,
        &status,
        "tenant.plan_changed",
    )
    .await
}

/// `POST /api/admin/tenants/{id}/suspend`: every request of the tenant gets 403
/// `tenant_suspended` from now on, and nobody of it can log in.
async fn suspend(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = other_tenant(&state, &ctx, &id).await?;
    let plan = tenant.plan();
    set_status(
        &state,
        &ctx,
        &client,
        &tenant,
        plan,
        "suspended",
        "tenant.suspended",
    )
    .await
}

/// `POST /api/admin/tenants/{id}/reactivate`.
async fn reactivate(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = other_tenant(&state, &ctx, &id).await?;
    let plan = tenant.plan();
    set_status(
        &state,
        &ctx,
        &client,
        &tenant,
        plan,
        "active",
        "tenant.reactivated",
    )
    .await
}

/// `GET /api/admin/tenants/{id}/export`: the tenant's data as JSON Lines
/// (`application/x-ndjson`), each line `{"table", "row"}`. An export of a suspended
/// tenant allows its deletion.
async fn export(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = other_tenant(&state, &ctx, &id).await?;
    let tenant_id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;
    let now = state.now();
    let mut body = String::new();
    let mut tx = state.db.system().await?;
    let counts = crate::export::tenant_jsonl(&mut tx, tenant_id, &mut body).await?;
    sqlx::query("UPDATE tenants SET exported_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&tenant.id)
        .execute(&mut *tx)
        .await?;
    let event = client
        .caller_event(&state, &ctx, "tenant.exported")
        .target(format!("tenant:{tenant_id}"))
        .details(json!({ "rows": counts }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;

    let disposition = format!("attachment; filename=\"tenant-{}.jsonl\"", tenant.slug);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `DELETE /api/admin/tenants/{id}`: removes everything the tenant owns but its audit
/// log, leaving a tombstone with status `deleted`. Refused with 409 unless it is
/// suspended and was exported after its last change.
async fn delete(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = other_tenant(&state, &ctx, &id).await?;
    let tenant_id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;
    if tenant.status != "suspended" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "tenant_not_suspended",
            "Suspend the tenant before deleting it.",
        )
        .into());
    }

    let mut tx = state.db.system().await?;
    let (exported_at, updated_at): (Option<i64>, i64) =
        sqlx::query_as("SELECT exported_at, updated_at FROM tenants WHERE id = $1")
            .bind(&tenant.id)
            .fetch_one(&mut *tx)
            .await?;
    if exported_at.is_none_or(|at| at < updated_at) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "export_required",
            "Export the tenant's data (GET …/export) after its last change, then delete it.",
        )
        .into());
    }
    for table in OWNED_TABLES {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await?;
    }
    // A tombstone stays, so credentials issued before are refused everywhere, even
    // after a restart, and the slug is free again.
    sqlx::query(
        "UPDATE tenants SET status = 'deleted', slug = $1, name = $2, limits = NULL, \
         system_prompt = NULL, default_model = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(format!("deleted-{}", tenant.id))
    .bind(format!("deleted tenant {}", tenant.id))
    .bind(state.now())
    .bind(&tenant.id)
    .execute(&mut *tx)
    .await?;
    let event = client
        .caller_event(&state, &ctx, "tenant.deleted")
        .target(format!("tenant:{tenant_id}"))
        .details(json!({ "name": tenant.name, "slug": tenant.slug }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;

    state.limits.set_status(tenant_id, tenant.plan(), true);
    if let Err(err) = state.rbac.reload().await {
        tracing::error!(error = %err, "could not reload policies after deleting a tenant");
    }
    state.announce_policy_change(tenant_id).await;
    Ok(Json(json!({ "success": true, "deleted": tenant.id })))
}
