//! `/api/admin/*`: service-wide administration, for system administrators.

use axum::Json;
use axum::extract::{Path, State};
use http::Method;
use hydronet_core::{Problem, TenantContext, TenantId};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint};
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
        endpoint(Method::GET, path, admin, get_limits),
        endpoint(Method::PUT, path, admin, put_limits),
    ]
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
