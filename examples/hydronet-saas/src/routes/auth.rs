//! `/api/auth/*`: sign-up, login, token refresh, logout, password change, and who am I.
//!
//! Register, login, refresh and password change can keep the refresh token in a cookie instead of the body
//! when the client asks with `X-HydroNet-Session: cookie`; see [`crate::cookie`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};
use hydronet_core::{Plan, Problem, SessionId, TenantContext, TenantId, UserId};
use hydronet_tenancy::audit::{Actor, Outcome};
use hydronet_tenancy::password::{Password, PasswordRejection, Verification};
use hydronet_tenancy::quota::LoginRefusal;
use hydronet_tenancy::rbac::Permission;
use hydronet_tenancy::token::token_digest;
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint};
use crate::body::{Fields, JsonObject};
use crate::cookie;
use crate::counts::{self, Resource};
use crate::domain::{Email, TenantName};
use crate::error::{ApiError, ApiResult, is_unique_violation};
use crate::state::AppState;
use crate::store::{self, TenantRow, UserRow};

/// The authentication endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{ProfileRead, ProfileWrite};
    vec![
        endpoint(Method::POST, "/api/auth/register", Access::Public, register),
        endpoint(Method::POST, "/api/auth/login", Access::Public, login),
        endpoint(Method::POST, "/api/auth/refresh", Access::Public, refresh),
        endpoint(
            Method::POST,
            "/api/auth/logout",
            Access::Requires(ProfileWrite),
            logout,
        ),
        endpoint(
            Method::PUT,
            "/api/auth/change-password",
            Access::Requires(ProfileWrite),
            change_password,
        ),
        endpoint(
            Method::GET,
            "/api/auth/me",
            Access::Requires(ProfileRead),
            me,
        ),
    ]
}

/// The built-in role of whoever signs a tenant up.
const OWNER: &str = "owner";

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "The email or password is incorrect.",
    )
}

fn invalid_refresh_token() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "The refresh token is invalid, expired or already used.",
    )
}

/// Counts a password attempt on `account`: `Some(429)` when throttled; a 503 when the
/// limiter cannot decide (login throttling fails closed).
async fn guard_attempt(
    state: &AppState,
    account: &str,
    client: &Client,
) -> ApiResult<Option<Response>> {
    match state.login_guard.check(account, client.ip).await {
        Ok(()) => Ok(None),
        Err(LoginRefusal::Throttled(wait)) => {
            tracing::debug!("login throttled");
            Ok(Some(throttled(wait)))
        }
        Err(LoginRefusal::Unavailable) => {
            Err(Problem::unavailable("Sign-in is temporarily unavailable; retry shortly.").into())
        }
    }
}

fn throttled(wait: std::time::Duration) -> Response {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many login attempts; retry later.",
    )
    .into_response();
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, secs.max(1).into());
    response
}

/// A password longer than the policy allows is a 400 before any other work (and before
/// any hashing), so huge inputs cost the server nothing.
fn refuse_long_password(state: &AppState, body: &JsonObject, field: &str) -> Result<(), Problem> {
    match body.0.get(field).and_then(Value::as_str) {
        Some(text) => state
            .policy
            .check_candidate(text)
            .map(drop)
            .map_err(password_too_long),
        None => Ok(()),
    }
}

fn password_too_long(rejection: PasswordRejection) -> Problem {
    Problem::bad_request("password_too_long", format!("The password {rejection}."))
}

