//! Queries of the identity tables. Every function takes the transaction to run in; the
//! caller chooses its scope ([`Db::tenant`](crate::db::Db::tenant) or
//! [`Db::system`](crate::db::Db::system)), and every tenant-owned query also filters by
//! `tenant_id` itself.

use hydronet_core::{Plan, SessionId, TenantId, UserId};
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::db::Tx;

/// A tenant as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TenantRow {
    /// Id (UUID text).
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL-safe unique slug.
    pub slug: String,
    /// Plan name.
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The tenant's own chat system prompt, if it set one.
    pub system_prompt: Option<String>,
    /// The chat model the tenant chose, if it chose one.
    pub default_model: Option<String>,
}

impl TenantRow {
    /// The tenant's plan; an unknown stored value falls back to `free`.
    pub fn plan(&self) -> Plan {
        self.plan.parse().unwrap_or_default()
    }

    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "plan": self.plan,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
        })
    }
}

/// A user as stored.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    /// Id (UUID text).
    pub id: String,
    /// The user's tenant.
    pub tenant_id: String,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string, absent until a password is set.
    pub password_hash: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_login_at: Option<i64>,
}

impl UserRow {
    /// The JSON the API returns (never the hash).
    pub fn to_json(&self, roles: &[String]) -> Value {
        json!({
            "id": self.id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "roles": roles,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
            "last_login_at": self.last_login_at.map(rfc3339),
        })
    }

    /// The typed id.
    pub fn user_id(&self) -> UserId {
        self.id.parse().expect("user ids are stored as UUIDs")
    }

    /// The typed tenant id.
    pub fn tenant(&self) -> TenantId {
        self.tenant_id
            .parse()
            .expect("tenant ids are stored as UUIDs")
    }
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

const TENANT_COLUMNS: &str =
    "id, name, slug, plan, status, created_at, system_prompt, default_model";
const USER_COLUMNS: &str = "id, tenant_id, email, password_hash, status, created_at, last_login_at";

/// Whether a slug is taken (needs the system scope to see other tenants).
pub async fn slug_taken(tx: &mut Tx, slug: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// The tenant whose slug, or else id, is `reference` (needs the system scope).
pub async fn tenant_by_reference(
    tx: &mut Tx,
    reference: &str,
) -> Result<Option<TenantRow>, sqlx::Error> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1 OR id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_optional(&mut **tx)
        .await
}

/// Inserts a tenant.
pub async fn insert_tenant(
    tx: &mut Tx,
    id: TenantId,
    name: &str,
    slug: &str,
    plan: Plan,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenants (id, name, slug, plan, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $5)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(slug)
    .bind(plan.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One tenant.
pub async fn tenant(tx: &mut Tx, id: TenantId) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await
}

/// Inserts a user. Roles are kept by [`Rbac`](hydronet_tenancy::rbac::Rbac).
pub async fn insert_user(
    tx: &mut Tx,
    tenant: TenantId,
    id: UserId,
    email: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, password_hash, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $5)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A user by normalised email, in any tenant (system scope).
pub async fn user_by_email(tx: &mut Tx, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(&mut **tx)
    .await
}

/// A user of `tenant`.
pub async fn user(
    tx: &mut Tx,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await
}

/// How many users `tenant` has.
pub async fn count_users(tx: &mut Tx, tenant: TenantId) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND status <> 'service'")
            .bind(tenant.to_string())
            .fetch_one(&mut **tx)
            .await?;
    Ok(count)
}

/// Replaces a user's password hash.
pub async fn set_password_hash(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(hash)
    .bind(now)
    .bind(tenant.to_string())
    .bind(user.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a successful login.
pub async fn touch_login(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(now)
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where a new session comes from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's `User-Agent`, shortened.
    pub user_agent: Option<String>,
    /// The client's address.
    pub address: Option<String>,
}

/// Opens a login session.
pub async fn insert_session(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    id: SessionId,
    expires_at: i64,
    client: &ClientInfo,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, created_at, expires_at, user_agent, client_addr) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(now)
    .bind(expires_at)
    .bind(client.user_agent.as_deref())
    .bind(client.address.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores the digest of a refresh token of `session`.
pub async fn insert_refresh_token(
    tx: &mut Tx,
    tenant: TenantId,
    session: SessionId,
    digest: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, session_id, token_digest, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(tenant.to_string())
    .bind(session.to_string())
    .bind(digest)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A refresh token with the state of its session.
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    /// The token row's id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The session (token family).
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// When this token stops working.
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When the session ends.
    pub session_expires_at: i64,
}

/// Finds a refresh token by digest, in any tenant (system scope).
pub async fn refresh_token(tx: &mut Tx, digest: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.tenant_id, r.session_id, s.user_id, r.expires_at, r.used_at, \
                s.revoked_at, s.expires_at AS session_expires_at \
         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id AND s.tenant_id = r.tenant_id \
         WHERE r.token_digest = $1",
    )
    .bind(digest)
    .fetch_optional(&mut **tx)
    .await
}

/// Marks a refresh token used; false if it already was (a concurrent exchange won).
pub async fn spend_refresh_token(tx: &mut Tx, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes one session; returns whether it was still active.
pub async fn revoke_session(
    tx: &mut Tx,
    tenant: TenantId,
    session: SessionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(tenant.to_string())
    .bind(session.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes every active session of a user; returns their ids.
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING id",
    )
    .bind(now)
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id,)| id.parse().ok())
        .collect())
}

/// Sessions revoked since `since` (system scope), for reloading the revocation list.
pub async fn revoked_sessions_since(
    tx: &mut Tx,
    since: i64,
) -> Result<Vec<(SessionId, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| Some((id.parse().ok()?, at)))
        .collect())
}
