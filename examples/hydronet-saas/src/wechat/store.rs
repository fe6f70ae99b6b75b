//! The channel's own rows: the tenant's WeChat service user, each WeChat user's
//! conversation, and the deliveries already claimed.
//!
//! # The service user
//!
//! WeChat users are not HydroNet users, yet conversations belong to a user. Each tenant
//! gets one user for the channel, made on its first message: email
//! `wechat@<tenant id>.invalid` (a domain no address can have: sign-up refuses `.invalid`),
//! status `service`, no password and no roles. Sign-in needs status `active` and a
//! password, so it can never sign in; it is not counted against the plan's users and the
//! user endpoints neither list it nor act on it.

use hydronet_core::{Plan, TenantId, UserId};

use crate::chat_store;
use crate::counts::{self, Resource};
use crate::error::ApiError;
use crate::state::AppState;

/// The status of service users.
pub const SERVICE_STATUS: &str = "service";

/// How long a claimed delivery is remembered: longer than the window in which its
/// timestamp is accepted, so a retry is always recognised.
pub const DELIVERY_MEMORY_SECS: i64 = 900;

/// The tenant's WeChat service user, made on first use.
pub async fn service_user(state: &AppState, tenant: TenantId) -> Result<UserId, ApiError> {
    let email = format!("wechat@{tenant}.invalid");
    if let Some(id) = find_service_user(state, tenant, &email).await? {
        return Ok(id);
    }

    // A transaction of its own that starts by writing: on SQLite one that read first
    // could not then write while another writer went ahead. Two first messages at once:
    // one insert wins, the other does nothing.
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(UserId::new().to_string())
    .bind(tenant.to_string())
    .bind(&email)
    .bind(SERVICE_STATUS)
    .bind(state.now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    find_service_user(state, tenant, &email)
        .await?
        .ok_or_else(|| ApiError::internal("the WeChat service user's email is taken"))
}

async fn find_service_user(
    state: &AppState,
    tenant: TenantId,
    email: &str,
) -> Result<Option<UserId>, ApiError> {
    let mut tx = state.db.tenant(tenant).await?;
    let found: Option<(String,)> =
        sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND email = $2 AND status = $3")
            .bind(tenant.to_string())
            .bind(email)
            .bind(SERVICE_STATUS)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    found
        .map(|(id,)| id.parse().map_err(ApiError::internal))
        .transpose()
}

/// The conversation of the WeChat user `openid`, made on their first message (taking one
/// of the plan's conversation slots) and owned by the service user `owner`.
pub async fn conversation_for(
    state: &AppState,
    tenant: TenantId,
    plan: Plan,
    owner: UserId,
    openid: &str,
) -> Result<String, ApiError> {
    if let Some(id) = mapped(state, tenant, openid).await? {
        return Ok(id);
    }

    let mut tx = state.db.tenant(tenant).await?;
    let limit = Resource::Conversations.limit(&state.limits.effective(tenant, plan));
    counts::take_slot(&mut tx, tenant, Resource::Conversations, limit).await?;
    let title = format!("WeChat {}", openid.chars().take(12).collect::<String>());
    let row = chat_store::insert_conversation(&mut tx, tenant, owner, &title, state.now()).await?;
    let mapped_now = sqlx::query(
        "INSERT INTO wechat_conversations (tenant_id, openid, conversation_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, openid) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(openid)
    .bind(&row.id)
    .bind(state.now())
    .execute(&mut *tx)
    .await?;
    if mapped_now.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(row.id);
    }

    // Another message of the same user made it first: keep theirs, give the slot back.
    tx.rollback().await?;
    mapped(state, tenant, openid)
        .await?
        .ok_or_else(|| ApiError::internal("a WeChat conversation vanished"))
}

async fn mapped(
    state: &AppState,
    tenant: TenantId,
    openid: &str,
) -> Result<Option<String>, ApiError> {
    let mut tx = state.db.tenant(tenant).await?;
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT conversation_id FROM wechat_conversations WHERE tenant_id = $1 AND openid = $2",
    )
    .bind(tenant.to_string())
    .bind(openid)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found.map(|(id,)| id))
}

/// Claims the delivery `key` for `tenant`: true the first time, false for every retry of
/// it. The unique key decides, so concurrent retries make exactly one claim. Deliveries
/// older than [`DELIVERY_MEMORY_SECS`] are forgotten on the way.
pub async fn claim_delivery(
    state: &AppState,
    tenant: TenantId,
    key: &str,
) -> Result<bool, ApiError> {
    let now = state.now();
    let mut tx = state.db.tenant(tenant).await?;
    sqlx::query("DELETE FROM wechat_deliveries WHERE tenant_id = $1 AND received_at < $2")
        .bind(tenant.to_string())
        .bind(now - DELIVERY_MEMORY_SECS)
        .execute(&mut *tx)
        .await?;
    let claimed = sqlx::query(
        "INSERT INTO wechat_deliveries (tenant_id, delivery_key, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, delivery_key) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(key)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed.rows_affected() == 1)
}
