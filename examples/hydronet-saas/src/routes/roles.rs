//! Roles of the caller's tenant: `/api/tenant/roles` and `/api/tenant/users/{id}/roles`.
//!
//! Changes are guarded against escalation: nobody grants (or takes away) a permission they
//! do not hold; only an owner makes or unmakes an owner; the last owner stays an owner; and
//! nobody changes their own roles. Every change, and every refused attempt, is audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use hydronet_core::{Problem, TenantContext, TenantId, UserId};
use hydronet_tenancy::audit::{AuditEvent, Outcome};
use hydronet_tenancy::rbac::{Permission, PermissionSet, builtin_role};
use serde_json::{Value, json};

use super::{Access, Client, Endpoint, endpoint};
use crate::body::{Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;

/// The role endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{RolesManage, RolesRead, UsersManage};
    let role = "/api/tenant/roles/{name}";
    vec![
        endpoint(
            Method::GET,
            "/api/tenant/roles",
            Access::Requires(RolesRead),
            list,
        ),
        endpoint(Method::POST, role, Access::Requires(RolesManage), create),
        endpoint(Method::PUT, role, Access::Requires(RolesManage), update),
        endpoint(Method::DELETE, role, Access::Requires(RolesManage), delete),
        endpoint(
            Method::PUT,
            "/api/tenant/users/{id}/roles",
            Access::Requires(UsersManage),
            assign,
        ),
    ]
}

const OWNER: &str = "owner";

/// The caller as a user; API keys do not manage roles.
fn caller(ctx: &TenantContext) -> Result<(TenantId, UserId), Problem> {
    let user = ctx.user_id().ok_or_else(Problem::forbidden)?;
    Ok((ctx.tenant_id(), user))
}

fn role_json(name: &str, builtin: bool, permissions: PermissionSet) -> Value {
    json!({
        "name": name,
        "builtin": builtin,
        "description": builtin_role(name).map(|r| r.description),
        "permissions": permissions.names(),
    })
}

/// `GET /api/tenant/roles`: built-in and custom roles with their permissions.
async fn list(State(state): State<AppState>, ctx: TenantContext) -> ApiResult<Json<Value>> {
    let roles: Vec<Value> = state
        .rbac
        .tenant_roles(ctx.tenant_id())
        .iter()
        .map(|role| role_json(&role.name, role.builtin, role.permissions))
        .collect();
    let vocabulary: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    Ok(Json(json!({
        "success": true,
        "roles": roles,
        "available_permissions": vocabulary,
    })))
}

/// A valid custom role name: 2 to 32 of `a-z 0-9 _ -`, starting with a letter.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    (2..=32).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The `permissions` field: known names, at least one.
fn read_permissions(body: JsonObject) -> Result<PermissionSet, Problem> {
    let mut fields = Fields::new(body);
    let names = fields.required_strings("permissions");
    let mut set = PermissionSet::EMPTY;
    for name in names.iter().flatten() {
        match name.parse::<Permission>() {
            Ok(permission) => set.insert(permission),
            Err(_) => fields.reject("permissions", format!("unknown permission: {name}")),
        }
    }
    if names.is_some() && set.is_empty() {
        fields.reject("permissions", "must name at least one permission");
    }
    fields.finish()?;
    Ok(set)
}

/// Audit context of a role change. A change is recorded before it is made: one that
/// cannot be recorded is not made (503 `audit_unavailable`).
struct Change<'a> {
    state: &'a AppState,
    ctx: &'a TenantContext,
    client: Client,
}

impl<'a> Change<'a> {
    fn new(state: &'a AppState, ctx: &'a TenantContext, client: Client) -> Self {
        Self { state, ctx, client }
    }

    fn event(&self, action: &str, target: String, outcome: Outcome, details: Value) -> AuditEvent {
        self.client
            .caller_event(self.state, self.ctx, action)
            .target(target)
            .outcome(outcome)
            .details(details)
    }

