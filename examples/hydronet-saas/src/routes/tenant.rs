//! `/api/tenant/*`: the caller's own tenant.

use axum::Json;
use axum::extract::State;
use http::Method;
use hydronet_core::{Problem, TenantContext};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::{Access, Endpoint, endpoint};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store;

/// The tenant's own endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        "/api/tenant/info",
        Access::Requires(Permission::TenantRead),
        info,
    )]
}

/// `GET /api/tenant/info`: the caller's tenant, its plan's limits and current counts.
async fn info(State(state): State<AppState>, ctx: TenantContext) -> ApiResult<Json<Value>> {
    let tenant_id = ctx.tenant_id();
    let mut tx = state.db.tenant(tenant_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let users = store::count_users(&mut tx, tenant_id).await?;
    tx.commit().await?;

    let mut body = tenant.to_json();
    let limits = state.settings.plans.limits(tenant.plan());
    body["limits"] = serde_json::to_value(limits).unwrap_or_default();
    body["usage"] = json!({ "users": users });
    Ok(Json(json!({ "success": true, "tenant": body })))
}