/// `POST /api/auth/register` `{email, password, tenant_name}`: creates a tenant with the
/// caller as its owner and signs them in.
async fn register(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<Response> {
    refuse_long_password(&state, &body, "password")?;
    let mut fields = Fields::new(body);
    let raw_email = fields.required_str("email");
    let email = fields.required("email", Email::parse);
    let tenant_name = fields.required("tenant_name", TenantName::parse);
    let email_for_policy = raw_email.unwrap_or_default();
    let password = fields.required("password", |p| state.policy.check_new(p, &email_for_policy));
    fields.finish()?;
    let (email, tenant_name, password) = (email.unwrap(), tenant_name.unwrap(), password.unwrap());

    let hash = state.hasher.hash(&password).await?;
    let tenant_id = TenantId::new();
    let user_id = UserId::new();
    let slug = free_slug(&state, &tenant_name.slug()).await?;

    // Roles first: a user never exists without them. Were the sign-up to fail below, the
    // rules would name a user id that never comes to be.
    let roles = vec![OWNER.to_owned()];
    state
        .set_roles(tenant_id, user_id, &roles)
        .await
        .map_err(ApiError::internal)?;

    let (now, plan) = (state.now(), Plan::Free);
    let mut tx = state.db.tenant(tenant_id).await?;
    store::insert_tenant(&mut tx, tenant_id, tenant_name.as_str(), &slug, plan, now)
        .await
        .map_err(slug_conflict)?;
    let max_users = Resource::Users.limit(&state.limits.effective(tenant_id, plan));
    counts::take_slot(&mut tx, tenant_id, Resource::Users, max_users).await?;
    store::insert_user(&mut tx, tenant_id, user_id, email.as_str(), &hash, now).await?;
    let event = client
        .event(&state, tenant_id, Actor::User(user_id), "auth.registered")
        .target(format!("tenant:{tenant_id}"))
        .details(json!({ "email": email.as_str(), "tenant_name": tenant_name.as_str() }));
    state.audit_in(&mut tx, event).await?;

    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(|| ApiError::internal("new tenant vanished"))?;
    let user = store::user(&mut tx, tenant_id, user_id)
        .await?
        .ok_or_else(|| ApiError::internal("new user vanished"))?;
    let pair = state
        .start_session(&mut tx, &tenant, &user, &roles, &client.info())
        .await?;
    tx.commit().await?;

    tracing::info!(tenant_id = %tenant_id, user_id = %user_id, "tenant registered");
    let body = signed_in(&pair, &tenant, &user, &roles);
    Ok(deliver(&state, &headers, &pair, StatusCode::CREATED, body))
}

/// A slug not yet taken: the name's own, or with `-2`, `-3`, … appended.
async fn free_slug(state: &AppState, base: &str) -> ApiResult<String> {
    let mut tx = state.db.system().await?;
    for n in 1..=20 {
        let candidate = if n == 1 {
            base.to_owned()
        } else {
            format!("{base}-{n}")
        };
        if !store::slug_taken(&mut tx, &candidate).await? {
            return Ok(candidate);
        }
    }
    // Twenty tenants share the name: add randomness instead of counting further.
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[24..];
    Ok(format!("{base}-{suffix}"))
}

fn slug_conflict(err: sqlx::Error) -> ApiError {
    if is_unique_violation(&err, "tenants_slug_key", "tenants.slug") {
        // Another sign-up took the same slug a moment ago; the client may simply retry.
        return Problem::conflict(
            "tenant_slug_taken",
            "A tenant with this name was just created; retry.",
        )
        .into();
    }
    err.into()
}

/// `POST /api/auth/login` `{email, password}`.
async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<Response> {
    let mut fields = Fields::new(body);
    let email = fields.required_str("email");
    let password = fields.required_str("password");
    fields.finish()?;
    let (email, password) = (email.unwrap(), password.unwrap());

    let password = state
        .policy
        .check_candidate(&password)
        .map_err(password_too_long)?;
    let account = email.trim().to_lowercase();
    if let Some(refusal) = guard_attempt(&state, &account, &client).await? {
        return Ok(refusal);
    }

    let (tenant, user) = match verify_login(&state, &account, &password).await? {
        Login::Valid(tenant, user) => (*tenant, *user),
        Login::Invalid(known) => {
            // Recorded under the account's tenant, or the unattributed chain for unknown
            // emails; durable before the answer, like every authentication event.
            let (tenant, actor) = known.map_or(
                (TenantId::from_uuid(uuid::Uuid::nil()), Actor::System),
                |(t, u)| (t, Actor::User(u)),
            );
            let event = client
                .event(&state, tenant, actor, "auth.login_failed")
                .outcome(Outcome::Denied)
                .details(json!({ "email": account }));
            state.audit_now(event).await?;
            return Err(invalid_credentials().into());
        }
    };

    if user.status != "active" {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "This account is disabled.",
        )
        .into());
    }
    if tenant.status != "active" {
        return Err(Problem::tenant_suspended().into());
    }

    let (tenant_id, user_id) = (user.tenant(), user.user_id());
    let mut tx = state.db.tenant(tenant_id).await?;
    let roles = state.rbac.roles_of(tenant_id, user_id);
    store::touch_login(&mut tx, tenant_id, user_id, state.now()).await?;
    let event = client.event(&state, tenant_id, Actor::User(user_id), "auth.login");
    state.audit_in(&mut tx, event).await?;
    let pair = state
        .start_session(&mut tx, &tenant, &user, &roles, &client.info())
        .await?;
    tx.commit().await?;

    tracing::info!(tenant_id = %tenant_id, user_id = %user_id, "login");
    let body = signed_in(&pair, &tenant, &user, &roles);
    Ok(deliver(&state, &headers, &pair, StatusCode::OK, body))
}