    /// Records a refused attempt and returns the refusal.
    async fn deny(&self, action: &str, target: String, problem: Problem) -> ApiError {
        let details = json!({ "reason": problem.code() });
        let event = self.event(action, target, Outcome::Denied, details);
        if let Err(err) = self.state.audit_now(event).await {
            tracing::error!(error = %err, "a refused role change could not be audited");
        }
        problem.into()
    }

    /// Records a change about to be made.
    async fn record(&self, action: &str, target: String, details: Value) -> ApiResult<()> {
        let event = self.event(action, target, Outcome::Success, details);
        self.state.audit_now(event).await
    }

    /// Tells the other instances that the tenant's policies changed.
    async fn announce(&self) {
        self.state
            .announce_policy_change(self.ctx.tenant_id())
            .await;
    }
}

fn escalation() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "privilege_escalation",
        "You cannot grant or withdraw permissions you do not hold yourself.",
    )
}

/// `POST /api/tenant/roles/{name}` `{permissions}`: creates a custom role.
async fn create(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(name): Path<String>,
    body: JsonObject,
) -> ApiResult<Response> {
    let (tenant, user) = caller(&ctx)?;
    if !valid_name(&name) {
        return Err(Problem::invalid_field(
            "name",
            "must be 2 to 32 characters of a-z, 0-9, _ and -, starting with a letter",
        )
        .into());
    }
    let permissions = read_permissions(body)?;
    let change = Change::new(&state, &ctx, client);
    let target = format!("role:{name}");

    if state.rbac.role(tenant, &name).is_some() {
        return Err(Problem::conflict("role_exists", "A role with this name exists.").into());
    }
    if !permissions.is_subset(state.rbac.permissions(tenant, user)) {
        return Err(change.deny("role.created", target, escalation()).await);
    }

    let details = json!({ "permissions": permissions.names() });
    change.record("role.created", target, details).await?;
    state
        .rbac
        .put_custom_role(tenant, &name, permissions)
        .await
        .map_err(ApiError::internal)?;
    change.announce().await;
    let body = json!({ "success": true, "role": role_json(&name, false, permissions) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The custom role `name` of `tenant`, or why it cannot be changed.
fn custom_role(state: &AppState, tenant: TenantId, name: &str) -> Result<PermissionSet, Problem> {
    if builtin_role(name).is_some() {
        return Err(Problem::conflict(
            "builtin_role",
            "Built-in roles cannot be changed or deleted.",
        ));
    }
    state.rbac.role(tenant, name).ok_or_else(Problem::not_found)
}

/// `PUT /api/tenant/roles/{name}` `{permissions}`: replaces a custom role's permissions.
async fn update(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(name): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (tenant, user) = caller(&ctx)?;
    let permissions = read_permissions(body)?;
    let before = custom_role(&state, tenant, &name)?;
    let change = Change::new(&state, &ctx, client);
    let target = format!("role:{name}");

    let held = state.rbac.permissions(tenant, user);
    if !permissions.is_subset(held) || !before.is_subset(held) {
        return Err(change.deny("role.updated", target, escalation()).await);
    }

    let details = json!({ "before": before.names(), "after": permissions.names() });
    change.record("role.updated", target, details).await?;
    state
        .rbac
        .put_custom_role(tenant, &name, permissions)
        .await
        .map_err(ApiError::internal)?;
    change.announce().await;
    Ok(Json(
        json!({ "success": true, "role": role_json(&name, false, permissions) }),
    ))
}

/// `DELETE /api/tenant/roles/{name}`: deletes an unused custom role.
async fn delete(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (tenant, _) = caller(&ctx)?;
    let before = custom_role(&state, tenant, &name)?;
    if !state.rbac.holders(tenant, &name).is_empty() {
        return Err(Problem::conflict(
            "role_in_use",
            "Users still hold this role; reassign them first.",
        )
        .into());
    }

    let change = Change::new(&state, &ctx, client);
    let details = json!({ "permissions": before.names() });
    change
        .record("role.deleted", format!("role:{name}"), details)
        .await?;
    state
        .rbac
        .delete_custom_role(tenant, &name)
        .await
        .map_err(ApiError::internal)?;
    change.announce().await;
    Ok(Json(json!({ "success": true })))
}

/// `PUT /api/tenant/users/{id}/roles` `{roles}`: gives a user exactly these roles.
async fn assign(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (tenant, actor) = caller(&ctx)?;
    let target_user = find_user(&state, tenant, &id).await?;
    let wanted = read_roles(&state, tenant, body)?;
    let change = Change::new(&state, &ctx, client);
    let target = format!("user:{target_user}");

    // One change at a time, so two concurrent demotions cannot remove the last owner.
    let _serial = state.role_changes.lock().await;
    let current = state.rbac.roles_of(tenant, target_user);
    if let Err(problem) = guard_assignment(&state, tenant, actor, target_user, &current, &wanted) {
        return Err(change.deny("role.assigned", target, problem).await);
    }

    let details = json!({ "before": current, "after": wanted });
    change.record("role.assigned", target, details).await?;
    state
        .rbac
        .set_roles(tenant, target_user, &wanted)
        .await
        .map_err(ApiError::internal)?;
    change.announce().await;
    Ok(Json(json!({
        "success": true,
        "user_id": target_user,
        "roles": wanted,
    })))
}

/// A user of `tenant` by path id; anything else, including another tenant's user, is 404.
async fn find_user(state: &AppState, tenant: TenantId, id: &str) -> ApiResult<UserId> {
    let user: UserId = id.parse().map_err(|_| Problem::not_found())?;
    let mut tx = state.db.tenant(tenant).await?;
    let found = store::user(&mut tx, tenant, user).await?;
    tx.commit().await?;
    // The WeChat service user holds no roles and is given none.
    found
        .filter(|row| row.status != crate::wechat::store::SERVICE_STATUS)
        .map(|_| user)
        .ok_or_else(|| Problem::not_found().into())
}

/// The `roles` field: names of roles that exist in `tenant`, deduplicated and sorted.
fn read_roles(
    state: &AppState,
    tenant: TenantId,
    body: JsonObject,
) -> Result<Vec<String>, Problem> {
    let mut fields = Fields::new(body);
    let mut roles = fields.required_strings("roles").unwrap_or_default();
    roles.sort();
    roles.dedup();
    for role in &roles {
        if state.rbac.role(tenant, role).is_none() {
            fields.reject("roles", format!("unknown role: {role}"));
        }
    }
    fields.finish()?;
    Ok(roles)
}

/// The escalation rules for changing `target`'s roles from `current` to `wanted`.
fn guard_assignment(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    target: UserId,
    current: &[String],
    wanted: &[String],
) -> Result<(), Problem> {
    if actor == target {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "cannot_change_own_roles",
            "You cannot change your own roles.",
        ));
    }

    let changed: Vec<&String> = current
        .iter()
        .filter(|r| !wanted.contains(r))
        .chain(wanted.iter().filter(|r| !current.contains(r)))
        .collect();
    let actor_roles = state.rbac.roles_of(tenant, actor);
    if changed.iter().any(|r| *r == OWNER) && !actor_roles.iter().any(|r| r == OWNER) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            "Only an owner can make or unmake an owner.",
        ));
    }

    let held = state.rbac.permissions(tenant, actor);
    let within_reach = changed.iter().all(|role| {
        state
            .rbac
            .role(tenant, role)
            .unwrap_or_default()
            .is_subset(held)
    });
    if !within_reach {
        return Err(escalation());
    }

    let demoting_owner = current.iter().any(|r| r == OWNER) && !wanted.iter().any(|r| r == OWNER);
    if demoting_owner && state.rbac.holders(tenant, OWNER) == [target] {
        return Err(Problem::conflict(
            "last_owner",
            "The last owner of a tenant cannot be removed or demoted.",
        ));
    }
    Ok(())
}
