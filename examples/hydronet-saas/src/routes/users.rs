//! `/api/tenant/users`: the users of the caller's tenant — list, create (with a password,
//! or invited with a one-time set-password token), disable, re-enable, delete.
//!
//! Disabling or deleting a user stops their tokens at once. Only an owner acts on an
//! owner; nobody disables or deletes themselves; creating a user takes a slot of the
//! plan's user count.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use hydronet_core::{Problem, TenantContext, TenantId, UserId};
use hydronet_tenancy::rbac::Permission;
use hydronet_tenancy::token::{OpaqueToken, token_digest};
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint, page_limit, search_pattern};
use crate::body::{Fields, JsonObject};
use crate::counts::{self, Resource};
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, UserRow};

/// The user endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{UsersManage, UsersRead};
    vec![
        endpoint(
            Method::GET,
            "/api/tenant/users",
            Access::Requires(UsersRead),
            list,
        ),
        endpoint(
            Method::POST,
            "/api/tenant/users",
            Access::Requires(UsersManage),
            create,
        ),
        endpoint(
            Method::POST,
            "/api/tenant/users/{id}/disable",
            Access::Requires(UsersManage),
            disable,
        ),
        endpoint(
            Method::POST,
            "/api/tenant/users/{id}/enable",
            Access::Requires(UsersManage),
            enable,
        ),
        endpoint(
            Method::DELETE,
            "/api/tenant/users/{id}",
            Access::Requires(UsersManage),
            delete,
        ),
        endpoint(
            Method::POST,
            "/api/auth/set-password",
            Access::Public,
            set_password,
        ),
    ]
}

const OWNER: &str = "owner";
/// How long an invitation's set-password token works.
const INVITATION_SECS: i64 = 7 * 24 * 3600;

fn user_json(state: &AppState, user: &UserRow) -> Value {
    user.to_json(&state.rbac.roles_of(user.tenant(), user.user_id()))
}

/// `GET /api/tenant/users?search=&cursor=&limit=`.
async fn list(
    State(state): State<AppState>,
    ctx: TenantContext,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let limit = page_limit(&query, 50, 200)?;
    let pattern = search_pattern(&query);
    let cursor = query.get("cursor").cloned().unwrap_or_default();

    let mut tx = state.db.tenant(tenant).await?;
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, tenant_id, email, password_hash, status, created_at, last_login_at FROM users \
         WHERE tenant_id = $1 AND status <> 'service' AND email LIKE $2 ESCAPE '\\' \
         AND ($3 = '' OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(tenant.to_string())
    .bind(pattern)
    .bind(&cursor)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|u| u.id.clone()))
        .flatten();
    let users: Vec<Value> = rows.iter().map(|u| user_json(&state, u)).collect();
    Ok(Json(
        json!({ "success": true, "users": users, "next_cursor": next }),
    ))
}

/// `POST /api/tenant/users` `{email, role, password?}`.
async fn create(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    body: JsonObject,
) -> ApiResult<Response> {
    let tenant = ctx.tenant_id();
    let actor = ctx.user_id().ok_or_else(Problem::forbidden)?;
    let mut fields = Fields::new(body);
    let raw_email = fields.required_str("email").unwrap_or_default();
    let email = fields.required("email", Email::parse);
    let role = fields.required_str("role");
    let password = match fields.optional_str("password") {
        Some(p) => match state.policy.check_new(&p, &raw_email) {
            Ok(password) => Some(password),
            Err(reason) => {
                fields.reject("password", reason.to_string());
                None
            }
        },
        None => None,
    };
    if let Some(role) = &role
        && state.rbac.role(tenant, role).is_none()
    {
        fields.reject("role", format!("unknown role: {role}"));
    }
    fields.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::internal("validated fields missing"));
    };

    // Nobody grants what they do not hold, and only owners make owners.
    let held = state.rbac.permissions(tenant, actor);
    let granted = state.rbac.role(tenant, &role).unwrap_or_default();
    let actor_is_owner = state
        .rbac
        .roles_of(tenant, actor)
        .iter()
        .any(|r| r == OWNER);
    if !granted.is_subset(held) || (role == OWNER && !actor_is_owner) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "privilege_escalation",
            "You cannot give a role with permissions you do not hold.",
        )
        .into());
    }

    let hash = match &password {
        Some(password) => Some(state.hasher.hash(password).await?),
        None => None,
    };
    let user = UserId::new();
    let now = state.now();
    state
        .set_roles(tenant, user, std::slice::from_ref(&role))
        .await
        .map_err(ApiError::internal)?;

    let mut tx = state.db.tenant(tenant).await?;
    let max_users = Resource::Users.limit(&state.limits.effective(tenant, ctx.plan()));
    counts::take_slot(&mut tx, tenant, Resource::Users, max_users).await?;
    insert(&mut tx, tenant, user, email.as_str(), hash.as_deref(), now).await?;
    let invitation = match hash {
        Some(_) => None,
        None => Some(invite(&mut tx, tenant, user, now).await?),
    };
    let event = client
        .caller_event(&state, &ctx, "user.created")
        .target(format!("user:{user}"))
        .details(json!({ "email": email.as_str(), "role": role, "invited": invitation.is_some() }));
    state.audit_in(&mut tx, event).await?;
    let row = store::user(&mut tx, tenant, user)
        .await?
        .ok_or_else(|| ApiError::internal("new user vanished"))?;
    tx.commit().await?;

    let mut body = json!({ "success": true, "user": user_json(&state, &row) });
    if let Some((token, expires_at)) = invitation {
        body["set_password_token"] = json!(token);
        body["set_password_expires_at"] = json!(store::rfc3339(expires_at));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn insert(
    tx: &mut crate::db::Tx,
    tenant: TenantId,
    user: UserId,
    email: &str,
    hash: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let status = if hash.is_some() { "active" } else { "invited" };
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, password_hash, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(user.to_string())
    .bind(tenant.to_string())
    .bind(email)
    .bind(hash)
    .bind(status)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates a one-time set-password token; returns it (shown once) and its expiry.
async fn invite(
    tx: &mut crate::db::Tx,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> Result<(String, i64), sqlx::Error> {
    let token = OpaqueToken::generate("hns_");
    let expires_at = now + INVITATION_SECS;
    sqlx::query("INSERT INTO set_password_tokens (token_digest, tenant_id, user_id, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token.digest())
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok((token.into_secret(), expires_at))
}

/// The target user of `tenant`, and whether the caller may act on them.
async fn target(state: &AppState, ctx: &TenantContext, id: &str) -> ApiResult<UserRow> {
    let tenant = ctx.tenant_id();
    let actor = ctx.user_id().ok_or_else(Problem::forbidden)?;
    let user: UserId = id.parse().map_err(|_| Problem::not_found())?;
    let mut tx = state.db.tenant(tenant).await?;
    let row = store::user(&mut tx, tenant, user)
        .await?
        .filter(|row| row.status != crate::wechat::store::SERVICE_STATUS)
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;

    if user == actor {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "cannot_act_on_self",
            "You cannot disable or delete yourself.",
        )
        .into());
    }
    let target_is_owner = state.rbac.roles_of(tenant, user).iter().any(|r| r == OWNER);
    let actor_is_owner = state
        .rbac
        .roles_of(tenant, actor)
        .iter()
        .any(|r| r == OWNER);
    if target_is_owner && !actor_is_owner {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            "Only an owner can disable or delete an owner.",
        )
        .into());
    }
    Ok(row)
}