/// What a password check found.
enum Login {
    /// The password is right.
    Valid(Box<TenantRow>, Box<UserRow>),
    /// It is not; the account, when one exists.
    Invalid(Option<(TenantId, UserId)>),
}

/// Checks `password` for the account behind `email`. Unknown accounts cost the same
/// hashing time as known ones, so timing tells an attacker nothing.
async fn verify_login(state: &AppState, email: &str, password: &Password) -> ApiResult<Login> {
    let mut tx = state.db.system_reader().await?;
    let user = store::user_by_email(&mut tx, email).await?;
    let tenant = match &user {
        Some(user) => store::tenant(&mut tx, user.tenant()).await?,
        None => None,
    };
    tx.commit().await?;

    let known = user.as_ref().map(|u| (u.tenant(), u.user_id()));
    let (Some(user), Some(tenant), Some(hash)) =
        (user.clone(), tenant, user.and_then(|u| u.password_hash))
    else {
        state.hasher.verify_dummy(password).await;
        return Ok(Login::Invalid(known));
    };
    match state.hasher.verify(password, &hash).await? {
        Verification::Invalid => Ok(Login::Invalid(known)),
        Verification::Valid { needs_rehash } => {
            if needs_rehash {
                rehash(state, &user, password).await?;
            }
            Ok(Login::Valid(Box::new(tenant), Box::new(user)))
        }
    }
}

async fn rehash(state: &AppState, user: &UserRow, password: &Password) -> ApiResult<()> {
    let hash = state.hasher.hash(password).await?;
    let mut tx = state.db.tenant(user.tenant()).await?;
    store::set_password_hash(&mut tx, user.tenant(), user.user_id(), &hash, state.now()).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "password rehashed with current parameters");
    Ok(())
}

