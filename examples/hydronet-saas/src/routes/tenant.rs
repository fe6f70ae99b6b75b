//! `/api/tenant/*`: the caller's own tenant.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hydronet_core::{Problem, TenantContext};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::state::AppState;
use crate::store;

/// Routes that need an authenticated caller.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/tenant/info", get(info))
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
    body["limits"] = serde_json::to_value(tenant.plan().limits()).unwrap_or_default();
    body["usage"] = json!({ "users": users });
    Ok(Json(json!({ "success": true, "tenant": body })))
}
