//! `/api/tenant/api-keys`: keys for programmatic access — create (the secret is shown
//! once), list with last use, revoke (it stops working on the next request).
//!
//! A key acts for its creator, within scopes that must be a subset of what the creator
//! may do when the key is made; the creator losing a permission later takes it from the
//! key too (see [`crate::api_keys`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use hydronet_core::{ApiKeyId, Problem, TenantContext};
use hydronet_tenancy::auth::generate_api_key;
use hydronet_tenancy::rbac::{Permission, PermissionSet};
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint, page_limit};
use crate::api_keys::{self, ApiKeyRow, KEY_COLUMNS};
use crate::body::{Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The API key endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    let manage = Access::Requires(Permission::ApiKeysManage);
    vec![
        endpoint(Method::GET, "/api/tenant/api-keys", manage, list),
        endpoint(Method::POST, "/api/tenant/api-keys", manage, create),
        endpoint(Method::DELETE, "/api/tenant/api-keys/{id}", manage, revoke),
    ]
}

/// The longest a key may live, in days.
const MAX_EXPIRY_DAYS: i64 = 3650;
/// The longest name.
const MAX_NAME_CHARS: usize = 100;

/// What the caller may do: their roles' permissions, narrowed by their own key's scope
/// when they call with a key.
fn caller_permissions(state: &AppState, ctx: &TenantContext) -> PermissionSet {
    let Some(user) = ctx.user_id() else {
        return PermissionSet::EMPTY;
    };
    let held = state.rbac.permissions(ctx.tenant_id(), user);
    match ctx.scope() {
        Some(scope) => PermissionSet::from_iter(
            PermissionSet::from(scope)
                .iter()
                .filter(|p| held.contains(*p)),
        ),
        None => held,
    }
}

/// `POST /api/tenant/api-keys` `{name, scopes: [permission…], expires_in_days?}`.
async fn create(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    body: JsonObject,
) -> ApiResult<Response> {
    let tenant = ctx.tenant_id();
    let user = ctx.user_id().ok_or_else(Problem::forbidden)?;
    let mut fields = Fields::new(body);
    let name = fields.required("name", |s| {
        let name = s.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            Err(format!("must be 1 to {MAX_NAME_CHARS} characters"))
        } else {
            Ok(name.to_owned())
        }
    });
    let names = fields.required_strings("scopes");
    let expires_in_days = fields.optional_int("expires_in_days", 1, MAX_EXPIRY_DAYS);
    let mut scope = PermissionSet::EMPTY;
    for name in names.iter().flatten() {
        match name.parse::<Permission>() {
            Ok(permission) => scope.insert(permission),
            Err(_) => fields.reject("scopes", format!("unknown permission: {name}")),
        }
    }
    if names.as_ref().is_some_and(Vec::is_empty) {
        fields.reject("scopes", "must name at least one permission");
    }
    fields.finish()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validated fields missing"));
    };

    if !scope.is_subset(caller_permissions(&state, &ctx)) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "privilege_escalation",
            "A key's scopes must be permissions you hold.",
        )
        .into());
    }

    let now = state.now();
    let key = generate_api_key();
    let id = ApiKeyId::new();
    let expires_at = expires_in_days.map(|days| now + days * 86_400);
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_digest, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(&name)
    .bind(&key.display_prefix)
    .bind(&key.digest)
    .bind(api_keys::format_scopes(scope))
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let event = client
        .caller_event(&state, &ctx, "api_key.created")
        .target(format!("api_key:{id}"))
        .details(json!({ "name": name, "prefix": key.display_prefix, "scopes": scope.names() }));
    state.audit_in(&mut tx, event).await?;
    let row = api_keys::find(&mut tx, tenant, &id.to_string())
        .await?
        .ok_or_else(|| ApiError::internal("new key vanished"))?;
    tx.commit().await?;

    let body = json!({
        "success": true,
        "api_key": row.to_json(now),
        "key": key.secret,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/tenant/api-keys?cursor=&limit=`: every key of the tenant, newest id last.
async fn list(
    State(state): State<AppState>,
    ctx: TenantContext,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let limit = page_limit(&query, 50, 200)?;
    let cursor = query.get("cursor").cloned().unwrap_or_default();
    let mut tx = state.db.tenant(tenant).await?;
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND ($2 = '' OR id > $2) \
         ORDER BY id LIMIT $3"
    );
    let rows: Vec<ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(&cursor)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;

    let now = state.now();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|k| k.id.clone()))
        .flatten();
    let keys: Vec<Value> = rows.iter().map(|k| k.to_json(now)).collect();
    Ok(Json(
        json!({ "success": true, "api_keys": keys, "next_cursor": next }),
    ))
}

/// `DELETE /api/tenant/api-keys/{id}`: the key stops working on the next request.
async fn revoke(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let id: ApiKeyId = id.parse().map_err(|_| Problem::not_found())?;
    let now = state.now();
    let mut tx = state.db.tenant(tenant).await?;
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 \
         WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let row = api_keys::find(&mut tx, tenant, &id.to_string())
        .await?
        .ok_or_else(Problem::not_found)?;
    if revoked > 0 {
        let event = client
            .caller_event(&state, &ctx, "api_key.revoked")
            .target(format!("api_key:{id}"))
            .details(json!({ "name": row.name, "prefix": row.prefix }));
        state.audit_in(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(Json(
        json!({ "success": true, "api_key": row.to_json(now) }),
    ))
}
