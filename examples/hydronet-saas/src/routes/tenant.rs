//! `/api/tenant/*`: the caller's own tenant.

use axum::Json;
use axum::extract::State;
use http::Method;
use hydronet_core::{FieldErrors, Plan, Problem, TenantContext};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::chat::DEFAULT_SYSTEM_PROMPT;
use super::{Access, Client, Endpoint, endpoint};
use crate::body::JsonObject;
use crate::domain::TenantName;
use crate::error::ApiResult;
use crate::models;
use crate::state::AppState;
use crate::store;

/// The tenant's own endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{TenantManage, TenantRead};
    vec![
        endpoint(
            Method::GET,
            "/api/tenant/info",
            Access::Requires(TenantRead),
            info,
        ),
        endpoint(
            Method::GET,
            "/api/tenant/settings",
            Access::Requires(TenantRead),
            settings,
        ),
        endpoint(
            Method::PUT,
            "/api/tenant/settings",
            Access::Requires(TenantManage),
            update_settings,
        ),
    ]
}

/// The longest system prompt a tenant may set.
const MAX_PROMPT_CHARS: usize = 8_000;

fn settings_json(state: &AppState, plan: Plan, tenant: &store::TenantRow) -> Value {
    let default_model =
        models::choose(&state.settings, plan, tenant.default_model.as_deref(), None)
            .unwrap_or_default();
    json!({
        "name": tenant.name,
        "system_prompt": tenant.system_prompt.as_deref().unwrap_or(DEFAULT_SYSTEM_PROMPT),
        "system_prompt_is_default": tenant.system_prompt.is_none(),
        "default_model": default_model,
        "default_model_is_plan_default": tenant.default_model.as_deref() != Some(default_model.as_str()),
        "models": models::allowed(&state.settings, plan),
    })
}

/// `GET /api/tenant/settings`: the tenant's name and chat system prompt.
async fn settings(State(state): State<AppState>, ctx: TenantContext) -> ApiResult<Json<Value>> {
    let tenant_id = ctx.tenant_id();
    let mut tx = state.db.tenant_reader(tenant_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(
        json!({ "success": true, "settings": settings_json(&state, ctx.plan(), &tenant) }),
    ))
}

/// `PUT /api/tenant/settings` `{name?, system_prompt?, default_model?}`: `default_model`
/// must be one of the plan's models (`null` returns to the plan's default); `system_prompt: null` returns to
/// the built-in prompt. A configuration change, audited with the change.
async fn update_settings(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant_id = ctx.tenant_id();
    let mut errors = FieldErrors::new();
    let name = match body.get("name") {
        None => None,
        Some(Value::String(raw)) => match TenantName::parse(raw) {
            Ok(name) => Some(name),
            Err(reason) => {
                errors.insert("name".into(), vec![reason.to_string()]);
                None
            }
        },
        Some(_) => {
            errors.insert("name".into(), vec!["must be a string".into()]);
            None
        }
    };
    let prompt = match body.get("system_prompt") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) if text.trim().is_empty() => Some(None),
        Some(Value::String(text)) if text.chars().count() > MAX_PROMPT_CHARS => {
            errors.insert(
                "system_prompt".into(),
                vec!["must be at most 8000 characters".into()],
            );
            None
        }
        Some(Value::String(text)) => Some(Some(text.trim().to_owned())),
        Some(_) => {
            errors.insert(
                "system_prompt".into(),
                vec!["must be a string or null".into()],
            );
            None
        }
    };
    let allowed = models::allowed(&state.settings, ctx.plan());
    let model = match body.get("default_model") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(model)) if allowed.contains(model) => Some(Some(model.clone())),
        Some(Value::String(_)) => {
            let reason = format!("must be one of your plan's models: {}", allowed.join(", "));
            errors.insert("default_model".into(), vec![reason]);
            None
        }
        Some(_) => {
            errors.insert(
                "default_model".into(),
                vec!["must be a string or null".into()],
            );
            None
        }
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }

    let now = state.now();
    let mut tx = state.db.tenant(tenant_id).await?;
    if let Some(name) = &name {
        sqlx::query("UPDATE tenants SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name.as_str())
            .bind(now)
            .bind(tenant_id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    if let Some(prompt) = &prompt {
        sqlx::query("UPDATE tenants SET system_prompt = $1, updated_at = $2 WHERE id = $3")
            .bind(prompt.as_deref())
            .bind(now)
            .bind(tenant_id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    if let Some(model) = &model {
        sqlx::query("UPDATE tenants SET default_model = $1, updated_at = $2 WHERE id = $3")
            .bind(model.as_deref())
            .bind(now)
            .bind(tenant_id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let details = json!({
        "name": name.as_ref().map(TenantName::as_str),
        "system_prompt_changed": prompt.is_some(),
        "default_model": model,
    });
    let event = client
        .caller_event(&state, &ctx, "tenant.settings_changed")
        .target(format!("tenant:{tenant_id}"))
        .details(details);
    state.audit_in(&mut tx, event).await?;
    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(
        json!({ "success": true, "settings": settings_json(&state, ctx.plan(), &tenant) }),
    ))
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
    let limits = state.limits.effective(tenant_id, tenant.plan());
    body["limits"] = serde_json::to_value(limits).unwrap_or_default();
    body["usage"] = json!({ "users": users });
    Ok(Json(json!({ "success": true, "tenant": body })))
}