/// `POST /api/auth/refresh` `{refresh_token}`: exchanges a refresh token for a new pair.
/// Each refresh token works once; presenting a spent one revokes its whole session.
///
/// With `X-HydroNet-Session: cookie` and no `refresh_token` in the body, the token comes
/// from the session cookie, and a refused one clears it.
async fn refresh(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<Response> {
    let in_body = body.0.get("refresh_token").is_some_and(|v| !v.is_null());
    if cookie::wants_cookie(&headers) && !in_body {
        let Some(token) = cookie::refresh_token(&headers) else {
            return Ok(cleared(invalid_refresh_token().into_response()));
        };
        return match exchange(&state, &client, &token).await {
            Ok(pair) => Ok(deliver(
                &state,
                &headers,
                &pair,
                StatusCode::OK,
                refreshed(&pair),
            )),
            Err(err) => Ok(cleared(err.into_response())),
        };
    }

    let mut fields = Fields::new(body);
    let token = fields.required_str("refresh_token");
    fields.finish()?;
    let pair = exchange(&state, &client, &token.unwrap()).await?;
    Ok(deliver(
        &state,
        &headers,
        &pair,
        StatusCode::OK,
        refreshed(&pair),
    ))
}

fn refreshed(pair: &crate::state::TokenPair) -> Value {
    let mut body = pair.to_json();
    body["success"] = json!(true);
    body
}

/// Spends `token` and issues the next pair of its session.
async fn exchange(
    state: &AppState,
    client: &Client,
    token: &str,
) -> ApiResult<crate::state::TokenPair> {
    if token.len() > 256 {
        return Err(invalid_refresh_token().into());
    }

    let now = state.now();
    let mut tx = state.db.system().await?;
    let Some(row) = store::refresh_token(&mut tx, &token_digest(token)).await? else {
        return Err(invalid_refresh_token().into());
    };
    let tenant_id: TenantId = row.tenant_id.parse().map_err(ApiError::internal)?;
    let session: SessionId = row.session_id.parse().map_err(ApiError::internal)?;

    let spent = row.used_at.is_some() || !store::spend_refresh_token(&mut tx, &row.id, now).await?;
    if spent {
        // Someone replayed a token: whoever holds the family now, it is compromised.
        store::revoke_session(&mut tx, tenant_id, session, now).await?;
        let user: UserId = row.user_id.parse().map_err(ApiError::internal)?;
        let event = client
            .event(state, tenant_id, Actor::User(user), "auth.refresh_reused")
            .target(format!("session:{session}"))
            .outcome(Outcome::Denied);
        state.audit_in(&mut tx, event).await?;
        tx.commit().await?;
        state.announce_revoked(&[session]).await;
        tracing::warn!(tenant_id = %tenant_id, session_id = %session, "refresh token reuse; session revoked");
        return Err(invalid_refresh_token().into());
    }
    if row.revoked_at.is_some() || row.expires_at <= now || row.session_expires_at <= now {
        return Err(invalid_refresh_token().into());
    }

    let user_id: UserId = row.user_id.parse().map_err(ApiError::internal)?;
    let user = store::user(&mut tx, tenant_id, user_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id).await?;
    let (Some(user), Some(tenant)) = (user, tenant) else {
        return Err(invalid_refresh_token().into());
    };
    if user.status != "active" || tenant.status != "active" {
        return Err(invalid_refresh_token().into());
    }
    let roles = state.rbac.roles_of(tenant_id, user_id);
    let pair = state
        .issue_pair(&mut tx, &tenant, &user, &roles, session)
        .await?;
    tx.commit().await?;
    Ok(pair)
}

/// `POST /api/auth/logout`: ends the caller's session; its tokens stop working at once,
/// and the session cookie, if any, is cleared.
async fn logout(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
) -> ApiResult<Response> {
    let Some(session) = ctx.session_id() else {
        return Err(
            Problem::bad_request("no_session", "This credential has no session to end.").into(),
        );
    };
    let mut tx = state.db.tenant(ctx.tenant_id()).await?;
    store::revoke_session(&mut tx, ctx.tenant_id(), session, state.now()).await?;
    let event = client
        .caller_event(&state, &ctx, "auth.logout")
        .target(format!("session:{session}"));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    state.announce_revoked(&[session]).await;
    let body = Json(json!({ "success": true, "message": "Logged out." }));
    Ok(cleared(body.into_response()))
}

/// `PUT /api/auth/change-password` `{old_password, new_password}`: every earlier token of
/// the user stops working; the response carries a new pair for this client (the refresh
/// token in the session cookie when asked for).
async fn change_password(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<Response> {
    let (tenant_id, user_id) = (
        ctx.tenant_id(),
        ctx.user_id().ok_or_else(Problem::forbidden)?,
    );
    let (tenant, user) = load_account(&state, tenant_id, user_id).await?;

    refuse_long_password(&state, &body, "old_password")?;
    refuse_long_password(&state, &body, "new_password")?;
    let mut fields = Fields::new(body);
    let old = fields.required("old_password", |p| state.policy.check_candidate(p));
    let new = fields.required("new_password", |p| state.policy.check_new(p, &user.email));
    fields.finish()?;
    let (old, new) = (old.unwrap(), new.unwrap());
    if old.expose() == new.expose() {
        return Err(Problem::invalid_field(
            "new_password",
            "must differ from the current password",
        )
        .into());
    }

    if let Some(refusal) = guard_attempt(&state, &user.email, &client).await? {
        return Ok(refusal);
    }
    let hash = user.password_hash.clone().unwrap_or_default();
    let verified = match hash.is_empty() {
        true => Verification::Invalid,
        false => state.hasher.verify(&old, &hash).await?,
    };
    if verified == Verification::Invalid {
        return Err(Problem::invalid_field("old_password", "is incorrect").into());
    }

    let new_hash = state.hasher.hash(&new).await?;
    let now = state.now();
    let mut tx = state.db.tenant(tenant_id).await?;
    store::set_password_hash(&mut tx, tenant_id, user_id, &new_hash, now).await?;
    let revoked = store::revoke_user_sessions(&mut tx, tenant_id, user_id, now).await?;
    let event = client
        .caller_event(&state, &ctx, "user.password_changed")
        .target(format!("user:{user_id}"))
        .details(json!({ "sessions_revoked": revoked.len() }));
    state.audit_in(&mut tx, event).await?;
    let roles = state.rbac.roles_of(tenant_id, user_id);
    let pair = state
        .start_session(&mut tx, &tenant, &user, &roles, &client.info())
        .await?;
    tx.commit().await?;
    state.announce_revoked(&revoked).await;

    tracing::info!(tenant_id = %tenant_id, user_id = %user_id, "password changed");
    let mut body = pair.to_json();
    body["success"] = json!(true);
    body["message"] = json!("Password changed; other sessions were signed out.");
    Ok(deliver(&state, &headers, &pair, StatusCode::OK, body))
}

/// `GET /api/auth/me`: the caller and their tenant.
async fn me(State(state): State<AppState>, ctx: TenantContext) -> ApiResult<Json<Value>> {
    let user_id = ctx.user_id().ok_or_else(Problem::forbidden)?;
    let (tenant, user) = load_account(&state, ctx.tenant_id(), user_id).await?;
    let roles = state.rbac.roles_of(ctx.tenant_id(), user_id);
    let mut body_permissions = state.rbac.permissions(ctx.tenant_id(), user_id).names();
    body_permissions.sort_unstable();
    Ok(Json(json!({
        "success": true,
        "user": user.to_json(&roles),
        "tenant": tenant.to_json(),
        "permissions": body_permissions,
    })))
}

/// The caller's tenant and user rows; a deleted account is a 401.
async fn load_account(
    state: &AppState,
    tenant_id: TenantId,
    user_id: UserId,
) -> ApiResult<(TenantRow, UserRow)> {
    let mut tx = state.db.tenant(tenant_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id).await?;
    let user = store::user(&mut tx, tenant_id, user_id).await?;
    tx.commit().await?;
    match (tenant, user) {
        (Some(tenant), Some(user)) => Ok((tenant, user)),
        _ => Err(Problem::unauthenticated().into()),
    }
}

fn signed_in(
    pair: &crate::state::TokenPair,
    tenant: &TenantRow,
    user: &UserRow,
    roles: &[String],
) -> Value {
    let mut body = pair.to_json();
    body["success"] = json!(true);
    body["user"] = user.to_json(roles);
    body["tenant"] = tenant.to_json();
    body
}

/// A token-issuing response as the client asked for it: `body` as it is, or with the
/// refresh token moved from the JSON into the session cookie.
fn deliver(
    state: &AppState,
    headers: &HeaderMap,
    pair: &crate::state::TokenPair,
    status: StatusCode,
    mut body: Value,
) -> Response {
    if !cookie::wants_cookie(headers) {
        return (status, Json(body)).into_response();
    }
    if let Some(object) = body.as_object_mut() {
        object.remove("refresh_token");
    }
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    cookie::set(headers, &pair.refresh_token, state.settings.refresh_ttl);
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `response` with the session cookie cleared.
fn cleared(mut response: Response) -> Response {
    cookie::clear(response.headers_mut());
    response
}