async fn set_status(
    state: AppState,
    ctx: TenantContext,
    client: Client,
    id: String,
    status: &str,
    action: &str,
) -> ApiResult<Json<Value>> {
    let row = target(&state, &ctx, &id).await?;
    let (tenant, user) = (row.tenant(), row.user_id());
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
        .bind(status)
        .bind(state.now())
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    let revoked = if status == "disabled" {
        store::revoke_user_sessions(&mut tx, tenant, user, state.now()).await?
    } else {
        Vec::new()
    };
    let event = client
        .caller_event(&state, &ctx, action)
        .target(format!("user:{user}"));
    state.audit_in(&mut tx, event).await?;
    let row = store::user(&mut tx, tenant, user)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    state.announce_revoked(&revoked).await;
    Ok(Json(
        json!({ "success": true, "user": user_json(&state, &row) }),
    ))
}

/// `POST /api/tenant/users/{id}/disable`: their tokens stop working at once.
async fn disable(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_status(state, ctx, client, id, "disabled", "user.disabled").await
}

/// `POST /api/tenant/users/{id}/enable`.
async fn enable(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_status(state, ctx, client, id, "active", "user.enabled").await
}

/// `DELETE /api/tenant/users/{id}`.
async fn delete(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = target(&state, &ctx, &id).await?;
    let (tenant, user) = (row.tenant(), row.user_id());
    let now = state.now();
    let mut tx = state.db.tenant(tenant).await?;
    let revoked = store::revoke_user_sessions(&mut tx, tenant, user, now).await?;
    sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    counts::free_slot(&mut tx, tenant, Resource::Users).await?;
    let event = client
        .caller_event(&state, &ctx, "user.deleted")
        .target(format!("user:{user}"))
        .details(json!({ "email": row.email }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    state.announce_revoked(&revoked).await;
    state
        .set_roles(tenant, user, &[])
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "success": true })))
}

/// `POST /api/auth/set-password` `{token, password}`: an invited user's first password.
async fn set_password(
    State(state): State<AppState>,
    client: Client,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let invalid = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "The set-password token is invalid or expired.",
        )
    };
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let raw = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if token.is_empty() || token.len() > 256 {
        return Err(invalid().into());
    }

    let mut tx = state.db.system().await?;
    let found: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT tenant_id, user_id, expires_at FROM set_password_tokens WHERE token_digest = $1",
    )
    .bind(token_digest(&token))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some((tenant, user, expires_at)) = found else {
        return Err(invalid().into());
    };
    if expires_at <= state.now() {
        return Err(invalid().into());
    }
    let tenant: TenantId = tenant.parse().map_err(ApiError::internal)?;
    let user: UserId = user.parse().map_err(ApiError::internal)?;

    let mut tx = state.db.tenant(tenant).await?;
    let row = store::user(&mut tx, tenant, user)
        .await?
        .ok_or_else(invalid)?;
    tx.commit().await?;
    let password = state
        .policy
        .check_new(&raw, &row.email)
        .map_err(|reason| Problem::invalid_field("password", reason.to_string()))?;
    let hash = state.hasher.hash(&password).await?;

    let mut tx = state.db.tenant(tenant).await?;
    let spent = sqlx::query("DELETE FROM set_password_tokens WHERE token_digest = $1")
        .bind(token_digest(&token))
        .execute(&mut *tx)
        .await?;
    if spent.rows_affected() != 1 {
        return Err(invalid().into());
    }
    sqlx::query("UPDATE users SET password_hash = $1, status = 'active', updated_at = $2 WHERE tenant_id = $3 AND id = $4 AND status = 'invited'")
        .bind(&hash)
        .bind(state.now())
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    let event = client
        .event(
            &state,
            tenant,
            hydronet_tenancy::audit::Actor::User(user),
            "user.password_set",
        )
        .target(format!("user:{user}"));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "success": true, "message": "Password set; you can sign in now." }),
    ))
}
